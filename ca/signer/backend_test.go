package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/certificates/cas/softcas"

	"github.com/signet-ca/signet/ca/devca"
)

// caKey is the key the signer's CAS backend signs with.
func caKey(t *testing.T, s *Signer) crypto.Signer {
	t.Helper()
	soft, ok := s.cas.(*softcas.SoftCAS)
	if !ok {
		t.Fatalf("CAS backend is %T, want softcas", s.cas)
	}
	return soft.Signer
}

func TestNew_LoadsDevCAChainAndSoftKMSKey(t *testing.T) {
	t.Parallel()
	ca := newDevCA(t, devca.RSA2048)
	f := ca.files
	// A chain file with the intermediate first and the root after it.
	both := filepath.Join(t.TempDir(), "chain.pem")
	a, _ := os.ReadFile(f.Intermediate)
	b, _ := os.ReadFile(f.Root)
	if err := os.WriteFile(both, append(a, b...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		cfg       Config
		chainSize int
	}{
		{"intermediate only", Config{Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey}, 1},
		{"intermediate and root", Config{Chain: both, KMS: "softkms:", Key: f.IntermediateKey}, 2},
		{"empty KMS defaults to softkms", Config{Chain: f.Intermediate, Key: f.IntermediateKey}, 1},
		{"explicit softcas", Config{CAS: "softcas", Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(context.Background(), tc.cfg, newLinter(t))
			if err != nil {
				t.Fatalf("New(%+v): %v", tc.cfg, err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if len(s.Chain()) != tc.chainSize {
				t.Errorf("chain has %d certificates, want %d", len(s.Chain()), tc.chainSize)
			}
			if !s.Issuer().Equal(ca.issuer) {
				t.Errorf("issuer is %q, want the intermediate", s.Issuer().Subject)
			}
			sum := sha256.Sum256(ca.issuer.RawSubjectPublicKeyInfo)
			if want := hex.EncodeToString(sum[:8]); s.ID() != want || IssuerID(ca.issuer) != want {
				t.Errorf("ID() = %q, IssuerID = %q, want %q", s.ID(), IssuerID(ca.issuer), want)
			}
			if !ca.issuer.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(caKey(t, s).Public()) {
				t.Error("the CAS backend does not sign with the intermediate's key")
			}
		})
	}
}

func TestNew_RefusesMismatchedNonCAAndIncompleteConfig(t *testing.T) {
	t.Parallel()
	f := newDevCA(t, devca.RSA2048).files
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newLinter(t)
	for _, tc := range []struct {
		name  string
		cfg   Config
		lint  Linter
		frags []string
	}{
		{"empty config", Config{}, l, []string{"chain and key are both required"}},
		{"no chain", Config{KMS: "softkms:", Key: f.IntermediateKey}, l, []string{"chain and key are both required"}},
		{"no key", Config{Chain: f.Intermediate, KMS: "softkms:"}, l, []string{"chain and key are both required"}},
		{"missing chain file", Config{Chain: filepath.Join(dir, "nope.pem"), KMS: "softkms:", Key: f.IntermediateKey}, l,
			[]string{"read chain", "nope.pem"}},
		{"chain file without certificates", Config{Chain: garbage, KMS: "softkms:", Key: f.IntermediateKey}, l,
			[]string{"read chain", "garbage.pem"}},
		{"missing key file", Config{Chain: f.Intermediate, KMS: "softkms:", Key: filepath.Join(dir, "nokey.pem")}, l,
			[]string{"key", "nokey.pem"}},
		{"unknown KMS", Config{Chain: f.Intermediate, KMS: "nosuchkms:", Key: f.IntermediateKey}, l,
			[]string{"kms", "nosuchkms:"}},
		{"unknown CAS", Config{CAS: "nosuchcas", Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey}, l,
			[]string{"cas", "nosuchcas"}},
		{"root key for the intermediate", Config{Chain: f.Intermediate, KMS: "softkms:", Key: f.RootKey}, l,
			[]string{"does not match", "Signet Dev CA Class 2"}},
		{"server key for the intermediate", Config{Chain: f.Intermediate, KMS: "softkms:", Key: f.ServerKey}, l,
			[]string{"does not match"}},
		// server.pem holds the TLS leaf only, and server_key.pem its key.
		{"non-CA leaf as the issuer", Config{Chain: f.Server, KMS: "softkms:", Key: f.ServerKey}, l,
			[]string{"not a CA certificate", "CN=127.0.0.1"}},
		{"no linter", Config{Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey}, nil,
			[]string{"a linter is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(context.Background(), tc.cfg, tc.lint)
			if err == nil {
				_ = s.Close()
				t.Fatalf("New(%+v) succeeded, want a refusal", tc.cfg)
			}
			if s != nil {
				t.Errorf("refusal came with a signer")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "signer: ") {
				t.Errorf("error %q does not start with \"signer: \"", msg)
			}
			for _, frag := range tc.frags {
				if !strings.Contains(msg, frag) {
					t.Errorf("error %q does not contain %q", msg, frag)
				}
			}
		})
	}
}

// selfSigned makes a one-certificate chain for key from tmpl.
func selfSigned(t *testing.T, key crypto.Signer, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(7)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewSigner_RefusesEmptyChainCAWithoutCertSignAndUnsupportedKeys(t *testing.T) {
	t.Parallel()
	l := newLinter(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := func(name string, isCA bool, usage x509.KeyUsage) *x509.Certificate {
		return selfSigned(t, key, &x509.Certificate{Subject: pkix.Name{CommonName: name},
			BasicConstraintsValid: true, IsCA: isCA, KeyUsage: usage})
	}
	caNoCertSign := ca("CA without certSign", true, x509.KeyUsageDigitalSignature|x509.KeyUsageCRLSign)
	certSignNotCA := ca("certSign but not CA", false, x509.KeyUsageCertSign)
	goodCA := ca("good CA", true, x509.KeyUsageCertSign|x509.KeyUsageCRLSign)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherCA := selfSigned(t, otherKey, &x509.Certificate{Subject: pkix.Name{CommonName: "another key's CA"},
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign})
	// The lint twin needs a key of the CA key's algorithm: RSA, or ECDSA on
	// P-256 or P-384.
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caOf := func(k crypto.Signer) *x509.Certificate {
		return selfSigned(t, k, &x509.Certificate{Subject: pkix.Name{CommonName: "odd CA"},
			BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign})
	}

	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		key   crypto.Signer
		lint  Linter
		frag  string
	}{
		{"nil chain", nil, key, l, "empty certificate chain"},
		{"empty chain", []*x509.Certificate{}, key, l, "empty certificate chain"},
		{"no linter", []*x509.Certificate{goodCA}, key, nil, "a linter is required"},
		{"CA without keyCertSign", []*x509.Certificate{caNoCertSign}, key, l, "not a CA certificate"},
		{"keyCertSign without cA", []*x509.Certificate{certSignNotCA}, key, l, "not a CA certificate"},
		{"another key's CA", []*x509.Certificate{otherCA}, key, l, "does not match"},
		{"P-521 CA", []*x509.Certificate{caOf(p521)}, p521, l, "curve P-521 is not supported"},
		{"Ed25519 CA", []*x509.Certificate{caOf(edKey)}, edKey, l, "is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSigner(context.Background(), "", tc.chain, tc.key, tc.lint)
			if err == nil || s != nil {
				t.Fatalf("newSigner succeeded, want %q", tc.frag)
			}
			if !strings.Contains(err.Error(), tc.frag) {
				t.Errorf("error %q does not contain %q", err, tc.frag)
			}
		})
	}
	if _, err := newSigner(context.Background(), "", []*x509.Certificate{goodCA}, key, l); err != nil {
		t.Fatalf("newSigner with a proper CA: %v", err)
	}
}
