package identity_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/identity"
)

const idn = "9001011234567"

func random(t *testing.T) []byte {
	t.Helper()
	r := make([]byte, identity.RandomNumSize)
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// The VID is checked against OpenSSL: it builds the DER of
// SEQUENCE { idn PrintableString, R BIT STRING } from a text description
// and hashes it twice, so a mistake in our encoding cannot cancel out.
func TestVID_MatchesOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not on PATH")
	}
	r := random(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "vid.cnf")
	der := filepath.Join(dir, "vid.der")
	text := "asn1 = SEQUENCE:vid\n[vid]\nidn = PRINTABLESTRING:" + idn + "\nr = FORMAT:HEX,BITSTRING:" + hex.EncodeToString(r) + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("openssl", "asn1parse", "-genconf", conf, "-out", der, "-noout").CombinedOutput(); err != nil {
		t.Fatalf("openssl asn1parse: %v\n%s", err, out)
	}
	for _, h := range []struct {
		hash crypto.Hash
		name string
	}{{crypto.SHA256, "-sha256"}, {crypto.SHA1, "-sha1"}} {
		once, err := exec.Command("openssl", "dgst", h.name, "-binary", der).Output()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("openssl", "dgst", h.name, "-binary")
		cmd.Stdin = bytes.NewReader(once)
		want, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		got, err := identity.VID(h.hash, idn, r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%v VID = %x, OpenSSL computes %x", h.hash, got, want)
		}
	}
}

func certificate(t *testing.T, ext pkix.Extension) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(7),
		Subject:         pkix.Name{CommonName: "홍길동()0008812345678901234"},
		NotBefore:       time.Now().Add(-time.Hour),
		NotAfter:        time.Now().Add(time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtraExtensions: []pkix.Extension{ext},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("crypto/x509 cannot parse a certificate with identifyData: %v", err)
	}
	return c, der
}

func TestExtension_RoundTripAndVerify(t *testing.T) {
	r := random(t)
	vid, err := identity.VID(crypto.SHA256, idn, r)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := identity.Extension("홍길동", crypto.SHA256, vid)
	if err != nil {
		t.Fatal(err)
	}
	if ext.Critical {
		t.Error("the subjectAltName must not be critical: the subject is not empty (RFC 5280 4.2.1.6)")
	}
	c, _ := certificate(t, ext)
	d, err := identity.FromCertificate(c)
	if err != nil {
		t.Fatal(err)
	}
	if d.RealName != "홍길동" || len(d.VIDs) != 1 || d.VIDs[0].Hash != crypto.SHA256 || !bytes.Equal(d.VIDs[0].Value, vid) {
		t.Fatalf("identifyData = %+v", d)
	}
	if err := identity.Verify(c, idn, r); err != nil {
		t.Fatalf("Verify with the right idn and R: %v", err)
	}
	if err := identity.Verify(c, "9001011234568", r); !errors.Is(err, identity.ErrMismatch) {
		t.Errorf("Verify with another idn = %v, want ErrMismatch", err)
	}
	r[0] ^= 1
	if err := identity.Verify(c, idn, r); !errors.Is(err, identity.ErrMismatch) {
		t.Errorf("Verify with another R = %v, want ErrMismatch", err)
	}
}

func TestExtension_OpenSSLReadsIt(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not on PATH")
	}
	vid, err := identity.VID(crypto.SHA256, idn, random(t))
	if err != nil {
		t.Fatal(err)
	}
	ext, err := identity.Extension("홍길동", crypto.SHA256, vid)
	if err != nil {
		t.Fatal(err)
	}
	_, der := certificate(t, ext)
	cmd := exec.Command("openssl", "x509", "-inform", "DER", "-noout", "-text")
	cmd.Stdin = bytes.NewReader(der)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "1.2.410.200004.10.1.1") {
		t.Errorf("openssl does not show the identifyData otherName:\n%s", out)
	}
}

func TestFromCertificate_WithoutIdentifyData(t *testing.T) {
	c, _ := certificate(t, pkix.Extension{Id: []int{2, 5, 29, 19}, Value: []byte{0x30, 0}})
	if _, err := identity.FromCertificate(c); !errors.Is(err, identity.ErrNoIdentifyData) {
		t.Errorf("FromCertificate = %v, want ErrNoIdentifyData", err)
	}
	if err := identity.Verify(c, idn, []byte{1}); !errors.Is(err, identity.ErrNoIdentifyData) {
		t.Errorf("Verify = %v, want ErrNoIdentifyData", err)
	}
}

func TestCheckIDNBirth(t *testing.T) {
	for _, c := range []struct {
		idn, birth string
		ok         bool
	}{
		{"9001011234567", "19900101", true},
		{"0501013234567", "20050101", true},
		{"9001015234567", "19900101", true}, // foreign resident, 1900s
		{"9001011234567", "20900101", false},
		{"9001023234567", "19900102", false}, // 3 is the 2000s
		{"9001021234567", "19900101", false},
		{"900101123456", "19900101", false},
		{"900101-123456", "19900101", false},
	} {
		if err := identity.CheckIDNBirth(c.idn, c.birth); (err == nil) != c.ok {
			t.Errorf("CheckIDNBirth(%q, %q) = %v, want ok=%v", c.idn, c.birth, err, c.ok)
		}
		if err := identity.CheckIDNBirth(c.idn, c.birth); err != nil && strings.Contains(err.Error(), c.idn) {
			t.Errorf("the error repeats the resident number: %v", err)
		}
	}
}

func FuzzFromCertificateSAN(f *testing.F) {
	vid := make([]byte, 32)
	ext, _ := identity.Extension("홍길동", crypto.SHA256, vid)
	f.Add(ext.Value)
	f.Fuzz(func(t *testing.T, der []byte) {
		c := &x509.Certificate{Extensions: []pkix.Extension{{Id: []int{2, 5, 29, 17}, Value: der}}}
		_, _ = identity.FromCertificate(c)
	})
}
