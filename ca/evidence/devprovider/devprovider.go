// Package devprovider simulates the identity providers for --dev mode
// (DESIGN.md, "Identity evidence"): a phone check that "sends" a 6-digit SMS
// code and an account check that "deposits" 1 won with a 4-digit memo code.
// The codes are returned to the caller so a developer can complete the flow
// without real providers. The signing keys are generated at start and are
// trusted only in dev mode; a production start must refuse these providers.
package devprovider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-ca/signet/ca/evidence"
)

// Provider ids of the simulated providers.
const (
	PhoneProviderID   = "dev-phone"
	AccountProviderID = "dev-account"
)

// Limits of a pending check, like real SMS and 1-won checks: short-lived,
// few attempts, single use.
const (
	CheckTTL    = 5 * time.Minute
	MaxAttempts = 5
	TokenTTL    = 10 * time.Minute
	// maxPending bounds memory if a client starts checks in a loop.
	maxPending = 10000
)

// Errors of Confirm*; wrapped with detail, test with errors.Is.
var (
	ErrInvalidRequest  = errors.New("invalid request")
	ErrUnknownCheck    = errors.New("unknown, already used or expired check: start a new check")
	ErrCheckExpired    = errors.New("check expired after 5 minutes: start a new check")
	ErrWrongCode       = errors.New("wrong code")
	ErrTooManyAttempts = errors.New("too many wrong codes: start a new check")
	ErrTooManyPending  = errors.New("too many pending checks: try again in a few minutes")
)

// Fixed, public derivation keys: the simulated CI must be the same for one
// person across checks and restarts, like a real CI. Not secrets.
var (
	devCIKey = []byte("signet dev-provider CI v1 (not a secret)")
	devDIKey = []byte("signet dev-provider DI v1 (not a secret)")
)

// SimulatedCI returns the CI the simulator reports for a person: standard
// base64 of HMAC-SHA512(dev key, name+"|"+birth), 88 characters.
func SimulatedCI(name, birth string) string {
	return derive(devCIKey, evidence.NormalizeName(name), birth)
}

func derive(key []byte, parts ...string) string {
	m := hmac.New(sha512.New, key)
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// PhoneRequest is what a user types into a phone check.
type PhoneRequest struct{ Name, Birth, Phone, Carrier string }

// AccountRequest is what a user types into an account check.
type AccountRequest struct{ Bank, Account, HolderName, HolderBirth string }

type check struct {
	kind    evidence.Kind
	nonce   string
	phone   PhoneRequest
	account AccountRequest
	code    string
	expires time.Time
	wrong   int
}

// Simulator holds the dev provider keys and the pending checks. It is safe for
// concurrent use.
type Simulator struct {
	audience   string
	now        func() time.Time
	phoneKey   *ecdsa.PrivateKey
	accountKey *ecdsa.PrivateKey

	mu      sync.Mutex
	pending map[string]*check
}

// New returns a Simulator minting tokens for audience with fresh P-256 keys.
// now is the clock (nil means time.Now).
func New(audience string, now func() time.Time) (*Simulator, error) {
	if audience == "" {
		return nil, errors.New("devprovider: audience is empty")
	}
	if now == nil {
		now = time.Now
	}
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devprovider: generate phone key: %w", err)
	}
	ak, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devprovider: generate account key: %w", err)
	}
	return &Simulator{audience: audience, now: now, phoneKey: pk, accountKey: ak, pending: map[string]*check{}}, nil
}

// Providers returns the simulated providers ("dev-phone", "dev-account") for
// evidence.NewVerifier in dev mode.
func (s *Simulator) Providers() []evidence.Provider {
	return []evidence.Provider{
		{ID: PhoneProviderID, Kind: evidence.KindPhone, Key: &s.phoneKey.PublicKey},
		{ID: AccountProviderID, Kind: evidence.KindAccount, Key: &s.accountKey.PublicKey},
	}
}

// StartPhoneCheck validates r and "sends" an SMS: it returns the check id and
// the 6-digit code the user would receive.
func (s *Simulator) StartPhoneCheck(nonce string, r PhoneRequest) (checkID, code string, err error) {
	if err := firstErr(
		validNonce(nonce),
		evidence.ValidName(r.Name),
		evidence.ValidBirth(r.Birth),
		evidence.ValidPhone(r.Phone),
		evidence.ValidCarrier(r.Carrier),
	); err != nil {
		return "", "", fmt.Errorf("phone check: %w: %w", ErrInvalidRequest, err)
	}
	return s.start(&check{kind: evidence.KindPhone, nonce: nonce, phone: r}, 6)
}

