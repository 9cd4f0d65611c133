package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/npki"
	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/store/storetest"
)

// relay is a real signetd (gRPC over TLS, PostgreSQL) serving the copy
// relay, and the global flags that reach it. The --ca-file holds both
// signetd's TLS root and the test CA that issued the holders' certificates,
// so that the receiving side can check the chain.
type relay struct {
	globals []string
}

func startRelay(t *testing.T, issuer *testCA) *relay {
	t.Helper()
	dir := t.TempDir()
	files, err := devca.Ensure(dir, "Signet", []string{"127.0.0.1"}, devca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	minter := evidencetest.NewMinter("signet-copy-test", time.Now)
	cfg := &server.Config{
		Audience: "signet-copy-test", Organization: "Signet", DatabaseURL: storetest.NewDatabase(t),
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", SubjectKeyFile: filepath.Join(dir, "subject.key"),
		Signer:     signer.Config{Chain: files.Intermediate, KMS: "softkms:", Key: files.IntermediateKey},
		CRLBaseURL: "http://127.0.0.1:9080/crl", OCSPURL: "http://127.0.0.1:9080/ocsp", IssuerURL: "http://127.0.0.1:9080/ca/issuer.crt",
	}
	cfg.TLS.Cert, cfg.TLS.Key = files.Server, files.ServerKey
	if err := os.WriteFile(cfg.SubjectKeyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range minter.Providers() {
		der, err := x509.MarshalPKIXPublicKey(p.Key)
		if err != nil {
			t.Fatal(err)
		}
		path := writePEMFile(t, dir, p.ID+".pem", "PUBLIC KEY", der)
		cfg.Providers = append(cfg.Providers, server.ProviderConfig{ID: p.ID, Kind: string(p.Kind), PublicKey: path})
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := server.Build(ctx, cfg, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var lis [2]net.Listener
	for i := range lis {
		if lis[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, server.Listeners{GRPC: lis[0], HTTP: lis[1]}) }()
	t.Cleanup(func() {
		cancel()
		<-done
		b.Close()
	})
	root, err := os.ReadFile(files.Root)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "trust.pem")
	trust := append(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issuer.cert.Raw})...)
	if err := os.WriteFile(caFile, trust, 0o600); err != nil {
		t.Fatal(err)
	}
	return &relay{globals: []string{"--server", lis[0].Addr().String(), "--ca-file", caFile, "--timeout", "10s"}}
}

// lockedBuffer is a stdout the test reads while the command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type sending struct {
	code           string
	stdout, stderr *lockedBuffer
	exit           chan int
}

var codeLine = regexp.MustCompile(`other device \(signet copy receive\): ([0-9]{6})\n`)

