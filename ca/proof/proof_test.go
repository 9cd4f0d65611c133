package proof_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"

	"github.com/signet-ca/signet/ca/proof"
)

const (
	aud    = "signet.example.test"
	method = "/signet.v1.EnrollmentService/RenewCertificate"
)

type subscriber struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// newSubscriber makes a self-signed certificate; Verify does not look at the
// chain, so the issuer does not matter here. serial nil means 20 random bytes.
func newSubscriber(t *testing.T, key crypto.Signer, serial *big.Int) subscriber {
	t.Helper()
	if serial == nil {
		b := make([]byte, 20)
		rand.Read(b)
		b[0] &= 0x7f
		serial = new(big.Int).SetBytes(b)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "홍길동()0880012345678901", Country: []string{"KR"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return subscriber{cert, key}
}

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	p256Key  *ecdsa.PrivateKey
	p384Key  *ecdsa.PrivateKey
)

func keys() (*rsa.PrivateKey, *ecdsa.PrivateKey, *ecdsa.PrivateKey) {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		p256Key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p384Key, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	})
	return rsaKey, p256Key, p384Key
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRoundTrip(t *testing.T) {
	rk, ec256, ec384 := keys()
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"RSA-2048", rk, "RS256"},
		{"P-256", ec256, "ES256"},
		{"P-384", ec384, "ES384"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSubscriber(t, tc.key, nil)
			binding := proof.BindCSR([]byte("csr der"))
			tok, err := proof.Sign(s.cert, s.key, proof.Claims{Audience: aud, Method: method, Binding: binding})
			if err != nil {
				t.Fatal(err)
			}
			if h := header(t, tok); h["alg"] != tc.alg {
				t.Errorf("alg = %v, want %s", h["alg"], tc.alg)
			}
			v, err := proof.Verify(tok, aud, method, time.Now())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if string(v.Certificate.Raw) != string(s.cert.Raw) {
				t.Error("Verified.Certificate is not the signing certificate")
			}
			c := v.Claims
			if c.Audience != aud || c.Method != method || c.Binding != binding || c.Serial != proof.SerialHex(s.cert) ||
				len(c.JTI) != 32 || time.Since(time.Unix(c.IssuedAt, 0)).Abs() > time.Minute {
				t.Errorf("claims = %+v", c)
			}
			if c.Serial != strings.ToLower(c.Serial) {
				t.Errorf("serial %q is not lower-case", c.Serial)
			}
		})
	}
}

