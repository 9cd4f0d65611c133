package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/npki"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// fakeEnrollment answers GetCertificate from canned records, as signetd's
// public listener would.
type fakeEnrollment struct {
	signetv1.UnimplementedEnrollmentServiceServer
	mu      sync.Mutex
	records map[string]*signetv1.Certificate
}

func (f *fakeEnrollment) GetCertificate(_ context.Context, r *signetv1.GetCertificateRequest) (*signetv1.GetCertificateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec, ok := f.records[r.GetSerial()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no certificate %s", r.GetSerial())
	}
	return &signetv1.GetCertificateResponse{Certificate: rec}, nil
}

// transferPKI is Signet's hierarchy in miniature: a root (the --ca-file
// trust anchor, which also signs the server's TLS certificate) and an
// issuing intermediate that the server hands out as the chain.
type transferPKI struct {
	t                *testing.T
	root, inter      *x509.Certificate
	interKey         crypto.Signer
	caFile, bothFile string // root only; root and intermediate
	addr             string
	fake             *fakeEnrollment
	serial           int64
}

func newTransferPKI(t *testing.T) *transferPKI {
	t.Helper()
	dir := t.TempDir()
	root, rootKey := caCert(t, "Signet Root", nil, nil)
	inter, interKey := caCert(t, "Signet Issuing CA", root, rootKey)
	server, serverKey := testCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, root, rootKey)
	p := &transferPKI{t: t, root: root, inter: inter, interKey: interKey, fake: &fakeEnrollment{records: map[string]*signetv1.Certificate{}}, serial: 100}
	p.caFile = writePEMFile(t, dir, "root.pem", "CERTIFICATE", root.Raw)
	both := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})...)
	p.bothFile = filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(p.bothFile, both, 0o600); err != nil {
		t.Fatal(err)
	}

	tc := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{server.Raw}, PrivateKey: serverKey}}, MinVersion: tls.VersionTLS12}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(tc)))
	signetv1.RegisterEnrollmentServiceServer(g, p.fake)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	p.addr = lis.Addr().String()
	return p
}

