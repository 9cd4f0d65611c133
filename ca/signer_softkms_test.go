package ca

import (
	"context"
	"crypto"
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

	"github.com/signet-ca/signet/ca/devca"
	"go.step.sm/crypto/pemutil"
)

// unitDevCA writes a dev PKI into a fresh directory.
func unitDevCA(t *testing.T) devca.Files {
	t.Helper()
	f, err := devca.Ensure(t.TempDir(), "Signet", []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatalf("devca.Ensure: %v", err)
	}
	return f
}

func unitNewSigner(t *testing.T, cfg SignerConfig) *Signer {
	t.Helper()
	s, err := NewSigner(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewSigner(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestNewSigner_LoadsDevCAChainAndSoftKMSKey(t *testing.T) {
	t.Parallel()
	f := unitDevCA(t)
	inter, err := pemutil.ReadCertificate(f.Intermediate)
	if err != nil {
		t.Fatal(err)
	}
	// A chain file with the intermediate first and the root after it.
	both := filepath.Join(t.TempDir(), "chain.pem")
	a, _ := os.ReadFile(f.Intermediate)
	b, _ := os.ReadFile(f.Root)
	if err := os.WriteFile(both, append(a, b...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		cfg       SignerConfig
		chainSize int
	}{
		{"intermediate only", SignerConfig{Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey}, 1},
		{"intermediate and root", SignerConfig{Chain: both, KMS: "softkms:", Key: f.IntermediateKey}, 2},
		{"empty KMS defaults to softkms", SignerConfig{Chain: f.Intermediate, Key: f.IntermediateKey}, 1},
		{"explicit softcas", SignerConfig{CAS: "softcas", Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := unitNewSigner(t, tc.cfg)
			if len(s.Chain()) != tc.chainSize {
				t.Errorf("chain has %d certificates, want %d", len(s.Chain()), tc.chainSize)
			}
			if !s.Issuer().Equal(inter) {
				t.Errorf("issuer is %q, want the intermediate", s.Issuer().Subject)
			}
			sum := sha256.Sum256(inter.RawSubjectPublicKeyInfo)
			if want := hex.EncodeToString(sum[:8]); s.IssuerID != want {
				t.Errorf("IssuerID = %q, want %q", s.IssuerID, want)
			}
			if !inter.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Key().Public()) {
				t.Error("Key() is not the intermediate's key")
			}
		})
	}
}

func TestNewSigner_RefusesMismatchedNonCAAndIncompleteConfig(t *testing.T) {
	t.Parallel()
	f := unitDevCA(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	// server.pem is the leaf first, then the intermediate.
	for _, tc := range []struct {
		name  string
		cfg   SignerConfig
		frags []string
	}{
		{"empty config", SignerConfig{}, []string{"chain and key are both required"}},
		{"no chain", SignerConfig{KMS: "softkms:", Key: f.IntermediateKey}, []string{"chain and key are both required"}},
		{"no key", SignerConfig{Chain: f.Intermediate, KMS: "softkms:"}, []string{"chain and key are both required"}},
		{"missing chain file", SignerConfig{Chain: filepath.Join(dir, "nope.pem"), KMS: "softkms:", Key: f.IntermediateKey},
			[]string{"read chain", "nope.pem"}},
		{"chain file without certificates", SignerConfig{Chain: garbage, KMS: "softkms:", Key: f.IntermediateKey},
			[]string{"read chain", "garbage.pem"}},
		{"missing key file", SignerConfig{Chain: f.Intermediate, KMS: "softkms:", Key: filepath.Join(dir, "nokey.pem")},
			[]string{"key", "nokey.pem"}},
		{"unknown KMS", SignerConfig{Chain: f.Intermediate, KMS: "nosuchkms:", Key: f.IntermediateKey},
			[]string{"kms", "nosuchkms:"}},
		{"unknown CAS", SignerConfig{CAS: "nosuchcas", Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey},
			[]string{"cas", "nosuchcas"}},
		{"root key for the intermediate", SignerConfig{Chain: f.Intermediate, KMS: "softkms:", Key: f.RootKey},
			[]string{"does not match", "Signet Dev CA Class 2"}},
		{"server key for the intermediate", SignerConfig{Chain: f.Intermediate, KMS: "softkms:", Key: f.ServerKey},
			[]string{"does not match"}},
		{"non-CA leaf first in the chain", SignerConfig{Chain: f.Server, KMS: "softkms:", Key: f.ServerKey},
			[]string{"not a CA certificate", "CN=127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(context.Background(), tc.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatalf("NewSigner(%+v) succeeded, want a refusal", tc.cfg)
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

func TestNewSigner_RefusesEmptyChainAndCAWithoutCertSign(t *testing.T) {
	t.Parallel()
	key := unitECKey(t, elliptic.P256())
	selfSigned := func(tmpl *x509.Certificate) *x509.Certificate {
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
	caNoCertSign := selfSigned(&x509.Certificate{Subject: pkix.Name{CommonName: "CA without certSign"},
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign})
	certSignNotCA := selfSigned(&x509.Certificate{Subject: pkix.Name{CommonName: "certSign but not CA"},
		BasicConstraintsValid: true, IsCA: false, KeyUsage: x509.KeyUsageCertSign})
	goodCA := selfSigned(&x509.Certificate{Subject: pkix.Name{CommonName: "good CA"},
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign})

	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		frag  string
	}{
		{"nil chain", nil, "empty certificate chain"},
		{"empty chain", []*x509.Certificate{}, "empty certificate chain"},
		{"CA without keyCertSign", []*x509.Certificate{caNoCertSign}, "not a CA certificate"},
		{"keyCertSign without cA", []*x509.Certificate{certSignNotCA}, "not a CA certificate"},
		{"another key's CA", []*x509.Certificate{newUnitCA(t).cert}, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSigner(context.Background(), "", tc.chain, key)
			if err == nil || s != nil {
				t.Fatalf("newSigner succeeded, want %q", tc.frag)
			}
			if !strings.Contains(err.Error(), tc.frag) {
				t.Errorf("error %q does not contain %q", err, tc.frag)
			}
		})
	}
	if _, err := newSigner(context.Background(), "", []*x509.Certificate{goodCA}, key); err != nil {
		t.Fatalf("newSigner with a proper CA: %v", err)
	}
}

// The whole subscriber path short of the database: render a profile,
// sign through the softkms/softcas signer, verify to the dev root.
func TestSigner_SignsRenderedTemplateUnderDevChain(t *testing.T) {
	t.Parallel()
	f := unitDevCA(t)
	s := unitNewSigner(t, SignerConfig{Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey})
	root, err := pemutil.ReadCertificate(f.Root)
	if err != nil {
		t.Fatal(err)
	}
	p := unitValidProfile(t)
	key := unitRSAKey(t, 2048)
	csr := unitParsedCSR(t, key, nil)
	cn := "홍길동()00004" + "000000000000001"
	tmpl, err := p.render(csr, subjectData{CommonName: cn, ProfileOU: p.OU, BankOU: bankName("004"), Organization: "Signet"})
	if err != nil {
		t.Fatal(err)
	}
	serial, err := newSerial()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = serial, now, p.Validity.NotAfter(now)
	cert, err := s.sign(tmpl, csr, "req-unit-0001")
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if got, want := SubjectString(cert), "CN="+cn+",OU=KB,OU=personal4IB,O=Signet,C=KR"; got != want {
		t.Errorf("subject %s, want %s", got, want)
	}
	if cert.SerialNumber.Cmp(serial) != 0 {
		t.Errorf("serial %x, want %x", cert.SerialNumber, serial)
	}
	if !cert.NotBefore.Equal(now) || !cert.NotAfter.Equal(p.Validity.NotAfter(now)) {
		t.Errorf("validity %s..%s, want %s..%s", cert.NotBefore, cert.NotAfter, now, p.Validity.NotAfter(now))
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inters := x509.NewCertPool()
	inters.AddCert(s.Issuer())
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("issued certificate does not verify to the dev root: %v", err)
	}
	if cert.IsCA || cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
		t.Errorf("isCA=%v keyUsage=%b", cert.IsCA, cert.KeyUsage)
	}
}