// StartAccountCheck validates r and "deposits" 1 won: it returns the check id
// and the 4-digit memo code the user would read in the deposit.
func (s *Simulator) StartAccountCheck(nonce string, r AccountRequest) (checkID, code string, err error) {
	if err := firstErr(
		validNonce(nonce),
		evidence.ValidBank(r.Bank),
		evidence.ValidAccount(r.Account),
		prefix("holder ", evidence.ValidName(r.HolderName)),
		prefix("holder ", evidence.ValidBirth(r.HolderBirth)),
	); err != nil {
		return "", "", fmt.Errorf("account check: %w: %w", ErrInvalidRequest, err)
	}
	return s.start(&check{kind: evidence.KindAccount, nonce: nonce, account: r}, 4)
}

func (s *Simulator) start(c *check, digits int) (string, string, error) {
	code, err := randomDigits(digits)
	if err != nil {
		return "", "", err
	}
	c.code = code
	now := s.now()
	c.expires = now.Add(CheckTTL)
	id := randomHex(16)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.pending {
		if now.After(p.expires) {
			delete(s.pending, k)
		}
	}
	if len(s.pending) >= maxPending {
		return "", "", ErrTooManyPending
	}
	s.pending[id] = c
	return id, c.code, nil
}

// ConfirmPhoneCheck checks the SMS code and returns a signed phone token.
func (s *Simulator) ConfirmPhoneCheck(checkID, code string) (string, error) {
	c, err := s.confirm(evidence.KindPhone, checkID, code)
	if err != nil {
		return "", fmt.Errorf("phone check: %w", err)
	}
	claims := s.common(evidence.KindPhone, PhoneProviderID, c.nonce)
	claims["ci"] = SimulatedCI(c.phone.Name, c.phone.Birth)
	// DI is per site in real providers, so it also depends on the audience.
	claims["di"] = derive(devDIKey, s.audience, evidence.NormalizeName(c.phone.Name), c.phone.Birth)
	claims["name"] = evidence.NormalizeName(c.phone.Name)
	claims["birth"] = c.phone.Birth
	claims["gender"] = "M"
	claims["nationality"] = "domestic"
	claims["phone"] = c.phone.Phone
	claims["carrier"] = c.phone.Carrier
	return sign(s.phoneKey, claims)
}

// ConfirmAccountCheck checks the memo code and returns a signed account token.
// It reports the holder's CI too, so dev enrollments exercise the CI match.
func (s *Simulator) ConfirmAccountCheck(checkID, code string) (string, error) {
	c, err := s.confirm(evidence.KindAccount, checkID, code)
	if err != nil {
		return "", fmt.Errorf("account check: %w", err)
	}
	claims := s.common(evidence.KindAccount, AccountProviderID, c.nonce)
	claims["bank"] = c.account.Bank
	claims["account"] = c.account.Account
	claims["holder_name"] = evidence.NormalizeName(c.account.HolderName)
	claims["holder_birth"] = c.account.HolderBirth
	claims["ci"] = SimulatedCI(c.account.HolderName, c.account.HolderBirth)
	return sign(s.accountKey, claims)
}

// confirm consumes a pending check if code is right. A check is removed on
// success (single use), on expiry and after MaxAttempts wrong codes, so a
// 4-digit code cannot be brute-forced.
func (s *Simulator) confirm(kind evidence.Kind, id, code string) (*check, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.pending[id]
	if !ok || c.kind != kind {
		return nil, ErrUnknownCheck
	}
	if now.After(c.expires) {
		delete(s.pending, id)
		return nil, ErrCheckExpired
	}
	if subtle.ConstantTimeCompare([]byte(code), []byte(c.code)) != 1 {
		c.wrong++
		if c.wrong >= MaxAttempts {
			delete(s.pending, id)
			return nil, ErrTooManyAttempts
		}
		return nil, fmt.Errorf("%w: %d attempts left", ErrWrongCode, MaxAttempts-c.wrong)
	}
	delete(s.pending, id)
	return c, nil
}

func (s *Simulator) common(kind evidence.Kind, iss, nonce string) map[string]any {
	now := s.now()
	return map[string]any{
		"iss":   iss,
		"aud":   s.audience,
		"iat":   now.Unix(),
		"exp":   now.Add(TokenTTL).Unix(),
		"jti":   randomHex(16),
		"nonce": nonce,
		"kind":  string(kind),
	}
}

func sign(key *ecdsa.PrivateKey, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func validNonce(n string) error {
	if n == "" {
		return errors.New("enrollment nonce is missing")
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
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

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// randomDigits returns n uniformly random decimal digits.
func randomDigits(n int) (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", n, v), nil
}
