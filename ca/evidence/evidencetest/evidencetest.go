// Package evidencetest mints identity-evidence tokens for tests: valid ones
// and deliberately bad ones (forged, expired, replayed, wrong nonce, wrong
// audience, wrong kind, missing fields). It is for tests only; its keys are
// generated per Minter and it panics on internal failures, which cannot
// happen with the keys it creates.
package evidencetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"

	"github.com/signet-ca/signet/ca/evidence"
)

// Provider ids of a Minter.
const (
	PhoneProviderID   = "test-phone"
	AccountProviderID = "test-account"
)

// TokenTTL is the exp - iat of minted tokens.
const TokenTTL = 10 * time.Minute

// Minter signs evidence tokens as two trusted test providers.
type Minter struct {
	Phone, Account *ecdsa.PrivateKey
	Audience       string
	Now            func() time.Time // nil means time.Now
}

// NewMinter returns a Minter with fresh P-256 provider keys.
func NewMinter(audience string, now func() time.Time) *Minter {
	return &Minter{Phone: newKey(), Account: newKey(), Audience: audience, Now: now}
}

func newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// Providers returns the providers to trust: "test-phone" and "test-account".
func (m *Minter) Providers() []evidence.Provider {
	return []evidence.Provider{
		{ID: PhoneProviderID, Kind: evidence.KindPhone, Key: &m.Phone.PublicKey},
		{ID: AccountProviderID, Kind: evidence.KindAccount, Key: &m.Account.PublicKey},
	}
}

// Person is the subject of minted evidence.
type Person struct {
	Name, Birth, Phone, Carrier, Bank, Account string
}

// DefaultPerson is 홍길동, born 1990-01-01, with an SKT phone and a KB account.
func DefaultPerson() Person {
	return Person{Name: "홍길동", Birth: "19900101", Phone: "01012345678", Carrier: "SKT", Bank: "004", Account: "12345678901234"}
}

// CI returns the person's test CI: 88-char base64 of an HMAC-SHA512 over name
// and birth, so the same Person always gets the same CI.
func (p Person) CI() string { return derive("evidencetest-ci", p) }

// IDN returns a test resident number that agrees with the birth date
// (YYMMDD, then 1 for the 1900s or 3 for the 2000s), as issuance checks.
func (p Person) IDN() string {
	century := "1"
	if strings.HasPrefix(p.Birth, "20") {
		century = "3"
	}
	return p.Birth[2:] + century + "234567"
}

// RandomNum is a test R: fixed for a birth date (as IDN is), so that tests
// renew with the R they issued with without tracking the person.
func (p Person) RandomNum() []byte {
	return []byte(derive("evidencetest-r", Person{Birth: p.Birth}))[:20]
}

// DI returns the person's test DI.
func (p Person) DI() string { return derive("evidencetest-di", p) }

func derive(label string, p Person) string {
	m := hmac.New(sha512.New, []byte(label))
	m.Write([]byte(evidence.NormalizeName(p.Name) + "|" + p.Birth))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Opt alters the claims of a token before it is signed.
type Opt func(claims map[string]any)

// WithClaim sets claim name to value (any JSON-encodable value).
func WithClaim(name string, value any) Opt {
	return func(c map[string]any) { c[name] = value }
}

// WithoutClaim removes claim name.
func WithoutClaim(name string) Opt {
	return func(c map[string]any) { delete(c, name) }
}

// IssuedAt dates the token at t: iat = t and exp = t + TokenTTL.
func IssuedAt(t time.Time) Opt {
	return func(c map[string]any) {
		c["iat"] = t.Unix()
		c["exp"] = t.Add(TokenTTL).Unix()
	}
}

// ExpiresAt sets exp alone.
func ExpiresAt(t time.Time) Opt {
	return func(c map[string]any) { c["exp"] = t.Unix() }
}

func (m *Minter) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func (m *Minter) common(kind evidence.Kind, iss, nonce string) map[string]any {
	now := m.now()
	return map[string]any{
		"iss":   iss,
		"aud":   m.Audience,
		"iat":   now.Unix(),
		"exp":   now.Add(TokenTTL).Unix(),
		"jti":   RandomID(),
		"nonce": nonce,
		"kind":  string(kind),
	}
}

// PhoneClaims returns the claims of a valid phone token for p, altered by opts.
func (m *Minter) PhoneClaims(nonce string, p Person, opts ...Opt) map[string]any {
	c := m.common(evidence.KindPhone, PhoneProviderID, nonce)
	c["ci"] = p.CI()
	c["di"] = p.DI()
	c["name"] = p.Name
	c["birth"] = p.Birth
	c["gender"] = "M"
	c["nationality"] = "domestic"
	c["phone"] = p.Phone
	c["carrier"] = p.Carrier
	return apply(c, opts)
}

// AccountClaims returns the claims of a valid account token for p (including
// the optional ci), altered by opts.
func (m *Minter) AccountClaims(nonce string, p Person, opts ...Opt) map[string]any {
	c := m.common(evidence.KindAccount, AccountProviderID, nonce)
	c["bank"] = p.Bank
	c["account"] = p.Account
	c["holder_name"] = p.Name
	c["holder_birth"] = p.Birth
	c["ci"] = p.CI()
	return apply(c, opts)
}

func apply(c map[string]any, opts []Opt) map[string]any {
	for _, o := range opts {
		o(c)
	}
	return c
}

// PhoneToken returns a phone token signed by the trusted phone provider key.
func (m *Minter) PhoneToken(nonce string, p Person, opts ...Opt) string {
	return m.SignWith(m.Phone, m.PhoneClaims(nonce, p, opts...))
}

// AccountToken returns an account token signed by the trusted account
// provider key.
func (m *Minter) AccountToken(nonce string, p Person, opts ...Opt) string {
	return m.SignWith(m.Account, m.AccountClaims(nonce, p, opts...))
}

// SignWith signs claims with any key, e.g. an attacker's key for a forged
// token that names a trusted provider in "iss", or the account provider's key
// for a token claiming kind phone. The alg follows the key: P-256 ES256,
// P-384 ES384, RSA RS256, Ed25519 EdDSA.
func (m *Minter) SignWith(key crypto.Signer, claims map[string]any) string {
	return SignAlg(key, algFor(key), claims)
}

// SignAlg signs claims with key using alg, for tests of disallowed or
// mismatched algorithms (e.g. RS384 or PS256).
func SignAlg(key crypto.Signer, alg jose.SignatureAlgorithm, claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: cryptosigner.Opaque(key)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		panic(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

func algFor(key crypto.Signer) jose.SignatureAlgorithm {
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P384() {
			return jose.ES384
		}
		return jose.ES256
	case *rsa.PublicKey:
		return jose.RS256
	case ed25519.PublicKey:
		return jose.EdDSA
	}
	panic(fmt.Sprintf("evidencetest: unsupported key %T", key.Public()))
}

// RandomID returns 16 random bytes in hex, as used for jti.
func RandomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
