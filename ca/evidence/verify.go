// Package evidence verifies identity evidence: the signed results of a phone
// check (휴대폰 본인인증) and a bank-account check (계좌인증) that Signet needs
// before it issues or reissues a certificate (DESIGN.md, "Identity evidence"
// and "Life cycle rules").
//
// Each result is a compact JWS signed by a provider key configured as trusted
// for that kind of check. Verifier checks signature, audience, freshness,
// nonce and fields of each token, then that both describe the same person.
// Single use of each jti is NOT checked here: it is enforced in PostgreSQL
// (DESIGN.md, invariant 4), so Identity.JTIs carries the ids to record.
package evidence

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Kind is the kind of identity check a token reports.
type Kind string

// Kinds of evidence.
const (
	KindPhone   Kind = "phone"
	KindAccount Kind = "account"
)

func (k Kind) valid() bool { return k == KindPhone || k == KindAccount }

// Provider is one trusted signer of one kind of evidence, from configuration.
// ID is the JWS "iss" the provider puts in its tokens.
type Provider struct {
	ID   string
	Kind Kind
	Key  crypto.PublicKey
}

// Freshness limits (DESIGN.md: "issued within the last 10 minutes, not
// expired").
const (
	// MaxAge is how old a token may be, measured from its iat.
	MaxAge = 10 * time.Minute
	// ClockSkew is how far in the future iat (or nbf) may be, to tolerate
	// provider clocks running slightly ahead.
	ClockSkew = time.Minute
)

// maxTokenLen bounds the input before any parsing; real tokens are < 4 KiB.
const maxTokenLen = 64 << 10

// allowedAlgs are the JWS algorithms providers may use. No HMAC and no
// "none": a provider must prove the result with its own private key.
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256, jose.EdDSA}

// Phone is a verified phone-check result.
type Phone struct {
	Provider, JTI string
	IssuedAt      time.Time
	CI, DI        string
	Name, Birth   string
	Gender        string // "M" or "F"
	Nationality   string // "domestic" or "foreign"
	Number        string // mobile number, digits only
	Carrier       string
}

// Account is a verified account-check result.
type Account struct {
	Provider, JTI           string
	IssuedAt                time.Time
	Bank, Number            string
	HolderName, HolderBirth string
	CI                      string // optional; "" when the provider does not report it
}

// Identity is what Signet keeps from a verified phone + account pair. It is
// still personal data: callers store CI only as SubjectRef and numbers only
// masked (DESIGN.md, invariant 7).
type Identity struct {
	CI, Name, Birth string
	Phone, Carrier  string
	Bank, Account   string
	// JTIs are the phone and account token ids, each as "<iss>/<jti>", for
	// the single-use check in PostgreSQL (DESIGN.md, invariant 4). The
	// issuer prefix keeps two providers' ids from colliding.
	JTIs []string
}

// Verifier checks evidence tokens against the configured providers. It is
// safe for concurrent use.
type Verifier struct {
	audience string
	keys     map[Kind]map[string]crypto.PublicKey
	now      func() time.Time
}

// NewVerifier returns a Verifier for tokens addressed to audience (this
// Signet's identifier), signed by providers. now is the clock (nil means
// time.Now); tests inject one to move time.
func NewVerifier(audience string, providers []Provider, now func() time.Time) (*Verifier, error) {
	if audience == "" {
		return nil, errors.New("evidence: audience is empty: configure this Signet's identifier")
	}
	if now == nil {
		now = time.Now
	}
	v := &Verifier{
		audience: audience,
		keys:     map[Kind]map[string]crypto.PublicKey{KindPhone: {}, KindAccount: {}},
		now:      now,
	}
	for i, p := range providers {
		if p.ID == "" {
			return nil, fmt.Errorf("evidence: provider #%d has no id", i+1)
		}
		if !p.Kind.valid() {
			return nil, fmt.Errorf("evidence: provider %q has unknown kind %q (want %q or %q)", p.ID, p.Kind, KindPhone, KindAccount)
		}
		if err := checkKey(p.Key); err != nil {
			return nil, fmt.Errorf("evidence: provider %q: %w", p.ID, err)
		}
		// An id must name one key per kind, or "iss" would be ambiguous.
		if _, dup := v.keys[p.Kind][p.ID]; dup {
			return nil, fmt.Errorf("evidence: provider %q is configured twice for %s checks", p.ID, p.Kind)
		}
		v.keys[p.Kind][p.ID] = p.Key
	}
	return v, nil
}