// caCert makes a CA certificate valid for ten years, as CA certificates
// outlive the subscriber certificates they sign.
func caCert(t *testing.T, cn string, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := newP256(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"Signet"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
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

// issue makes an NPKI subscriber certificate for pub, signed by the
// intermediate, and records it on the fake server with st.
func (p *transferPKI) issue(pub crypto.PublicKey, st signetv1.CertificateStatus) *x509.Certificate {
	p.t.Helper()
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      npkiName("홍길동()0880012345678901"),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.inter, pub, p.interKey)
	if err != nil {
		p.t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	p.setRecord(cert, st)
	return cert
}

func (p *transferPKI) setRecord(cert *x509.Certificate, st signetv1.CertificateStatus) {
	p.fake.mu.Lock()
	defer p.fake.mu.Unlock()
	p.fake.records[cert.SerialNumber.Text(16)] = &signetv1.Certificate{Serial: cert.SerialNumber.Text(16), Status: st,
		Profile: "personal-banking", Der: cert.Raw, Chain: [][]byte{p.inter.Raw}}
}

// args puts the global flags for this PKI before a command line.
func (p *transferPKI) args(home string, args ...string) []string {
	return append([]string{"--server", p.addr, "--ca-file", p.caFile, "--home", home}, args...)
}

// folder stores cert and an encrypted key file as an NPKI folder under a
// new home and returns home and folder.
func folder(t *testing.T, cert *x509.Certificate, encKey []byte) (string, string) {
	t.Helper()
	home := t.TempDir()
	dir := npki.Dir(home, "Signet", testDN)
	if err := npki.Write(dir, cert.Raw, encKey); err != nil {
		t.Fatal(err)
	}
	return home, dir
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openFolder decrypts the key of dir with pw and checks it against want.
func openFolder(t *testing.T, dir, pw string, want crypto.PublicKey) *npki.Key {
	t.Helper()
	certDER, enc, err := npki.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, err := npki.OpenKey(enc, []byte(pw))
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	if !sameKey(cert, k.Signer) || !k.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(want) {
		t.Fatalf("%s: not the expected pair", dir)
	}
	return k
}

func TestExportImport_PFXRoundTrip(t *testing.T) {
	defer func(n int) { pfxIterations = n }(pfxIterations)
	pfxIterations = 2048 // the pkcs12.Modern count; production uses more
	p := newTransferPKI(t)
	key := newP256(t)
	cert := p.issue(key.Public(), signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE)
	r := bytes.Repeat([]byte{0x3c}, 20)
	enc, err := (&npki.Key{Signer: key, RandomNum: r}).Seal([]byte(goodPassword), npki.PBES2AES)
	if err != nil {
		t.Fatal(err)
	}
	home, dir := folder(t, cert, enc)
	pw := writeFile(t, goodPassword+"\n")
	pfx := filepath.Join(t.TempDir(), "cert.pfx")

	code, out, errOut := runCLI(t, p.args(home, "export", "--cert", dir, "--password-file", pw, "--pfx", pfx)...)
	if code != cli.ExitOK {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "2 chain certificates") {
		t.Errorf("export output %q: want the intermediate and root in the file", out)
	}
	// An existing file is never overwritten.
	if code, _, errOut := runCLI(t, p.args(home, "export", "--cert", dir, "--password-file", pw, "--pfx", pfx)...); code != cli.ExitFail || !strings.Contains(errOut, "does not overwrite") {
		t.Errorf("second export: exit %d: %s", code, errOut)
	}

	if openssl, err := exec.LookPath("openssl"); err == nil {
		info, err := exec.Command(openssl, "pkcs12", "-info", "-nokeys", "-in", pfx, "-passin", "file:"+pw).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl pkcs12 -info: %v: %s", err, info)
		}
		for _, want := range []string{"PBES2, PBKDF2, AES-256-CBC", "MAC: sha256", "CN = Signet Issuing CA", "CN = Signet Root"} {
			if !strings.Contains(string(info), want) {
				t.Errorf("openssl pkcs12 -info output lacks %q:\n%s", want, info)
			}
		}
		if n := strings.Count(string(info), "-----BEGIN CERTIFICATE-----"); n != 3 {
			t.Errorf("openssl found %d certificates, want 3", n)
		}
	} else {
		t.Log("openssl not on PATH: the PFX is checked by the import below only")
	}

	other := t.TempDir()
	code, out, errOut = runCLI(t, p.args(other, "import", "--pfx", pfx, "--password-file", pw)...)
	if code != cli.ExitOK {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	dest := npki.Dir(other, "Signet", testDN)
	if !strings.Contains(out, "active") || !strings.Contains(out, testDN) {
		t.Errorf("import output %q", out)
	}
	k := openFolder(t, dest, goodPassword, key.Public())
	if k.Scheme != npki.PBES2AES {
		t.Errorf("imported key is %v, want the AES default", k.Scheme)
	}
	if !bytes.Equal(k.RandomNum, r) {
		t.Errorf("randomNum after PFX export and import = %x, want %x", k.RandomNum, r)
	}

	// A wrong PFX password is refused with a clear message.
	bad := writeFile(t, "Wrong-pass1!\n")
	if code, _, errOut := runCLI(t, p.args(t.TempDir(), "import", "--pfx", pfx, "--password-file", bad)...); code != cli.ExitFail || !strings.Contains(errOut, "wrong password") {
		t.Errorf("wrong PFX password: exit %d: %s", code, errOut)
	}
}

// npkiFixture is a signPri.key written by another implementation
// (npki/testdata/README.md), with the plain key it holds.
type npkiFixture struct {
	file, plain string
	scheme      npki.Scheme
	randomNum   bool
}

var npkiFixtures = []npkiFixture{
	{"openssl-seed-sha1.key", "key-rsa.pem", npki.PBES2SEED, false},
	{"openssl-seed-sha256.key", "key-p256.pem", npki.PBES2SEED, false},
	{"openssl-aes256.key", "key-rsa.pem", npki.PBES2AES, false},
	{"pbes2-seed-rand.key", "key-rsa.pem", npki.PBES2SEED, true},
	{"seedcbcwithsha1-rand.key", "key-rsa.pem", npki.SEEDCBCWithSHA1, true},
	{"seedcbc-fixediv-rand.key", "key-rsa.pem", npki.SEEDCBCFixedIV, true},
}

// fixturePassword is the password of the npki/testdata key files.
const fixturePassword = "한글Passw0rd!#"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "npki", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixturePublicKey(t *testing.T, name string) crypto.PublicKey {
	t.Helper()
	block, _ := pem.Decode(readFixture(t, name))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer).Public()
}

// TestImport_NPKIEveryKeyFileVariant imports folders whose signPri.key was
// written by OpenSSL or the independent Python writer, in every scheme, and
// checks that the copy opens to the same key with randomNum kept.
func TestImport_NPKIEveryKeyFileVariant(t *testing.T) {
	p := newTransferPKI(t)
	pw := writeFile(t, fixturePassword+"\n")
	r, err := hex.DecodeString(strings.TrimSpace(string(readFixture(t, "randomnum.hex"))))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range npkiFixtures {
		t.Run(f.file, func(t *testing.T) {
			pub := fixturePublicKey(t, f.plain)
			cert := p.issue(pub, signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE)
			src, _ := folder(t, cert, readFixture(t, f.file))
			home := t.TempDir()
			args := []string{"import", "--npki", filepath.Join(src, "NPKI"), "--password-file", pw}
			want := npki.PBES2AES
			if i%2 == 1 {
				args = append(args, "--legacy")
				want = npki.PBES2SEED
			}
			code, _, errOut := runCLI(t, p.args(home, args...)...)
			if code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			k := openFolder(t, npki.Dir(home, "Signet", testDN), fixturePassword, pub)
			if k.Scheme != want {
				t.Errorf("written as %v, want %v", k.Scheme, want)
			}
			if f.randomNum && !bytes.Equal(k.RandomNum, r) {
				t.Errorf("randomNum %x, want %x", k.RandomNum, r)
			}
		})
	}
}

func TestImport_RefusesRevokedAndExpiredUnlessForced(t *testing.T) {
	p := newTransferPKI(t)
	pw := writeFile(t, goodPassword+"\n")
	key := newP256(t)
	enc, err := npki.EncryptPKCS8(key, []byte(goodPassword))
	if err != nil {
		t.Fatal(err)
	}

	revoked := p.issue(key.Public(), signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED)
	src, _ := folder(t, revoked, enc)
	home := t.TempDir()
	code, _, errOut := runCLI(t, p.args(home, "import", "--npki", src, "--password-file", pw)...)
	if code != cli.ExitFail || !strings.Contains(errOut, "is revoked") || !strings.Contains(errOut, "--force") {
		t.Fatalf("revoked: exit %d: %s", code, errOut)
	}
	if dirs, _ := npki.List(home); len(dirs) != 0 {
		t.Fatalf("refused import wrote %v", dirs)
	}
	if code, _, errOut := runCLI(t, p.args(home, "import", "--npki", src, "--password-file", pw, "--force")...); code != cli.ExitOK {
		t.Fatalf("revoked with --force: exit %d: %s", code, errOut)
	}

	active := p.issue(key.Public(), signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE)
	src, _ = folder(t, active, enc)
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return active.NotAfter.Add(time.Hour) }
	code, _, errOut = runCLI(t, p.args(t.TempDir(), "import", "--npki", src, "--password-file", pw)...)
	if code != cli.ExitFail || !strings.Contains(errOut, "expired") {
		t.Fatalf("expired: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, p.args(t.TempDir(), "import", "--npki", src, "--password-file", pw, "--force")...); code != cli.ExitOK {
		t.Fatalf("expired with --force: exit %d: %s", code, errOut)
	}
}

func TestImport_ChecksPairChainAndServer(t *testing.T) {
	p := newTransferPKI(t)
	pw := writeFile(t, goodPassword+"\n")
	key := newP256(t)
	enc, err := npki.EncryptPKCS8(key, []byte(goodPassword))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("key of another certificate", func(t *testing.T) {
		cert := p.issue(newP256(t).Public(), signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE)
		src, _ := folder(t, cert, enc)
		code, _, errOut := runCLI(t, p.args(t.TempDir(), "import", "--npki", src, "--password-file", pw, "--force")...)
		if code != cli.ExitFail || !strings.Contains(errOut, "do not belong together") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("another CA, even forced", func(t *testing.T) {
		ca := newTestCA(t)
		cert := ca.issue(t, key, npkiName("홍길동()0880012345678901"), big.NewInt(4242))
		src, _ := folder(t, cert, enc)
		code, _, errOut := runCLI(t, p.args(t.TempDir(), "import", "--npki", src, "--password-file", pw, "--force")...)
		if code != cli.ExitFail || !strings.Contains(errOut, "does not lead to the trust anchor") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("server holds a different certificate under the serial", func(t *testing.T) {
		cert := p.issue(key.Public(), signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE)
		other := p.issue(key.Public(), signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE)
		p.fake.mu.Lock()
		p.fake.records[cert.SerialNumber.Text(16)].Der = other.Raw
		p.fake.mu.Unlock()
		src, _ := folder(t, cert, enc)
		code, _, errOut := runCLI(t, p.args(t.TempDir(), "import", "--npki", src, "--password-file", pw, "--force")...)
		if code != cli.ExitFail || !strings.Contains(errOut, "is not this one") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		cert := p.issue(key.Public(), signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE)
		src, _ := folder(t, cert, enc)
		bad := writeFile(t, "Wrong-pass1!\n")
		code, _, errOut := runCLI(t, p.args(t.TempDir(), "import", "--npki", src, "--password-file", bad)...)
		if code != cli.ExitFail || !strings.Contains(errOut, "wrong certificate password") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	t.Run("server unreachable", func(t *testing.T) {
		cert := p.issue(key.Public(), signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE)
		src, _ := folder(t, cert, enc)
		args := []string{"--server", "127.0.0.1:1", "--timeout", "2s", "--home", t.TempDir(), "import", "--npki", src, "--password-file", pw}
		code, _, errOut := runCLI(t, append([]string{"--ca-file", p.bothFile}, args...)...)
		if code != cli.ExitFail || !strings.Contains(errOut, "cannot check the status") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		// Forced, the chain still has to verify: from a bundle with the
		// intermediate it does; from the root alone it cannot.
		if code, _, errOut := runCLI(t, append([]string{"--ca-file", p.bothFile}, append(args, "--force")...)...); code != cli.ExitOK {
			t.Fatalf("forced with bundle: exit %d: %s", code, errOut)
		}
		if code, _, errOut := runCLI(t, append([]string{"--ca-file", p.caFile}, append(args, "--force")...)...); code != cli.ExitFail || !strings.Contains(errOut, "trust anchor") {
			t.Fatalf("forced with root only: exit %d: %s", code, errOut)
		}
	})
}

func TestExport_NPKIFolderDefaultAndLegacy(t *testing.T) {
	p := newTransferPKI(t)
	key := newP256(t)
	cert := p.issue(key.Public(), signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE)
	enc, err := (&npki.Key{Signer: key, RandomNum: bytes.Repeat([]byte{7}, 20)}).Seal([]byte(goodPassword), npki.PBES2AES)
	if err != nil {
		t.Fatal(err)
	}
	home, dir := folder(t, cert, enc)
	pw := writeFile(t, goodPassword+"\n")
	for _, tt := range []struct {
		legacy bool
		want   npki.Scheme
	}{{false, npki.PBES2AES}, {true, npki.PBES2SEED}} {
		usb := filepath.Join(t.TempDir(), "NPKI") // the NPKI folder itself is accepted too
		args := []string{"export", "--cert", dir, "--password-file", pw, "--npki", usb}
		if tt.legacy {
			args = append(args, "--legacy")
		}
		if code, _, errOut := runCLI(t, p.args(home, args...)...); code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		k := openFolder(t, npki.Dir(filepath.Dir(usb), "Signet", testDN), goodPassword, key.Public())
		if k.Scheme != tt.want || !bytes.Equal(k.RandomNum, bytes.Repeat([]byte{7}, 20)) {
			t.Errorf("legacy=%v: scheme %v, randomNum %x", tt.legacy, k.Scheme, k.RandomNum)
		}
	}
	if code, _, errOut := runCLI(t, p.args(home, "export", "--cert", dir, "--password-file", pw, "--npki", home)...); code != cli.ExitUsage || !strings.Contains(errOut, "already is") {
		t.Errorf("export onto itself: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, p.args(home, "export", "--cert", dir, "--password-file", pw, "--pfx", "x.pfx", "--legacy")...); code != cli.ExitUsage || !strings.Contains(errOut, "--legacy applies to --npki only") {
		t.Errorf("--pfx --legacy: exit %d: %s", code, errOut)
	}
}

// passwdHolder is a folder whose key carries a randomNum, encrypted with
// goodPassword.
func passwdHolder(t *testing.T) (string, *ecdsa.PrivateKey) {
	t.Helper()
	ca := newTestCA(t)
	key := newP256(t)
	cert := ca.issue(t, key, npkiName("홍길동()0880012345678901"), big.NewInt(9))
	enc, err := (&npki.Key{Signer: key, RandomNum: bytes.Repeat([]byte{9}, 20)}).Seal([]byte(goodPassword), npki.PBES2SEED)
	if err != nil {
		t.Fatal(err)
	}
	_, dir := folder(t, cert, enc)
	return dir, key
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestPasswd(t *testing.T) {
	oldPW := writeFile(t, goodPassword+"\n")
	newPW := writeFile(t, "N3w-password!\n")

	t.Run("changes the password and keeps key, randomNum and SEED", func(t *testing.T) {
		dir, key := passwdHolder(t)
		code, _, errOut := runCLI(t, "passwd", "--cert", dir, "--password-file", oldPW, "--new-password-file", newPW)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		k := openFolder(t, dir, "N3w-password!", key.Public())
		if k.Scheme != npki.PBES2SEED || !bytes.Equal(k.RandomNum, bytes.Repeat([]byte{9}, 20)) {
			t.Errorf("scheme %v, randomNum %x", k.Scheme, k.RandomNum)
		}
		if _, enc, _ := npki.Read(dir); enc != nil {
			if _, err := npki.OpenKey(enc, []byte(goodPassword)); err == nil {
				t.Error("the old password still opens the key")
			}
		}
		if got := entries(t, dir); len(got) != 2 {
			t.Errorf("folder holds %v, want only the pair (no .old, no temporary file)", got)
		}
	})
	t.Run("wrong current password", func(t *testing.T) {
		dir, key := passwdHolder(t)
		bad := writeFile(t, "Wrong-pass1!\n")
		code, _, errOut := runCLI(t, "passwd", "--cert", dir, "--password-file", bad, "--new-password-file", newPW)
		if code != cli.ExitFail || !strings.Contains(errOut, "wrong certificate password") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		openFolder(t, dir, goodPassword, key.Public())
	})
	t.Run("weak or unchanged new password", func(t *testing.T) {
		dir, _ := passwdHolder(t)
		weak := writeFile(t, "short1!\n")
		if code, _, errOut := runCLI(t, "passwd", "--cert", dir, "--password-file", oldPW, "--new-password-file", weak); code != cli.ExitUsage || !strings.Contains(errOut, "at least 10 characters") {
			t.Errorf("weak: exit %d: %s", code, errOut)
		}
		if code, _, errOut := runCLI(t, "passwd", "--cert", dir, "--password-file", oldPW, "--new-password-file", oldPW); code != cli.ExitUsage || !strings.Contains(errOut, "same as the current") {
			t.Errorf("same: exit %d: %s", code, errOut)
		}
	})
	t.Run("keeps a renewal's previous key", func(t *testing.T) {
		dir, key := passwdHolder(t)
		prev := filepath.Join(dir, npki.KeyFile+".old")
		if err := os.WriteFile(prev, []byte("previous key"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCLI(t, "passwd", "--cert", dir, "--password-file", oldPW, "--new-password-file", newPW)
		if code != cli.ExitFail || !strings.Contains(errOut, "kept by a renewal") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if b, _ := os.ReadFile(prev); string(b) != "previous key" {
			t.Error("the previous key was overwritten")
		}
		openFolder(t, dir, goodPassword, key.Public())
	})
	for _, step := range []string{"backup", "temp", "rename", "verify"} {
		t.Run("failure after "+step, func(t *testing.T) {
			dir, key := passwdHolder(t)
			defer func(f func(string) error) { passwdStep = f }(passwdStep)
			passwdStep = func(s string) error {
				if s == step {
					return os.ErrDeadlineExceeded // any error
				}
				return nil
			}
			code, _, errOut := runCLI(t, "passwd", "--cert", dir, "--password-file", oldPW, "--new-password-file", newPW)
			if code != cli.ExitFail {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			openFolder(t, dir, goodPassword, key.Public())
			if got := entries(t, dir); len(got) != 2 {
				t.Errorf("folder holds %v after the failure, want only the pair", got)
			}
		})
	}
}
