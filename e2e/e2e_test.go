// Package e2e builds the real binaries, starts `signetd --dev` the way a new
// user does (private PostgreSQL cluster, dev CA, simulated providers), and
// drives the life cycle with the `signet` CLI, checking every certificate
// with openssl.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signet-ca/signet/internal/kst"
)

// cert is the CLI's --json output for one certificate.
type cert struct {
	Serial           string    `json:"serial"`
	Status           string    `json:"status"`
	RevocationReason string    `json:"revocation_reason"`
	NotBefore        time.Time `json:"not_before"`
	NotAfter         time.Time `json:"not_after"`
	Profile          string    `json:"profile"`
	Dir              string    `json:"dir"`
	Subject          string    `json:"subject"`
	ReplacedSerial   string    `json:"replaced_serial"`
}

type env struct {
	// seen is every CA signature a client was handed: certificates,
	// CRLs and OCSP responder certificates, for checkLedger.
	seen      seenSignatures
	t         *testing.T
	bin       string
	state     string
	home      string
	grpcAddr  string
	adminAddr string
	httpAddr  string
	pwFile    string
}

func TestLifeCycle_WithRealBinaries(t *testing.T) {
	for _, tool := range []string{"openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for the end-to-end test", tool)
		}
	}
	e := start(t)
	identity := []string{"--name", "홍길동", "--birth", "19900101", "--phone", "01012345678", "--carrier", "SKT",
		"--bank", "004", "--account", "12345678901234", "--password-file", e.pwFile}

	// 발급: enroll with validity shortened to 10 days so that renewal is open.
	const idn = "9001011234567"
	issued := e.signetJSON(append([]string{"enroll", "--profile", "personal-banking", "--idn", idn}, identity...)...)
	e.checkCertificate(issued)
	e.seen.cert(e.t, "subscriber", e.readDER(issued))
	if want := endOfDayKST(issued.NotBefore.Add(240 * time.Hour)); !issued.NotAfter.Equal(want) {
		t.Errorf("issued notAfter %v, want 23:59:59 KST ten days on: %v", issued.NotAfter.In(kst.Zone), want)
	}
	if st := e.signetJSON("status", "--cert", issued.Dir); st.Status != "active" || st.Serial != issued.Serial {
		t.Errorf("status after enroll: %+v", st)
	}
	e.wantOCSP(issued, "good", "")
	e.wantCRL(issued, true)

	// 본인확인: the certificate's VID proves it is this person's, and no
	// one else's, from the number and the R in the key file.
	idnFile := filepath.Join(t.TempDir(), "idn")
	if err := os.WriteFile(idnFile, []byte(idn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := e.signet("verify-id", "--cert", issued.Dir, "--idn-file", idnFile, "--password-file", e.pwFile); !strings.Contains(string(out), "홍길동") {
		t.Errorf("signet verify-id: %s", out)
	}
	if out, err := e.signetTry("verify-id", "--cert", issued.Dir, "--idn", "9001011234568", "--password-file", e.pwFile); err == nil || !strings.Contains(string(out), "NOT the holder") {
		t.Errorf("signet verify-id with another number: %v\n%s; want a refusal", err, out)
	}

	// 인증서 로그인: a bank signs its customer in with the certificate.
	var signedIn struct {
		Serial       string `json:"serial"`
		Registration string `json:"registration"`
	}
	if err := json.Unmarshal(e.signet("login", "--cert", issued.Dir, "--password-file", e.pwFile), &signedIn); err != nil ||
		signedIn.Serial != issued.Serial || signedIn.Registration != "signet" {
		t.Errorf("signet login: %+v (%v), want certificate %s registered by signet", signedIn, err, issued.Serial)
	}

	// 효력정지 with the key, 효력회복 with identity checks.
	e.signet("suspend", "--cert", issued.Dir, "--password-file", e.pwFile)
	e.wantStatus(issued.Serial, "suspended", "certificateHold")
	e.wantOCSP(issued, "revoked", "certificateHold")
	e.wantCRL(issued, false)
	e.signet(append([]string{"resume", "--cert", issued.Dir}, identity[:len(identity)-2]...)...)
	e.wantStatus(issued.Serial, "active", "")
	e.wantOCSP(issued, "good", "")
	e.wantCRL(issued, true)

	// 갱신: renew with the current key; remaining days carry over.
	renewed := e.signetJSON("renew", "--cert", issued.Dir, "--password-file", e.pwFile, "--idn-file", idnFile)
	e.checkCertificate(renewed)
	e.seen.cert(e.t, "subscriber", e.readDER(renewed))
	// The renewed key has a new R, and the new VID is made from it.
	e.signet("verify-id", "--cert", renewed.Dir, "--idn-file", idnFile, "--password-file", e.pwFile)
	if want := issued.NotAfter.Add(240 * time.Hour); !renewed.NotAfter.Equal(want) {
		t.Errorf("renewed notAfter %v, want old notAfter + validity %v", renewed.NotAfter, want)
	}
	e.wantStatus(issued.Serial, "revoked", "superseded")
	e.wantOCSP(issued, "revoked", "superseded")
	e.wantCRL(issued, false)
	e.wantCRL(renewed, true)

	// 재발급: reissue after "losing" the key keeps the notAfter.
	reissued := e.signetJSON(append([]string{"reissue", "--profile", "personal-banking", "--idn", idn}, identity...)...)
	e.checkCertificate(reissued)
	e.seen.cert(e.t, "subscriber", e.readDER(reissued))
	if !reissued.NotAfter.Equal(renewed.NotAfter) {
		t.Errorf("reissued notAfter %v, want the renewed %v", reissued.NotAfter, renewed.NotAfter)
	}
	e.wantStatus(renewed.Serial, "revoked", "superseded")

	// 폐지: revoke with the key.
	e.signet("revoke", "--cert", reissued.Dir, "--password-file", e.pwFile, "--reason", "keyCompromise")
	e.wantStatus(reissued.Serial, "revoked", "keyCompromise")
	if out, err := e.signetTry("login", "--cert", reissued.Dir, "--password-file", e.pwFile); err == nil || !strings.Contains(string(out), "revoked") {
		t.Errorf("signet login with a revoked certificate: %v\n%s; want a refusal naming the revocation", err, out)
	}
	e.wantOCSP(reissued, "revoked", "keyCompromise")
	e.wantCRL(reissued, false)

	var listed []cert
	if err := json.Unmarshal(e.signet("list"), &listed); err != nil || len(listed) == 0 {
		t.Fatalf("list --json: %v (%d entries)", err, len(listed))
	}

	e.checkAdmin(issued, renewed, reissued)
	if kinds := e.checkLedger(); len(e.seen.crls) == 0 || kinds["ocsp_responder"] == 0 || kinds["audit_signer"] == 0 || kinds["staff"] != 2 {
		t.Errorf("the run saw %d CRLs and the ledger holds %v: want CRLs, an OCSP responder, an audit signer and two staff certificates", len(e.seen.crls), kinds)
	}
}

// start builds both binaries and runs signetd --dev on free ports with its
// own PostgreSQL cluster, as `make run` does.
func start(t *testing.T) *env {
	t.Helper()
	e := prepare(t)
	e.launch()
	e.checkServerTLS()
	return e
}

// prepare builds both binaries and picks the state dir, home and ports.
func prepare(t *testing.T) *env {
	t.Helper()
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "github.com/signet-ca/signet/cmd/signetd", "github.com/signet-ca/signet/cmd/signet")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	e := &env{seen: newSeen(), t: t, bin: bin, state: t.TempDir(), home: t.TempDir(), grpcAddr: freeAddr(t), adminAddr: freeAddr(t),
		httpAddr: freeAddr(t)}
	e.pwFile = filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(e.pwFile, []byte("Sign3t!pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// daemon is one running signetd.
type daemon struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
	done   bool
}

// launch runs signetd --dev on e's state dir and ports, with extra
// environment variables and flags, and waits until it is healthy. Unless
// the test kills it first, it is stopped with SIGTERM at cleanup and must
// exit cleanly.
func (e *env) launch(extra ...string) *daemon {
	e.t.Helper()
	var envs, flags []string
	for _, x := range extra {
		if strings.HasPrefix(x, "--") {
			flags = append(flags, x)
		} else {
			envs = append(envs, x)
		}
	}
	logs := &syncBuffer{}
	args := append([]string{"--dev", "--state-dir", e.state, "--validity", "240h",
		"--grpc-addr", e.grpcAddr, "--http-addr", e.httpAddr, "--admin-addr", e.adminAddr}, flags...)
	cmd := exec.Command(filepath.Join(e.bin, "signetd"), args...)
	cmd.Env = append(withoutEnv(os.Environ(), "DATABASE_URL"), envs...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	d := &daemon{cmd: cmd, logs: logs, exited: make(chan error, 1)}
	go func() { d.exited <- cmd.Wait() }()
	e.t.Cleanup(func() {
		if d.done {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-d.exited:
			if err != nil {
				e.t.Errorf("signetd exited with %v on SIGTERM\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			e.t.Errorf("signetd did not stop within 30 s of SIGTERM")
		}
		if e.t.Failed() {
			e.t.Logf("signetd output:\n%s", logs.String())
		}
	})

	// Ready when the HTTP health check answers.
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + e.httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-d.exited:
			e.t.Fatalf("signetd exited before it was ready: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("signetd not ready after 90 s\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return d
}

// kill sends SIGKILL, as an operator's kill -9 or the OOM killer would.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	d.done = true
	_ = d.cmd.Process.Kill()
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("signetd did not die of SIGKILL")
	}
}

// syncBuffer is a bytes.Buffer that the process's output and the test may
// use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkServerTLS confirms the gRPC listener presents a certificate from the
// dev CA written to root.pem.
func (e *env) checkServerTLS() {
	roots := x509.NewCertPool()
	b, err := os.ReadFile(filepath.Join(e.state, "root.pem"))
	if err != nil || !roots.AppendCertsFromPEM(b) {
		e.t.Fatalf("dev trust anchor root.pem: %v", err)
	}
	conn, err := tls.Dial("tcp", e.grpcAddr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err != nil {
		e.t.Fatalf("TLS to the gRPC listener with the dev root: %v", err)
	}
	conn.Close()
}

func (e *env) signet(args ...string) []byte {
	e.t.Helper()
	full := append([]string{"--server", e.grpcAddr, "--ca-file", filepath.Join(e.state, "root.pem"), "--home", e.home, "--json"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "signet"), full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("signet %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func (e *env) signetJSON(args ...string) cert {
	e.t.Helper()
	var c cert
	out := e.signet(args...)
	if err := json.Unmarshal(out, &c); err != nil {
		e.t.Fatalf("signet %s: output is not a JSON certificate: %v\n%s", args[0], err, out)
	}
	if c.Serial == "" || c.Serial != strings.ToLower(c.Serial) {
		e.t.Fatalf("signet %s: serial %q is not lower-case hex", args[0], c.Serial)
	}
	return c
}

func (e *env) wantStatus(serial, status, reason string) {
	e.t.Helper()
	c := e.signetJSON("status", "--serial", serial)
	if c.Status != status || c.RevocationReason != reason {
		e.t.Errorf("serial %s: status %q reason %q, want %q %q", serial, c.Status, c.RevocationReason, status, reason)
	}
}

// checkCertificate verifies the files the CLI wrote: the certificate with
// `openssl verify` against the dev chain, the key with `openssl pkcs8`
// and the password, and that the key belongs to the certificate.
func (e *env) checkCertificate(c cert) {
	e.t.Helper()
	certDER := filepath.Join(c.Dir, "signCert.der")
	certPEM := filepath.Join(e.t.TempDir(), "cert.pem")
	e.openssl("x509", "-inform", "DER", "-in", certDER, "-out", certPEM)
	out := e.openssl("verify", "-CAfile", filepath.Join(e.state, "root.pem"),
		"-untrusted", filepath.Join(e.state, "intermediate.pem"), certPEM)
	if !strings.Contains(string(out), ": OK") {
		e.t.Errorf("openssl verify: %s", out)
	}
	keyPEM := e.openssl("pkcs8", "-inform", "DER", "-in", filepath.Join(c.Dir, "signPri.key"), "-passin", "file:"+e.pwFile)
	keyFile := filepath.Join(e.t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		e.t.Fatal(err)
	}
	certPub := e.openssl("x509", "-in", certPEM, "-noout", "-pubkey")
	keyPub := e.openssl("pkey", "-in", keyFile, "-pubout")
	if !bytes.Equal(certPub, keyPub) {
		e.t.Errorf("signPri.key does not hold the key of signCert.der")
	}
	text := string(e.openssl("x509", "-in", certPEM, "-noout", "-text"))
	for _, want := range []string{"Digital Signature, Non Repudiation", "critical", "Policy: 1.3.6.1.4.1.32473.1.1.4", "CRL Distribution Points", "OCSP - URI"} {
		if !strings.Contains(text, want) {
			e.t.Errorf("certificate text lacks %q", want)
		}
	}
	der, err := os.ReadFile(certDER)
	if err != nil {
		e.t.Fatal(err)
	}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		e.t.Fatal(err)
	}
	if x.SerialNumber.Text(16) != c.Serial || !x.NotAfter.Equal(c.NotAfter) || !x.NotBefore.Equal(c.NotBefore) {
		e.t.Errorf("CLI output %+v does not match the certificate (serial %x, %v..%v)", c, x.SerialNumber, x.NotBefore, x.NotAfter)
	}
}

func (e *env) openssl(args ...string) []byte {
	e.t.Helper()
	cmd := exec.Command("openssl", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// wantOCSP asks the OCSP responder named in the certificate's AIA with
// `openssl ocsp`, which also verifies the response against the dev root.
// A status change is visible at once; the loop only absorbs scheduling.
func (e *env) wantOCSP(c cert, status, reason string) {
	e.t.Helper()
	x, certPEM := e.readCert(c)
	if len(x.OCSPServer) != 1 {
		e.t.Fatalf("certificate has OCSP servers %v, want one", x.OCSPServer)
	}
	var out string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		// openssl prints "Response verify OK" on stderr.
		respFile := filepath.Join(e.t.TempDir(), "ocsp.der")
		b, err := exec.Command("openssl", "ocsp", "-issuer", filepath.Join(e.state, "intermediate.pem"), "-cert", certPEM,
			"-url", x.OCSPServer[0], "-CAfile", filepath.Join(e.state, "root.pem"), "-no_nonce", "-respout", respFile).CombinedOutput()
		if err != nil {
			e.t.Fatalf("openssl ocsp: %v\n%s", err, b)
		}
		out = string(b)
		e.seen.ocspResponse(e.t, respFile)
		if strings.Contains(out, certPEM+": "+status) && (reason == "" || strings.Contains(out, "Reason: "+reason)) {
			if !strings.Contains(out, "Response verify OK") {
				e.t.Errorf("openssl ocsp did not verify the response:\n%s", out)
			}
			return
		}
	}
	e.t.Errorf("openssl ocsp for %s: want %s %s, got:\n%s", c.Serial, status, reason, out)
}

// wantCRL fetches the CRL from the certificate's distribution point until
// it reflects the certificate's status (it is regenerated within seconds
// of a change), then checks that `openssl verify -crl_check` accepts a
// good certificate and rejects a revoked or suspended one.
func (e *env) wantCRL(c cert, good bool) {
	e.t.Helper()
	x, certPEM := e.readCert(c)
	if len(x.CRLDistributionPoints) != 1 {
		e.t.Fatalf("certificate has CRL DPs %v, want one", x.CRLDistributionPoints)
	}
	crlPEM := filepath.Join(e.t.TempDir(), "crl.pem")
	var listed bool
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		resp, err := http.Get(x.CRLDistributionPoints[0])
		if err != nil {
			e.t.Fatal(err)
		}
		der, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if ct := resp.Header.Get("Content-Type"); ct != "application/pkix-crl" {
				e.t.Errorf("CRL content type %q", ct)
			}
			rl, err := x509.ParseRevocationList(der)
			if err != nil {
				e.t.Fatalf("CRL does not parse: %v", err)
			}
			e.seen.crls[rl.Number.Int64()] = der
			listed = false
			for _, entry := range rl.RevokedCertificateEntries {
				listed = listed || entry.SerialNumber.Cmp(x.SerialNumber) == 0
			}
			if listed != good {
				e.writeFile(crlPEM, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
				break
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("CRL still lists=%v serial %s after 15 s", listed, c.Serial)
		}
	}
	cmd := exec.Command("openssl", "verify", "-crl_check", "-CRLfile", crlPEM, "-CAfile", filepath.Join(e.state, "root.pem"),
		"-untrusted", filepath.Join(e.state, "intermediate.pem"), certPEM)
	out, err := cmd.CombinedOutput()
	switch {
	case good && (err != nil || !strings.Contains(string(out), ": OK")):
		e.t.Errorf("openssl verify -crl_check rejected a good certificate: %v\n%s", err, out)
	case !good && (err == nil || !strings.Contains(string(out), "certificate revoked")):
		e.t.Errorf("openssl verify -crl_check accepted a revoked certificate: %v\n%s", err, out)
	}
}

func (e *env) readCert(c cert) (*x509.Certificate, string) {
	e.t.Helper()
	der, err := os.ReadFile(filepath.Join(c.Dir, "signCert.der"))
	if err != nil {
		e.t.Fatal(err)
	}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		e.t.Fatal(err)
	}
	if x.SerialNumber.Text(16) != c.Serial {
		// The folder now holds a successor (renewal writes in place); use
		// the certificate kept for this serial.
		old, err := os.ReadFile(filepath.Join(c.Dir, "signCert.der.old"))
		if err == nil {
			if ox, err := x509.ParseCertificate(old); err == nil && ox.SerialNumber.Text(16) == c.Serial {
				x, der = ox, old
			}
		}
		if x.SerialNumber.Text(16) != c.Serial {
			e.t.Fatalf("no certificate file for serial %s in %s", c.Serial, c.Dir)
		}
	}
	p := filepath.Join(e.t.TempDir(), c.Serial+".pem")
	e.writeFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return x, p
}

func (e *env) writeFile(path string, b []byte) {
	e.t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func endOfDayKST(t time.Time) time.Time {
	d := t.In(kst.Zone)
	return time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, kst.Zone)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
