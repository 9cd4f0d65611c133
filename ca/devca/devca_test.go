package devca

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			t.Fatalf("%s: unexpected PEM block %q", path, blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, c)
	}
	if len(bytes.TrimSpace(b)) != 0 {
		t.Fatalf("%s: trailing non-PEM data", path)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no certificates", path)
	}
	return out
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyServer checks that server.pem (leaf + bundled intermediate)
// verifies to root.pem for each host as a TLS server.
func verifyServer(t *testing.T, f Files, hosts ...string) *x509.Certificate {
	t.Helper()
	// Signed by the dev root, so that the issuing intermediate signs only
	// through the signature ledger.
	bundle := readCerts(t, f.Server)
	if len(bundle) != 1 {
		t.Fatalf("server.pem holds %d certificates, want the leaf alone", len(bundle))
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCerts(t, f.Root)[0])
	for _, h := range hosts {
		if _, err := bundle[0].Verify(x509.VerifyOptions{
			DNSName: h, Roots: roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", h, err)
		}
	}
	// The key on disk is the server certificate's key.
	if _, err := tls.LoadX509KeyPair(f.Server, f.ServerKey); err != nil {
		t.Errorf("server.pem and server_key.pem do not pair: %v", err)
	}
	return bundle[0]
}

func TestEnsure_WritesRootIntermediateAndVerifiableServerCert(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pki") // Ensure creates the directory
	f, err := Ensure(dir, "Signet", []string{"127.0.0.1", "localhost"}, RSA2048)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if f != filesIn(dir) {
		t.Errorf("Ensure returned %+v, want the files in %s", f, dir)
	}

	leaf := verifyServer(t, f, "127.0.0.1", "localhost")
	if leaf.IsCA {
		t.Error("server certificate is a CA")
	}
	for _, h := range []string{"other.example", "127.0.0.2"} {
		if err := leaf.VerifyHostname(h); err == nil {
			t.Errorf("server certificate is valid for %s, a host it does not name", h)
		}
	}
	if leaf.Subject.CommonName != "127.0.0.1" {
		t.Errorf("server CN = %q, want the first host", leaf.Subject.CommonName)
	}
	if d := time.Until(leaf.NotAfter); d <= 0 || d > 93*24*time.Hour {
		t.Errorf("server certificate valid for %s more, want about three months", d)
	}

	root := readCerts(t, f.Root)[0]
	if !root.IsCA || root.CheckSignatureFrom(root) != nil || !bytes.Equal(root.RawIssuer, root.RawSubject) {
		t.Errorf("root.pem is not a self-signed CA")
	}

	inter := readCerts(t, f.Intermediate)[0]
	if !inter.IsCA || !inter.BasicConstraintsValid {
		t.Error("intermediate is not a CA")
	}
	if inter.MaxPathLen != 0 || !inter.MaxPathLenZero {
		t.Errorf("intermediate MaxPathLen=%d MaxPathLenZero=%v, want pathLenConstraint 0", inter.MaxPathLen, inter.MaxPathLenZero)
	}
	if inter.KeyUsage&x509.KeyUsageCertSign == 0 || inter.KeyUsage&x509.KeyUsageCRLSign == 0 {
		t.Errorf("intermediate key usage %b lacks keyCertSign or cRLSign", inter.KeyUsage)
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Errorf("intermediate is not signed by the root: %v", err)
	}
	if inter.SignatureAlgorithm != x509.SHA256WithRSA || inter.PublicKeyAlgorithm != x509.RSA {
		t.Errorf("intermediate is %v signed with %v, want RSA with SHA-256 (NPKI norm)", inter.PublicKeyAlgorithm, inter.SignatureAlgorithm)
	}

	for _, p := range []string{f.RootKey, f.IntermediateKey, f.ServerKey} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
		}
	}
}

func TestEnsure_SecondCallKeepsCAsAndRenewsServerCert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f1, err := Ensure(dir, "Signet", []string{"127.0.0.1", "localhost"}, RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	rootDER := readCerts(t, f1.Root)[0].Raw
	interDER := readCerts(t, f1.Intermediate)[0].Raw
	rootKey, interKey := mustRead(t, f1.RootKey), mustRead(t, f1.IntermediateKey)
	leaf1 := readCerts(t, f1.Server)[0]
	serverKey1 := mustRead(t, f1.ServerKey)

	f2, err := Ensure(dir, "Signet", []string{"127.0.0.1", "localhost", "signet.test"}, RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	if f2 != f1 {
		t.Errorf("second Ensure returned %+v, want %+v", f2, f1)
	}
	if !bytes.Equal(readCerts(t, f2.Root)[0].Raw, rootDER) {
		t.Error("second Ensure replaced the root")
	}
	if !bytes.Equal(readCerts(t, f2.Intermediate)[0].Raw, interDER) {
		t.Error("second Ensure replaced the intermediate")
	}
	if !bytes.Equal(mustRead(t, f2.RootKey), rootKey) || !bytes.Equal(mustRead(t, f2.IntermediateKey), interKey) {
		t.Error("second Ensure replaced a CA key")
	}
	leaf2 := verifyServer(t, f2, "127.0.0.1", "localhost", "signet.test")
	if bytes.Equal(leaf2.Raw, leaf1.Raw) || leaf2.SerialNumber.Cmp(leaf1.SerialNumber) == 0 {
		t.Error("second Ensure kept the old server certificate")
	}
	if bytes.Equal(mustRead(t, f2.ServerKey), serverKey1) {
		t.Error("second Ensure kept the old server key")
	}
}

func TestEnsure_NoHostsIsAnErrorNotAPanic(t *testing.T) {
	t.Parallel()
	var err error
	panicked := func() (p any) {
		defer func() { p = recover() }()
		_, err = Ensure(t.TempDir(), "Signet", nil, RSA2048)
		return nil
	}()
	if panicked != nil {
		t.Fatalf("Ensure with no hosts panicked: %v", panicked)
	}
	if err == nil {
		t.Error("Ensure with no hosts succeeded, want an error")
	}
}

func TestEnsure_ECDSAKeepsItsTypeAndRefusesAnother(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, err := Ensure(dir, "Signet", []string{"127.0.0.1"}, ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	inter := readCerts(t, f.Intermediate)[0]
	if inter.PublicKeyAlgorithm != x509.ECDSA || inter.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("intermediate is %v signed with %v, want ECDSA P-256 signed with ECDSA-SHA256", inter.PublicKeyAlgorithm, inter.SignatureAlgorithm)
	}
	verifyServer(t, f, "127.0.0.1")
	if _, err := Ensure(dir, "Signet", []string{"127.0.0.1"}, ""); err != nil {
		t.Errorf("Ensure without a type on an ECDSA dir: %v, want it to keep ECDSA", err)
	}
	if _, err := Ensure(dir, "Signet", []string{"127.0.0.1"}, RSA2048); err == nil || !strings.Contains(err.Error(), "another --state-dir") {
		t.Errorf("Ensure(rsa-2048) on an ECDSA dir: %v, want a refusal naming --state-dir", err)
	}
}
