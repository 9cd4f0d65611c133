package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/signet-ca/signet/npki"
)

func TestNewKeyAndCSR_MakesSignedRequestForNewKey(t *testing.T) {
	// rsa3072 and rsa4096 only differ in size; generating them is slow.
	for _, kt := range []string{"rsa2048", "ecdsa-p256", "ecdsa-p384"} {
		t.Run(kt, func(t *testing.T) {
			key, der, err := newKeyAndCSR(kt, requestFor(" 홍길동 "))
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := csr.CheckSignature(); err != nil {
				t.Errorf("CSR signature: %v", err)
			}
			if csr.Subject.CommonName != "홍길동" {
				t.Errorf("CN = %q", csr.Subject.CommonName)
			}
			pub, ok := csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
			if !ok || !pub.Equal(key.Public()) {
				t.Errorf("CSR is not for the generated key")
			}
			switch k := key.(type) {
			case *rsa.PrivateKey:
				if kt != "rsa2048" || k.N.BitLen() != 2048 {
					t.Errorf("%s made an RSA-%d key", kt, k.N.BitLen())
				}
				if csr.SignatureAlgorithm != x509.SHA256WithRSA {
					t.Errorf("signature algorithm %v, want SHA256-RSA (the NPKI norm)", csr.SignatureAlgorithm)
				}
			case *ecdsa.PrivateKey:
				want := map[string]elliptic.Curve{"ecdsa-p256": elliptic.P256(), "ecdsa-p384": elliptic.P384()}[kt]
				if k.Curve != want {
					t.Errorf("%s made a key on %s", kt, k.Curve.Params().Name)
				}
			default:
				t.Errorf("%s made a %T", kt, key)
			}
		})
	}
	for _, kt := range []string{"rsa3072", "rsa4096"} {
		if checkKeyType(kt) != nil {
			t.Errorf("%s is refused", kt)
		}
	}
	if _, _, err := newKeyAndCSR("rsa1024", requestFor("x")); err == nil {
		t.Error("rsa1024 accepted")
	}
}

func TestRenewalRequest_KeepsExactSubject(t *testing.T) {
	ca := newTestCA(t)
	h := newHolder(t, ca, 3)
	_, der, err := newKeyAndCSR("ecdsa-p256", renewalRequest(h.cert))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(csr.RawSubject, h.cert.RawSubject) {
		t.Errorf("renewal CSR subject %q differs from the certificate's %q", csr.Subject, h.cert.Subject)
	}
}

func TestReadPassword(t *testing.T) {
	tests := []struct{ content, want string }{
		{"Sign3t!pass\n", "Sign3t!pass"},
		{"Sign3t!pass", "Sign3t!pass"},
		{"Sign3t!pass\r\nsecond line\n", "Sign3t!pass"},
		{" spaced pass 1! \n", " spaced pass 1! "}, // spaces belong to the password
	}
	for _, tt := range tests {
		got, err := readPassword(writeFile(t, tt.content))
		if err != nil || string(got) != tt.want {
			t.Errorf("readPassword(%q) = %q, %v; want %q", tt.content, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "\n", "\r\nSign3t!pass\n"} {
		if _, err := readPassword(writeFile(t, bad)); err == nil || !strings.Contains(err.Error(), "first line is empty") {
			t.Errorf("readPassword(%q) = %v, want an empty-line error", bad, err)
		}
	}
	if _, err := readPassword("/nonexistent/pw"); err == nil {
		t.Error("missing file accepted")
	}
}

func TestNewPassword_AppliesPasswordRule(t *testing.T) {
	if _, err := newPassword(writeFile(t, goodPassword+"\n")); err != nil {
		t.Errorf("good password refused: %v", err)
	}
	_, err := newPassword(writeFile(t, "abcdefghij1\n"))
	if !errors.Is(err, npki.ErrWeakPassword) || !strings.Contains(err.Error(), "no symbol") {
		t.Errorf("weak password: %v", err)
	}
}

func TestIssuedCertificate_RefusesCertificateForAnotherKey(t *testing.T) {
	ca := newTestCA(t)
	mine, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := ca.issue(t, other, npkiName("x"), big.NewInt(9))
	if _, err := issuedCertificate(cert.Raw, mine); err == nil || !strings.Contains(err.Error(), "for another key") {
		t.Errorf("mismatched certificate: %v", err)
	}
	if got, err := issuedCertificate(cert.Raw, other); err != nil || got.SerialNumber.Int64() != 9 {
		t.Errorf("matching certificate: %v", err)
	}
	if _, err := issuedCertificate(nil, mine); err == nil {
		t.Error("empty DER accepted")
	}
	if _, err := issuedCertificate([]byte("junk"), mine); err == nil {
		t.Error("junk DER accepted")
	}
}
