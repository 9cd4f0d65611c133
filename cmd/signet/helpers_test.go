package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-ca/signet/npki"
)

// goodPassword passes npki.CheckPassword.
const goodPassword = "Sign3t!pass"

// testDN is the NPKI folder name of the certificates newHolder makes.
const testDN = "cn=홍길동()0880012345678901,ou=KB,ou=personal4IB,o=Signet,c=kr"

// testCA is a CA that signs subscriber certificates the way Signet does:
// an issuer with O=Signet and an NPKI subject in C, O, OU, OU, CN order.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Signet Test CA", Organization: []string{"Signet"}, Country: []string{"KR"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// writePEM writes the CA certificate as a --ca-file.
func (ca *testCA) writePEM(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// npkiName is the NPKI subject of testDN as RDNs, most general first.
func npkiName(cn string) pkix.Name {
	return pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "KR"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Signet"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "personal4IB"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "KB"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn},
	}}
}

// issue signs a certificate for key with the given subject.
func (ca *testCA) issue(t *testing.T, key crypto.Signer, subject pkix.Name, serial *big.Int) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		NotAfter:     time.Date(2027, 1, 2, 14, 59, 59, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// holder is a subscriber's certificate stored in an NPKI folder.
type holder struct {
	home, dir string
	cert      *x509.Certificate
	key       crypto.Signer
}

// newHolder stores a fresh P-256 key (fast to make) and its certificate
// under a new home, encrypted with goodPassword.
func newHolder(t *testing.T, ca *testCA, serial int64) *holder {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := ca.issue(t, key, npkiName("홍길동()0880012345678901"), big.NewInt(serial))
	enc, err := npki.EncryptPKCS8(key, []byte(goodPassword))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	dir := npki.Dir(home, "Signet", testDN)
	if err := npki.Write(dir, cert.Raw, enc); err != nil {
		t.Fatal(err)
	}
	return &holder{home: home, dir: dir, cert: cert, key: key}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCLI runs the command line and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// testCert makes a certificate signed by parent, or self-signed.
func testCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEMFile(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
