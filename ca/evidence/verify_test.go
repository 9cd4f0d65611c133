package evidence_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/text/unicode/norm"

	"github.com/signet-ca/signet/ca/evidence"
	et "github.com/signet-ca/signet/ca/evidence/evidencetest"
)

const (
	aud   = "signet.example.test"
	nonce = "n-7f3a9c"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
	})
	return rsaKey
}

func newECKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func verifier(t *testing.T, m *et.Minter, now time.Time) *evidence.Verifier {
	t.Helper()
	v, err := evidence.NewVerifier(aud, m.Providers(), at(now))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// noneToken builds an unsigned token by hand: go-jose cannot produce one.
func noneToken(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
	p, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

func hs256Token(t *testing.T, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(claims)
	jws, err := s.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func TestVerify(t *testing.T) {
	m := et.NewMinter(aud, at(t0))
	p := et.DefaultPerson()
	other := p
	other.Name = "김철수"
	attacker := newECKey(t, elliptic.P256())

	type mint func() string
	phone := func(o ...et.Opt) mint { return func() string { return m.PhoneToken(nonce, p, o...) } }
	account := func(o ...et.Opt) mint { return func() string { return m.AccountToken(nonce, p, o...) } }
	tests := []struct {
		name           string
		phone, account mint
		nonce          string        // "" means the default nonce
		clock          time.Duration // verifier clock = t0 + clock
		want           evidence.Reason
	}{
		{name: "valid pair", phone: phone(), account: account()},
		{name: "account without optional CI", phone: phone(), account: account(et.WithoutClaim("ci"))},
		{name: "aud as array containing ours", phone: phone(et.WithClaim("aud", []string{"other", aud})), account: account()},
		{name: "iat slightly ahead within skew", phone: phone(et.IssuedAt(t0.Add(50 * time.Second))), account: account()},
		{name: "9 minutes old", phone: phone(), account: account(), clock: 9 * time.Minute},
		{name: "name NFD and padded on account", phone: phone(), account: account(et.WithClaim("holder_name", "  "+norm.NFD.String(p.Name)+" "))},

		// Not a usable JWS.
		{name: "phone missing", phone: func() string { return "" }, account: account(), want: evidence.ReasonMalformed},
		{name: "garbage", phone: func() string { return "not.a.jws" }, account: account(), want: evidence.ReasonMalformed},
		{name: "oversized", phone: func() string { return strings.Repeat("a", 70000) }, account: account(), want: evidence.ReasonMalformed},
		{name: "kind missing", phone: phone(et.WithoutClaim("kind")), account: account(), want: evidence.ReasonMalformed},
		{name: "kind unknown", phone: phone(et.WithClaim("kind", "email")), account: account(), want: evidence.ReasonMalformed},

		// Forged or untrusted. An algorithm no provider may use is a forgery
		// attempt (README: evidence_untrusted), not a garbled token.
		{name: "alg none", phone: func() string { return noneToken(m.PhoneClaims(nonce, p)) }, account: account(), want: evidence.ReasonUntrusted},
		{name: "alg HS256", phone: func() string { return hs256Token(t, m.PhoneClaims(nonce, p)) }, account: account(), want: evidence.ReasonUntrusted},
		{name: "alg RS384 not allowed", phone: func() string { return et.SignAlg(testRSAKey(t), jose.RS384, m.PhoneClaims(nonce, p)) }, account: account(), want: evidence.ReasonUntrusted},
		{name: "forged: attacker key with trusted phone iss", phone: func() string { return m.SignWith(attacker, m.PhoneClaims(nonce, p)) }, account: account(), want: evidence.ReasonUntrusted},
		{name: "forged: attacker key with trusted account iss", phone: phone(), account: func() string { return m.SignWith(attacker, m.AccountClaims(nonce, p)) }, want: evidence.ReasonUntrusted},
		{name: "unknown issuer", phone: phone(et.WithClaim("iss", "evil-phone")), account: account(), want: evidence.ReasonUntrusted},
		{name: "account provider key, kind phone, account iss", phone: func() string {
			return m.SignWith(m.Account, m.PhoneClaims(nonce, p, et.WithClaim("iss", et.AccountProviderID)))
		}, account: account(), want: evidence.ReasonUntrusted},
		{name: "account provider key, kind phone, phone iss", phone: func() string { return m.SignWith(m.Account, m.PhoneClaims(nonce, p)) }, account: account(), want: evidence.ReasonUntrusted},
		{name: "trusted key, tampered payload", phone: func() string {
			tok := m.PhoneToken(nonce, p)
			parts := strings.Split(tok, ".")
			c := m.PhoneClaims(nonce, other)
			b, _ := json.Marshal(c)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
		}, account: account(), want: evidence.ReasonUntrusted},

		// Wrong slot.
		{name: "swapped tokens", phone: account(), account: phone(), want: evidence.ReasonKind},
		{name: "phone token in both slots", phone: phone(), account: phone(), want: evidence.ReasonKind},

		// Audience.
		{name: "wrong audience", phone: phone(et.WithClaim("aud", "other-signet")), account: account(), want: evidence.ReasonAudience},
		{name: "audience array without ours", phone: phone(), account: account(et.WithClaim("aud", []string{"a", "b"})), want: evidence.ReasonAudience},
		{name: "audience missing", phone: phone(et.WithoutClaim("aud")), account: account(), want: evidence.ReasonAudience},

		// Time.
		{name: "issued 11 minutes ago", phone: phone(et.IssuedAt(t0.Add(-11 * time.Minute))), account: account(), want: evidence.ReasonExpired},
		{name: "clock moved 11 minutes", phone: phone(), account: account(), clock: 11 * time.Minute, want: evidence.ReasonExpired},
		{name: "exp passed", phone: phone(), account: account(et.ExpiresAt(t0.Add(-time.Second))), want: evidence.ReasonExpired},
		{name: "exp equals now", phone: phone(et.ExpiresAt(t0)), account: account(), want: evidence.ReasonExpired},
		{name: "exp missing", phone: phone(et.WithoutClaim("exp")), account: account(), want: evidence.ReasonMalformed},
		{name: "iat missing", phone: phone(), account: account(et.WithoutClaim("iat")), want: evidence.ReasonMalformed},
		{name: "iat not a number", phone: phone(et.WithClaim("iat", "yesterday")), account: account(), want: evidence.ReasonMalformed},
		{name: "iat 2 minutes in the future", phone: phone(et.IssuedAt(t0.Add(2 * time.Minute))), account: account(), want: evidence.ReasonNotYetValid},
		{name: "clock moved back 5 minutes", phone: phone(), account: account(), clock: -5 * time.Minute, want: evidence.ReasonNotYetValid},
		{name: "nbf in the future", phone: phone(et.WithClaim("nbf", t0.Add(5*time.Minute).Unix())), account: account(), want: evidence.ReasonNotYetValid},

		// Nonce.
		{name: "token for another enrollment", phone: phone(), account: func() string { return m.AccountToken("n-other", p) }, want: evidence.ReasonNonce},
		{name: "token nonce with extra suffix", phone: func() string { return m.PhoneToken(nonce+"x", p) }, account: account(), want: evidence.ReasonNonce},
		{name: "token without nonce", phone: phone(et.WithoutClaim("nonce")), account: account(), want: evidence.ReasonNonce},
		{name: "request nonce differs", phone: phone(), account: account(), nonce: "n-other", want: evidence.ReasonNonce},

		// Fields.
		{name: "jti missing", phone: phone(et.WithoutClaim("jti")), account: account(), want: evidence.ReasonMalformed},
		{name: "jti too long", phone: phone(et.WithClaim("jti", strings.Repeat("j", 300))), account: account(), want: evidence.ReasonMalformed},
		{name: "phone CI missing", phone: phone(et.WithoutClaim("ci")), account: account(), want: evidence.ReasonMalformed},
		{name: "phone CI too short", phone: phone(et.WithClaim("ci", p.CI()[:80])), account: account(), want: evidence.ReasonMalformed},
		{name: "phone CI not base64", phone: phone(et.WithClaim("ci", strings.Repeat("!", 88))), account: account(), want: evidence.ReasonMalformed},
		{name: "account CI malformed", phone: phone(), account: account(et.WithClaim("ci", "abc")), want: evidence.ReasonMalformed},
		{name: "CI wrong JSON type", phone: phone(et.WithClaim("ci", 123)), account: account(), want: evidence.ReasonMalformed},
		{name: "DI missing", phone: phone(et.WithoutClaim("di")), account: account(), want: evidence.ReasonMalformed},
		{name: "name missing", phone: phone(et.WithClaim("name", "  ")), account: account(), want: evidence.ReasonMalformed},
		{name: "birth not a real date", phone: phone(et.WithClaim("birth", "19900230")), account: account(), want: evidence.ReasonMalformed},
		{name: "birth with dashes", phone: phone(), account: account(et.WithClaim("holder_birth", "1990-01-01")), want: evidence.ReasonMalformed},
		{name: "gender unknown", phone: phone(et.WithClaim("gender", "X")), account: account(), want: evidence.ReasonMalformed},
		{name: "nationality unknown", phone: phone(et.WithClaim("nationality", "mars")), account: account(), want: evidence.ReasonMalformed},
		{name: "landline number", phone: phone(et.WithClaim("phone", "0212345678")), account: account(), want: evidence.ReasonMalformed},
		{name: "phone with hyphens", phone: phone(et.WithClaim("phone", "010-1234-5678")), account: account(), want: evidence.ReasonMalformed},
		{name: "carrier unknown", phone: phone(et.WithClaim("carrier", "VERIZON")), account: account(), want: evidence.ReasonMalformed},
		{name: "bank 2 digits", phone: phone(), account: account(et.WithClaim("bank", "04")), want: evidence.ReasonMalformed},
		{name: "account 5 digits", phone: phone(), account: account(et.WithClaim("account", "12345")), want: evidence.ReasonMalformed},
		{name: "account 17 digits", phone: phone(), account: account(et.WithClaim("account", strings.Repeat("1", 17))), want: evidence.ReasonMalformed},
		{name: "holder name missing", phone: phone(), account: account(et.WithoutClaim("holder_name")), want: evidence.ReasonMalformed},

		// Same person.
		{name: "different name", phone: phone(), account: account(et.WithClaim("holder_name", other.Name)), want: evidence.ReasonMismatch},
		{name: "different birth", phone: phone(), account: account(et.WithClaim("holder_birth", "19900102")), want: evidence.ReasonMismatch},
		{name: "CI mismatch", phone: phone(), account: account(et.WithClaim("ci", other.CI())), want: evidence.ReasonMismatch},
		{name: "account of another person entirely", phone: phone(), account: func() string { return m.AccountToken(nonce, other) }, want: evidence.ReasonMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := verifier(t, m, t0.Add(tc.clock))
			n := tc.nonce
			if n == "" {
				n = nonce
			}
			id, err := v.Verify(tc.phone(), tc.account(), n)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.CI != p.CI() || id.Name != p.Name || id.Birth != p.Birth || id.Phone != p.Phone || id.Account != p.Account {
					t.Errorf("identity = %+v", id)
				}
				return
			}
			var e *evidence.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *evidence.Error with reason %s", err, err, tc.want)
			}
			if e.Reason != tc.want {
				t.Fatalf("reason = %s (%q), want %s", e.Reason, e.Msg, tc.want)
			}
			if evidence.ReasonOf(err) != tc.want || e.Error() != e.Msg || e.Msg == "" {
				t.Errorf("ReasonOf/Error() inconsistent: %q", e.Msg)
			}
			// DESIGN.md invariant 7: no personal identifiers in messages.
			for _, secret := range []string{p.CI(), other.CI(), p.Phone, p.Account} {
				if strings.Contains(e.Msg, secret) {
					t.Errorf("message leaks personal data: %q", e.Msg)
				}
			}
			if !strings.Contains(e.Msg, ": ") {
				t.Errorf("message says nothing about what to do: %q", e.Msg)
			}
		})
	}
}