// send starts `signet copy send` and returns once it shows the code.
func (r *relay) send(t *testing.T, h *holder) *sending {
	t.Helper()
	pw := writeFile(t, goodPassword+"\n")
	s := &sending{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exit: make(chan int, 1)}
	args := append([]string{"copy", "send", "--cert", h.dir, "--password-file", pw, "--home", h.home}, r.globals...)
	go func() { s.exit <- run(context.Background(), args, s.stdout, s.stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := codeLine.FindStringSubmatch(s.stdout.String()); m != nil {
			s.code = m[1]
			return s
		}
		select {
		case code := <-s.exit:
			t.Fatalf("copy send exited %d: %s%s", code, s.stdout, s.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("copy send showed no code: %s%s", s.stdout, s.stderr)
	return nil
}

func (s *sending) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-s.exit:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("copy send did not finish: %s%s", s.stdout, s.stderr)
		return -1
	}
}

func (r *relay) receive(t *testing.T, home string, extra ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, append(append([]string{"copy", "receive", "--home", home}, extra...), r.globals...)...)
}

func TestCopy_SendReceiveBetweenTwoHomes(t *testing.T) {
	issuer := newTestCA(t)
	r := startRelay(t, issuer)
	h := newHolder(t, issuer, 11)
	s := r.send(t, h)

	home := t.TempDir()
	// The test CA's certificates are unknown to the relay's database, so
	// the status check needs --force (TestCopy_ReceiveRefusesAnUnknownCertificate).
	code, out, errOut := r.receive(t, home, "--code", s.code[:3]+" "+s.code[3:], "--force")
	if code != 0 {
		t.Fatalf("receive exited %d: %s%s", code, out, errOut)
	}
	if c := s.wait(t); c != 0 || !strings.Contains(s.stdout.String(), "copied") {
		t.Fatalf("send exited %d: %s%s", c, s.stdout, s.stderr)
	}
	dest := npki.Dir(home, "Signet", testDN)
	for _, name := range []string{npki.CertFile, npki.KeyFile} {
		sent, _ := os.ReadFile(filepath.Join(h.dir, name))
		got, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil || !bytes.Equal(sent, got) {
			t.Fatalf("%s: received file differs from the sent one (%v)", name, err)
		}
	}
	if _, _, err := loadKey(dest, []byte(goodPassword)); err != nil {
		t.Fatalf("the received pair does not open with the password: %v", err)
	}

	// The reverse direction is the same two commands on the other sides.
	back := &holder{home: home, dir: dest}
	s = r.send(t, back)
	prompt := copyStdin
	copyStdin = strings.NewReader(s.code + "\n")
	defer func() { copyStdin = prompt }()
	again := t.TempDir()
	if code, out, errOut := r.receive(t, again, "--force"); code != 0 || !strings.Contains(errOut, "Code shown on the sending device") {
		t.Fatalf("receive (prompted) exited %d: %s%s", code, out, errOut)
	}
	if c := s.wait(t); c != 0 {
		t.Fatalf("send back exited %d: %s%s", c, s.stdout, s.stderr)
	}
}

func TestCopy_WrongCodeThenRightOne(t *testing.T) {
	issuer := newTestCA(t)
	r := startRelay(t, issuer)
	h := newHolder(t, issuer, 12)
	s := r.send(t, h)
	wrong := s.code[:2] + "0000"
	if wrong == s.code {
		wrong = s.code[:2] + "0001"
	}
	home := t.TempDir()
	code, _, errOut := r.receive(t, home, "--code", wrong)
	if code != 1 || !strings.Contains(errOut, "the code did not match (2 of 3 tries left)") {
		t.Fatalf("wrong code: exit %d, %s", code, errOut)
	}
	if code, out, errOut := r.receive(t, home, "--code", s.code, "--force"); code != 0 {
		t.Fatalf("right code after a wrong one: exit %d: %s%s", code, out, errOut)
	}
	if c := s.wait(t); c != 0 || !strings.Contains(s.stderr.String(), "typed a wrong code (2 of 3 tries left)") {
		t.Fatalf("send exited %d: %s%s", c, s.stdout, s.stderr)
	}
	t.Logf("sender:\n%s%s\nreceiver (wrong code):\n%s", s.stdout, s.stderr, errOut)
}

func TestCopy_BurnedAfterThreeWrongCodes(t *testing.T) {
	issuer := newTestCA(t)
	r := startRelay(t, issuer)
	s := r.send(t, newHolder(t, issuer, 13))
	wrong := s.code[:2] + "0000"
	if wrong == s.code {
		wrong = s.code[:2] + "0001"
	}
	home := t.TempDir()
	var errOut string
	for range 3 {
		_, _, errOut = r.receive(t, home, "--code", wrong)
	}
	if !strings.Contains(errOut, "typed wrong 3 times: this code is spent") {
		t.Fatalf("third wrong code: %s", errOut)
	}
	if c := s.wait(t); c != 1 || !strings.Contains(s.stderr.String(), "this code is spent") {
		t.Fatalf("send exited %d: %s", c, s.stderr)
	}
	if _, _, errOut = r.receive(t, home, "--code", s.code); !strings.Contains(errOut, "no copy is waiting for this code") {
		t.Fatalf("right code on a burned session: %s", errOut)
	}
}

func TestCopy_ReceiveRefusesAnotherCertificateInTheFolderUnlessForced(t *testing.T) {
	issuer := newTestCA(t)
	r := startRelay(t, issuer)
	h := newHolder(t, issuer, 14)
	there := newHolder(t, issuer, 15) // same DN, another certificate
	s := r.send(t, h)
	code, _, errOut := r.receive(t, there.home, "--code", s.code)
	if code != 1 || !strings.Contains(errOut, "already holds another certificate") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if c := s.wait(t); c != 1 || !strings.Contains(s.stderr.String(), "cancelled") {
		t.Fatalf("send exited %d: %s", c, s.stderr)
	}
	s = r.send(t, h)
	if code, out, errOut := r.receive(t, there.home, "--code", s.code, "--force"); code != 0 {
		t.Fatalf("--force: exit %d: %s%s", code, out, errOut)
	}
	if old, _ := os.ReadFile(filepath.Join(there.dir, npki.CertFile+".old")); !bytes.Equal(old, there.cert.Raw) {
		t.Fatal("the replaced certificate was not kept as .old")
	}
	s.wait(t)
}

// The receiving side asks the server about the certificate, as import
// does, and does not save one the server does not know, after the copy.
func TestCopy_ReceiveRefusesAnUnknownCertificate(t *testing.T) {
	issuer := newTestCA(t)
	r := startRelay(t, issuer)
	s := r.send(t, newHolder(t, issuer, 16))
	home := t.TempDir()
	code, _, errOut := r.receive(t, home, "--code", s.code)
	if code != 1 || !strings.Contains(errOut, "was not issued by the CA at --server") || !strings.Contains(errOut, "not saved (--force saves it anyway)") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if c := s.wait(t); c != 1 || !strings.Contains(s.stderr.String(), "cancelled") {
		t.Fatalf("send exited %d: %s", c, s.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "NPKI")); !os.IsNotExist(err) {
		t.Errorf("a refused copy wrote into the NPKI folder: %v", err)
	}
}

func TestCopy_ReceiveWithoutSession(t *testing.T) {
	issuer := newTestCA(t)
	r := startRelay(t, issuer)
	code, _, errOut := r.receive(t, t.TempDir(), "--code", "123456")
	if code != 1 || !strings.Contains(errOut, "no copy is waiting for this code") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = r.receive(t, t.TempDir(), "--code", "12345x")
	if code != 2 || !strings.Contains(errOut, "6 digits") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