func TestSignKeepsGivenClaims(t *testing.T) {
	_, ec256, _ := keys()
	s := newSubscriber(t, ec256, nil)
	iat := time.Now().Add(-time.Minute).Unix()
	tok, err := proof.Sign(s.cert, s.key, proof.Claims{Audience: aud, Method: method, JTI: "my-jti", IssuedAt: iat, Binding: proof.BindReason("keyCompromise")})
	if err != nil {
		t.Fatal(err)
	}
	v, err := proof.Verify(tok, aud, method, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if v.Claims.JTI != "my-jti" || v.Claims.IssuedAt != iat || v.Claims.Binding != "reason=keyCompromise" {
		t.Errorf("claims = %+v", v.Claims)
	}
}

// rawSign builds proofs Sign refuses to make. cert nil means no x5c.
func rawSign(t *testing.T, key crypto.Signer, alg jose.SignatureAlgorithm, cert *x509.Certificate, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if cert != nil {
		opts.WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(cert.Raw)})
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: cryptosigner.Opaque(key)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(claims)
	jws, err := signer.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyRejects(t *testing.T) {
	rk, ec256, _ := keys()
	now := time.Now()
	// A serial with hex letters, so the upper-case case differs.
	serial, _ := new(big.Int).SetString("7abcdef0123456789abcdef0123456789abcdef0", 16)
	s := newSubscriber(t, ec256, serial)
	rs := newSubscriber(t, rk, nil)
	other := newSubscriber(t, ec256, nil) // same key, other certificate
	ec521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	s521 := newSubscriber(t, ec521, nil)
	good := func(mod func(*proof.Claims)) proof.Claims {
		c := proof.Claims{Audience: aud, Method: method, IssuedAt: now.Unix(), JTI: "j1", Serial: proof.SerialHex(s.cert)}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	signed := func(c proof.Claims) string { return rawSign(t, s.key, jose.ES256, s.cert, c) }
	valid := signed(good(nil))
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	tests := []struct {
		name, token string
		want        string // substring of the error; "" means accepted
	}{
		{"valid", valid, ""},
		{"iat 4 minutes old", signed(good(func(c *proof.Claims) { c.IssuedAt = now.Add(-4 * time.Minute).Unix() })), ""},
		{"iat 4 minutes ahead", signed(good(func(c *proof.Claims) { c.IssuedAt = now.Add(4 * time.Minute).Unix() })), ""},
		{"serial with leading zeros", signed(good(func(c *proof.Claims) { c.Serial = "00" + c.Serial })), ""},
		{"PS256 with an RSA certificate", rawSign(t, rs.key, jose.PS256, rs.cert, good(func(c *proof.Claims) { c.Serial = proof.SerialHex(rs.cert) })), ""},

		{"empty", "", "proof is missing"},
		{"garbage", "abc.def.ghi", "not a compact JWS"},
		{"oversized", strings.Repeat("a", 70000), "too large"},
		{"JSON serialization", func() string {
			signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ec256}, nil)
			jws, _ := signer.Sign([]byte("{}"))
			return jws.FullSerialize()
		}(), "not a compact JWS"},
		{"no x5c", rawSign(t, s.key, jose.ES256, nil, good(nil)), "no x5c"},
		{"x5c of a certificate with another key", rawSign(t, attacker, jose.ES256, s.cert, good(nil)), "signature does not verify"},
		{"x5c swapped to another certificate", rawSign(t, s.key, jose.ES256, other.cert, good(nil)), "serial does not match"},
		{"tampered payload", func() string {
			parts := strings.Split(valid, ".")
			b, _ := json.Marshal(good(func(c *proof.Claims) { c.Binding = "reason=keyCompromise" }))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
		}(), "signature does not verify"},
		{"alg not allowed (ES512)", rawSign(t, s521.key, jose.ES512, s521.cert, good(nil)), "not a compact JWS"},
		{"alg not allowed (RS384)", rawSign(t, rs.key, jose.RS384, rs.cert, good(nil)), "not a compact JWS"},
		{"wrong audience", signed(good(func(c *proof.Claims) { c.Audience = "other" })), "another service"},
		{"wrong method", signed(good(func(c *proof.Claims) { c.Method = "/signet.v1.EnrollmentService/RevokeCertificate" })), "another operation"},
		{"iat 6 minutes old", signed(good(func(c *proof.Claims) { c.IssuedAt = now.Add(-6 * time.Minute).Unix() })), "proof is older than 5 minutes: sign a new one"},
		{"iat 6 minutes ahead", signed(good(func(c *proof.Claims) { c.IssuedAt = now.Add(6 * time.Minute).Unix() })), "in the future"},
		{"iat missing", signed(good(func(c *proof.Claims) { c.IssuedAt = 0 })), `no "iat"`},
		{"iat far past", signed(good(func(c *proof.Claims) { c.IssuedAt = -1 << 62 })), "older than 5 minutes"},
		{"iat not a number", rawSign(t, s.key, jose.ES256, s.cert, map[string]any{"aud": aud, "method": method, "iat": "now", "jti": "j", "serial": proof.SerialHex(s.cert)}), "not valid JSON"},
		{"jti missing", signed(good(func(c *proof.Claims) { c.JTI = "" })), `no "jti"`},
		{"serial missing", signed(good(func(c *proof.Claims) { c.Serial = "" })), "serial does not match"},
		{"serial of another certificate", signed(good(func(c *proof.Claims) { c.Serial = proof.SerialHex(other.cert) })), "serial does not match"},
		{"serial upper-case", signed(good(func(c *proof.Claims) { c.Serial = strings.ToUpper(c.Serial) })), "serial does not match"},
		{"serial with sign", signed(good(func(c *proof.Claims) { c.Serial = "+" + c.Serial })), "serial does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := proof.Verify(tc.token, aud, method, now)
			if tc.want == "" {
				if err != nil || v == nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			var pe *proof.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *proof.Error", err, err)
			}
			if !strings.Contains(pe.Msg, tc.want) || pe.Error() != pe.Msg {
				t.Fatalf("err = %q, want it to contain %q", pe.Msg, tc.want)
			}
		})
	}
}

func TestSignRejects(t *testing.T) {
	rk, ec256, ec384 := keys()
	s := newSubscriber(t, ec256, nil)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ed := newSubscriber(t, edKey, nil)
	ok := proof.Claims{Audience: aud, Method: method}
	tests := []struct {
		name string
		cert *x509.Certificate
		key  crypto.Signer
		c    proof.Claims
	}{
		{"key of another certificate", s.cert, ec384, ok},
		{"RSA key for an EC certificate", s.cert, rk, ok},
		{"no audience", s.cert, ec256, proof.Claims{Method: method}},
		{"no method", s.cert, ec256, proof.Claims{Audience: aud}},
		{"nil certificate", nil, ec256, ok},
		{"nil key", s.cert, nil, ok},
		{"serial of another certificate", s.cert, ec256, proof.Claims{Audience: aud, Method: method, Serial: "abc"}},
		{"Ed25519 key", ed.cert, edKey, ok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := proof.Sign(tc.cert, tc.key, tc.c)
			var pe *proof.Error
			if !errors.As(err, &pe) || tok != "" {
				t.Fatalf("Sign = %q, %v; want *proof.Error", tok, err)
			}
		})
	}
}

func TestSerialHex(t *testing.T) {
	_, ec256, _ := keys()
	// A serial whose first byte is below 0x10: hex of the bytes has a
	// leading zero, SerialHex does not; proofs with either form verify.
	serial, _ := new(big.Int).SetString("0abcdef0123456789abcdef0123456789abcdef0", 16)
	s := newSubscriber(t, ec256, serial)
	if got := proof.SerialHex(s.cert); got != "abcdef0123456789abcdef0123456789abcdef0" {
		t.Errorf("SerialHex = %q", got)
	}
	for _, form := range []string{proof.SerialHex(s.cert), hex.EncodeToString(serial.Bytes())} {
		tok, err := proof.Sign(s.cert, s.key, proof.Claims{Audience: aud, Method: method, Serial: form})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proof.Verify(tok, aud, method, time.Now()); err != nil {
			t.Errorf("serial %q: %v", form, err)
		}
	}
	if got := proof.BindCSR([]byte("x")); len(got) != 64 || got != strings.ToLower(got) {
		t.Errorf("BindCSR = %q", got)
	}
}
