package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/signer"
)

// Shared helpers of the domain-core unit tests. Names carry a "unit" prefix
// so that they do not collide with helpers of other test files in package ca.

// unitRSAKeys caches RSA keys by size: RSA-3072 and RSA-4096 generation is
// slow, so every test shares one key of each size.
var unitRSAKeys struct {
	sync.Mutex
	m map[int]*rsa.PrivateKey
}

func unitRSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	unitRSAKeys.Lock()
	defer unitRSAKeys.Unlock()
	if k, ok := unitRSAKeys.m[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatalf("generate RSA-%d: %v", bits, err)
	}
	if unitRSAKeys.m == nil {
		unitRSAKeys.m = map[int]*rsa.PrivateKey{}
	}
	unitRSAKeys.m[bits] = k
	return k
}

func unitECKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatalf("generate ECDSA %s: %v", c.Params().Name, err)
	}
	return k
}

// unitCSR returns a DER PKCS#10 request signed by key.
func unitCSR(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "subscriber"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("create CSR: %v", err)
	}
	return der
}

func unitParsedCSR(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) *x509.CertificateRequest {
	t.Helper()
	csr, err := x509.ParseCertificateRequest(unitCSR(t, key, tmpl))
	if err != nil {
		t.Fatalf("parse CSR: %v", err)
	}
	return csr
}

// unitCA is a throwaway issuing CA for signing rendered templates.
type unitCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newUnitCA(t testing.TB) *unitCA {
	t.Helper()
	key := unitECKey(t, elliptic.P256())
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Unit Test CA", Organization: []string{"Signet"}, Country: []string{"KR"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("create test CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse test CA: %v", err)
	}
	return &unitCA{cert: cert, key: key}
}

// issue completes tmpl with a serial and a validity and signs it.
func (c *unitCA) issue(t testing.TB, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	serial, err := signer.NewSerial()
	if err != nil {
		t.Fatalf("NewSerial: %v", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Minute).Truncate(time.Second)
	tmpl.NotAfter = (Validity{Years: 1}).NotAfter(tmpl.NotBefore)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, tmpl.PublicKey, c.key)
	if err != nil {
		t.Fatalf("sign template: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse issued certificate: %v", err)
	}
	return cert
}

// unitValidProfile returns the personal-banking default profile, validated.
func unitValidProfile(t testing.TB) *Profile {
	t.Helper()
	p := DefaultProfiles()[0]
	if err := p.Validate(); err != nil {
		t.Fatalf("validate %s: %v", p.Name, err)
	}
	return p
}

// unitWantRefusal checks that rerr is a refusal of kind and reason whose
// message contains every fragment.
func unitWantRefusal(t testing.TB, rerr *Error, kind Kind, reason string, fragments ...string) {
	t.Helper()
	if rerr == nil {
		t.Fatalf("got no refusal, want %s/%s", kindName(kind), reason)
	}
	if rerr.Kind != kind || rerr.Reason != reason {
		t.Errorf("got refusal %s/%s (%q), want %s/%s", kindName(rerr.Kind), rerr.Reason, rerr.Msg, kindName(kind), reason)
	}
	for _, f := range fragments {
		if !strings.Contains(rerr.Msg, f) {
			t.Errorf("message %q does not contain %q", rerr.Msg, f)
		}
	}
}