// checkKey accepts only public keys usable with allowedAlgs.
func checkKey(k crypto.PublicKey) error {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if k == nil {
			break
		}
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return errors.New("ECDSA key must use P-256 or P-384")
		}
		return nil
	case *rsa.PublicKey:
		if k == nil {
			break
		}
		if k.N.BitLen() < 2048 {
			return errors.New("RSA key must have at least 2048 bits")
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("Ed25519 key has the wrong size")
		}
		return nil
	case nil:
	default:
		return fmt.Errorf("key type %T is not supported: use an ECDSA, RSA or Ed25519 public key", k)
	}
	return errors.New("key is missing")
}

// tokenClaims is the union of phone and account claims.
type tokenClaims struct {
	Issuer    string           `json:"iss"`
	Audience  jwt.Audience     `json:"aud"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	JTI       string           `json:"jti"`
	Nonce     string           `json:"nonce"`
	Kind      Kind             `json:"kind"`

	CI          string `json:"ci"`
	DI          string `json:"di"`
	Name        string `json:"name"`
	Birth       string `json:"birth"`
	Gender      string `json:"gender"`
	Nationality string `json:"nationality"`
	Phone       string `json:"phone"`
	Carrier     string `json:"carrier"`

	Bank        string `json:"bank"`
	Account     string `json:"account"`
	HolderName  string `json:"holder_name"`
	HolderBirth string `json:"holder_birth"`
}

// Verify checks a phone token and an account token issued for the enrollment
// identified by nonce, and that they describe the same person. Every failure
// is an *Error. The caller must still record Identity.JTIs as used.
func (v *Verifier) Verify(phoneToken, accountToken, nonce string) (*Identity, error) {
	p, err := v.VerifyPhone(phoneToken, nonce)
	if err != nil {
		return nil, err
	}
	a, err := v.VerifyAccount(accountToken, nonce)
	if err != nil {
		return nil, err
	}
	return match(p, a)
}

// VerifyPhone checks a single phone token. Issue and reissue need both kinds:
// use Verify for them.
func (v *Verifier) VerifyPhone(token, nonce string) (*Phone, error) {
	c, err := v.verifyToken(KindPhone, token, nonce)
	if err != nil {
		return nil, err
	}
	return &Phone{
		Provider: c.Issuer, JTI: c.JTI, IssuedAt: c.IssuedAt.Time(),
		CI: c.CI, DI: c.DI, Name: NormalizeName(c.Name), Birth: c.Birth,
		Gender: c.Gender, Nationality: c.Nationality, Number: c.Phone, Carrier: c.Carrier,
	}, nil
}

// VerifyAccount checks a single account token.
func (v *Verifier) VerifyAccount(token, nonce string) (*Account, error) {
	c, err := v.verifyToken(KindAccount, token, nonce)
	if err != nil {
		return nil, err
	}
	return &Account{
		Provider: c.Issuer, JTI: c.JTI, IssuedAt: c.IssuedAt.Time(),
		Bank: c.Bank, Number: c.Account,
		HolderName: NormalizeName(c.HolderName), HolderBirth: c.HolderBirth, CI: c.CI,
	}, nil
}

// verifyToken checks one token for the given slot. Only the signature check
// relies on unverified data (iss and kind pick the key); every other decision
// is made on the verified payload.
func (v *Verifier) verifyToken(slot Kind, token, nonce string) (*tokenClaims, error) {
	what := string(slot) + " evidence"
	again := "run the " + string(slot) + " check again"
	if token == "" {
		return nil, fail(ReasonMalformed, what+" is missing: run the "+string(slot)+" check first")
	}
	if nonce == "" {
		// An empty nonce would match tokens without one; the enrollment
		// nonce is what ties evidence to this request.
		return nil, fail(ReasonNonce, "no enrollment nonce given: start the enrollment again to get one")
	}
	if len(token) > maxTokenLen {
		return nil, fail(ReasonMalformed, what+" is too large to be a provider result: "+again)
	}
	jws, err := jose.ParseSignedCompact(token, allowedAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		// A well-formed token with an algorithm no provider may use ("none",
		// HMAC) is a forgery attempt, not a garbled result: untrusted.
		if alg := headerAlg(token); alg != "" && !slices.Contains(allowedAlgs, jose.SignatureAlgorithm(alg)) {
			return nil, fail(ReasonUntrusted, fmt.Sprintf("%s is signed with %s, which no identity provider may use (ES256, ES384, RS256, PS256 or EdDSA only): it may be forged; %s", what, algName(alg), again))
		}
		return nil, fail(ReasonMalformed, what+" is not a compact JWS signed with ES256, ES384, RS256, PS256 or EdDSA: pass the provider's result unchanged")
	}

	// The key is chosen by the claimed kind and issuer; a token signed by the
	// account provider but claiming kind phone finds no key or the wrong one.
	var unverified tokenClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified); err != nil {
		return nil, fail(ReasonMalformed, what+" does not carry valid JSON claims: pass the provider's result unchanged")
	}
	if !unverified.Kind.valid() {
		return nil, fail(ReasonMalformed, what+` has no valid "kind" claim (want "phone" or "account"): pass the provider's result unchanged`)
	}
	key, ok := v.keys[unverified.Kind][unverified.Issuer]
	if !ok {
		return nil, fail(ReasonUntrusted, fmt.Sprintf("%s comes from an issuer that is not trusted for %s checks: use a configured provider", what, unverified.Kind))
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, fail(ReasonUntrusted, fmt.Sprintf("%s signature does not verify with the key of provider %q: it may be forged; %s", what, unverified.Issuer, again))
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fail(ReasonMalformed, what+" does not carry valid JSON claims: pass the provider's result unchanged")
	}

	if c.Kind != slot {
		return nil, fail(ReasonKind, fmt.Sprintf("the token passed as %s is %s evidence: pass the phone check result as phone evidence and the account check result as account evidence", what, c.Kind))
	}
	if !slices.Contains(c.Audience, v.audience) {
		return nil, fail(ReasonAudience, fmt.Sprintf("%s is addressed to another service, not %q: run the %s check from this Signet", what, v.audience, slot))
	}
	if err := v.checkTimes(&c, what, again); err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return nil, fail(ReasonNonce, what+" was made for another enrollment (nonce differs): "+again+" with this enrollment's nonce")
	}
	// The jti is stored as text: a control character (a NUL, which
	// PostgreSQL refuses in text) is malformed, not a database fault.
	if c.JTI == "" || len(c.JTI) > 256 || strings.IndexFunc(c.JTI, unicode.IsControl) >= 0 {
		return nil, fail(ReasonMalformed, what+` needs a "jti" of 1 to 256 printable characters: ask the provider for a new result`)
	}
	if err := checkFields(slot, &c); err != nil {
		return nil, fail(ReasonMalformed, what+": "+err.Error())
	}
	return &c, nil
}