func TestVerifyMessages(t *testing.T) {
	m := et.NewMinter(aud, at(t0))
	p := et.DefaultPerson()
	v := verifier(t, m, t0.Add(11*time.Minute))
	_, err := v.Verify(m.PhoneToken(nonce, p), m.AccountToken(nonce, p), nonce)
	if want := "phone evidence is older than 10 minutes: run the phone check again"; err == nil || err.Error() != want {
		t.Errorf("stale: got %v, want %q", err, want)
	}
	v = verifier(t, m, t0)
	_, err = v.Verify(m.PhoneToken(nonce, p), m.AccountToken(nonce, p, et.WithClaim("holder_birth", "19800101")), nonce)
	if err == nil || !strings.HasPrefix(err.Error(), "phone and account evidence describe different people (name or birth date differ)") {
		t.Errorf("mismatch: got %v", err)
	}
}

func TestVerifyIdentity(t *testing.T) {
	m := et.NewMinter(aud, at(t0))
	p := et.DefaultPerson()
	v := verifier(t, m, t0)
	pc := m.PhoneClaims(nonce, p)
	ac := m.AccountClaims(nonce, p)
	id, err := v.Verify(m.SignWith(m.Phone, pc), m.SignWith(m.Account, ac), nonce)
	if err != nil {
		t.Fatal(err)
	}
	want := evidence.Identity{
		CI: p.CI(), Name: p.Name, Birth: p.Birth, Phone: p.Phone, Carrier: p.Carrier, Bank: p.Bank, Account: p.Account,
		JTIs: []string{"test-phone/" + pc["jti"].(string), "test-account/" + ac["jti"].(string)},
	}
	if got, _ := json.Marshal(id); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("identity\n got %s\nwant %s", got, must(json.Marshal(want)))
	}

	ph, err := v.VerifyPhone(m.PhoneToken(nonce, p), nonce)
	if err != nil {
		t.Fatal(err)
	}
	if ph.Provider != et.PhoneProviderID || !ph.IssuedAt.Equal(t0) || ph.Gender != "M" || ph.Nationality != "domestic" || ph.DI == "" {
		t.Errorf("phone = %+v", ph)
	}
	if _, err := v.VerifyAccount(m.PhoneToken(nonce, p), nonce); evidence.ReasonOf(err) != evidence.ReasonKind {
		t.Errorf("VerifyAccount(phone token) = %v", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestVerifyAlgorithms covers every allowed algorithm with a provider of the
// matching key type, and an alg that does not fit the provider's key.
func TestVerifyAlgorithms(t *testing.T) {
	m := et.NewMinter(aud, at(t0))
	p := et.DefaultPerson()
	rk := testRSAKey(t)
	p384 := newECKey(t, elliptic.P384())
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	providers := append(m.Providers(),
		evidence.Provider{ID: "rsa-phone", Kind: evidence.KindPhone, Key: &rk.PublicKey},
		evidence.Provider{ID: "p384-phone", Kind: evidence.KindPhone, Key: &p384.PublicKey},
		evidence.Provider{ID: "ed-phone", Kind: evidence.KindPhone, Key: edKey.Public()},
	)
	v, err := evidence.NewVerifier(aud, providers, at(t0))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		iss  string
		key  crypto.Signer
		alg  jose.SignatureAlgorithm
		want evidence.Reason
	}{
		{"test-phone", m.Phone, jose.ES256, ""},
		{"p384-phone", p384, jose.ES384, ""},
		{"rsa-phone", rk, jose.RS256, ""},
		{"rsa-phone", rk, jose.PS256, ""},
		{"ed-phone", edKey, jose.EdDSA, ""},
		{"rsa-phone", rk, jose.RS512, evidence.ReasonUntrusted},      // an algorithm no provider may use
		{"rsa-phone", m.Phone, jose.ES256, evidence.ReasonUntrusted}, // EC signature, RSA provider
		{"p384-phone", m.Phone, jose.ES256, evidence.ReasonUntrusted},
	}
	for _, tc := range tests {
		t.Run(tc.iss+"/"+string(tc.alg), func(t *testing.T) {
			tok := et.SignAlg(tc.key, tc.alg, m.PhoneClaims(nonce, p, et.WithClaim("iss", tc.iss)))
			_, err := v.Verify(tok, m.AccountToken(nonce, p), nonce)
			if got := evidence.ReasonOf(err); got != tc.want || (tc.want == "" && err != nil) {
				t.Fatalf("got %v (reason %q), want reason %q", err, got, tc.want)
			}
		})
	}
}

func TestNewVerifier(t *testing.T) {
	ec := &newECKey(t, elliptic.P256()).PublicKey
	ec521 := &newECKey(t, elliptic.P521()).PublicKey
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	var typedNil *ecdsa.PublicKey
	ok := func(id string, k evidence.Kind) evidence.Provider { return evidence.Provider{ID: id, Kind: k, Key: ec} }
	tests := []struct {
		name      string
		audience  string
		providers []evidence.Provider
		wantErr   bool
	}{
		{"valid", aud, []evidence.Provider{ok("a", evidence.KindPhone), ok("b", evidence.KindAccount)}, false},
		{"same id for both kinds", aud, []evidence.Provider{ok("nice", evidence.KindPhone), ok("nice", evidence.KindAccount)}, false},
		{"empty audience", "", []evidence.Provider{ok("a", evidence.KindPhone)}, true},
		{"nil key", aud, []evidence.Provider{{ID: "a", Kind: evidence.KindPhone}}, true},
		{"typed nil key", aud, []evidence.Provider{{ID: "a", Kind: evidence.KindPhone, Key: typedNil}}, true},
		{"unknown kind", aud, []evidence.Provider{ok("a", "email")}, true},
		{"empty kind", aud, []evidence.Provider{ok("a", "")}, true},
		{"duplicate id within kind", aud, []evidence.Provider{ok("a", evidence.KindPhone), ok("a", evidence.KindPhone)}, true},
		{"empty id", aud, []evidence.Provider{ok("", evidence.KindPhone)}, true},
		{"private key instead of public", aud, []evidence.Provider{{ID: "a", Kind: evidence.KindPhone, Key: small}}, true},
		{"RSA 1024", aud, []evidence.Provider{{ID: "a", Kind: evidence.KindPhone, Key: &small.PublicKey}}, true},
		{"P-521", aud, []evidence.Provider{{ID: "a", Kind: evidence.KindPhone, Key: ec521}}, true},
		{"HMAC secret", aud, []evidence.Provider{{ID: "a", Kind: evidence.KindPhone, Key: []byte("secret")}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := evidence.NewVerifier(tc.audience, tc.providers, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && v == nil {
				t.Fatal("nil verifier without error")
			}
		})
	}
}