// checkTimes enforces DESIGN.md freshness: issued within MaxAge, not in the
// future beyond ClockSkew, exp present and not passed.
func (v *Verifier) checkTimes(c *tokenClaims, what, again string) error {
	if c.IssuedAt == nil || c.Expiry == nil {
		return fail(ReasonMalformed, what+` needs both "iat" and "exp": ask the provider for a new result`)
	}
	now := v.now()
	iat, exp := c.IssuedAt.Time(), c.Expiry.Time()
	if iat.After(now.Add(ClockSkew)) {
		return fail(ReasonNotYetValid, what+" is dated in the future: check the provider's and Signet's clocks, then "+again)
	}
	if c.NotBefore != nil && c.NotBefore.Time().After(now.Add(ClockSkew)) {
		return fail(ReasonNotYetValid, what+" is not valid yet (nbf is in the future): wait a moment or "+again)
	}
	if now.Sub(iat) > MaxAge {
		return fail(ReasonExpired, what+" is older than 10 minutes: "+again)
	}
	// RFC 7519: exp is the time on or after which the token is not accepted.
	if !now.Before(exp) {
		return fail(ReasonExpired, what+" has expired: "+again)
	}
	return nil
}

// checkFields checks that the fields of the token's kind are present and
// well-formed. Every listed field is required except the account CI.
func checkFields(kind Kind, c *tokenClaims) error {
	var checks []func() error
	switch kind {
	case KindPhone:
		// The phone check is the source of the CI that identifies the
		// subject (subject_ref), so it must be there.
		checks = []func() error{
			func() error { return ValidCI(c.CI) },
			func() error {
				if c.DI == "" || len(c.DI) > 256 {
					return errors.New("DI is missing or too long")
				}
				return nil
			},
			func() error { return ValidName(c.Name) },
			func() error { return ValidBirth(c.Birth) },
			func() error {
				if c.Gender != "M" && c.Gender != "F" {
					return errors.New(`gender must be "M" or "F"`)
				}
				return nil
			},
			func() error {
				if c.Nationality != "domestic" && c.Nationality != "foreign" {
					return errors.New(`nationality must be "domestic" or "foreign"`)
				}
				return nil
			},
			func() error { return ValidPhone(c.Phone) },
			func() error { return ValidCarrier(c.Carrier) },
		}
	case KindAccount:
		checks = []func() error{
			func() error { return ValidBank(c.Bank) },
			func() error { return ValidAccount(c.Account) },
			func() error { return prefix("holder ", ValidName(c.HolderName)) },
			func() error { return prefix("holder ", ValidBirth(c.HolderBirth)) },
			func() error {
				if c.CI == "" {
					return nil
				}
				return ValidCI(c.CI)
			},
		}
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func prefix(p string, err error) error {
	if err == nil {
		return nil
	}
	return errors.New(p + err.Error())
}

// match applies DESIGN.md: phone and account results must describe the same
// person (same name and birth date, and CI where both carry it).
func match(p *Phone, a *Account) (*Identity, error) {
	if p.Name != a.HolderName || p.Birth != a.HolderBirth {
		return nil, fail(ReasonMismatch, "phone and account evidence describe different people (name or birth date differ): use an account held by the person who did the phone check")
	}
	if a.CI != "" && subtle.ConstantTimeCompare([]byte(a.CI), []byte(p.CI)) != 1 {
		return nil, fail(ReasonMismatch, "phone and account evidence describe different people (CI differs): use an account held by the person who did the phone check")
	}
	return &Identity{
		CI: p.CI, Name: p.Name, Birth: p.Birth,
		Phone: p.Number, Carrier: p.Carrier,
		Bank: a.Bank, Account: a.Number,
		JTIs: []string{p.Provider + "/" + p.JTI, a.Provider + "/" + a.JTI},
	}, nil
}

// headerAlg reads a compact JWS's "alg" header without trusting anything
// algName names a refused alg for the message: a JOSE name as it is, any
// other text not at all. The header is the caller's, and echoing it would
// put arbitrary bytes (a fuzzer put a CI there) into the answer and the
// audit log.
func algName(alg string) string {
	switch alg {
	case "none", "HS256", "HS384", "HS512", "RS384", "RS512", "ES512", "PS384", "PS512", "ES256K", "Ed25519", "Ed448":
		return fmt.Sprintf("%q", alg)
	}
	return "an algorithm JOSE does not define"
}

// else in it; "" if the header does not parse.
func headerAlg(token string) string {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Alg
}
