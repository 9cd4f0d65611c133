package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/lint"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// clock is the injected time source; tests move it instead of sleeping.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// The dev PKI is shared by the package's tests: RSA key generation is the
// slow part of a setup.
var (
	pkiOnce  sync.Once
	pkiFiles devca.Files
	pkiErr   error
)

func sharedPKI(t testing.TB) devca.Files {
	pkiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "signet-ocsp-pki-")
		if err != nil {
			pkiErr = err
			return
		}
		pkiFiles, pkiErr = devca.Ensure(dir, "Signet", []string{"127.0.0.1"}, devca.RSA2048)
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiFiles
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pkiFiles.Root != "" {
		os.RemoveAll(filepath.Dir(pkiFiles.Root))
	}
	os.Exit(code)
}

// env is a responder on a real PostgreSQL database and the real signer,
// served over loopback HTTP through a ServeMux mounted the way signetd
// mounts it.
type env struct {
	db     *store.DB
	dbURL  string
	files  devca.Files
	signer *signer.Signer
	caKey  crypto.Signer // the issuing key, to make test leaves without the ledger
	root   *x509.Certificate
	clock  *clock
	r      *Responder
	srv    *httptest.Server
	dir    string
}

type envConfig struct {
	opts Options
	// realTime uses time.Now: openssl checks thisUpdate and the signer's
	// validity against the real clock.
	realTime bool
	// noRun leaves Run unstarted, for tests that drive maintain by hand.
	noRun bool
}

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	files := sharedPKI(t)
	db, dbURL := storetest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	linter, err := lint.New()
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := signer.New(ctx, signer.Config{Chain: files.Intermediate, KMS: "softkms:", Key: files.IntermediateKey}, linter)
	if err != nil {
		t.Fatal(err)
	}
	iss := issuing.Issuer()
	if err := db.UpsertIssuer(ctx, issuing.ID(), iss.Subject.String(), iss.Raw); err != nil {
		t.Fatal(err)
	}
	delegates, err := signer.NewDelegates(issuing, db, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	k, err := pemutil.Read(files.IntermediateKey)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := os.ReadFile(files.Root)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(rootPEM)
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, dbURL: dbURL, files: files, signer: issuing, caKey: k.(crypto.Signer), root: root, dir: t.TempDir()}
	opts := cfg.opts
	if cfg.realTime {
		e.clock = newClock(time.Now())
		opts.Now = time.Now
	} else {
		e.clock = newClock(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
		opts.Now = e.clock.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	e.r, err = New(ctx, db, delegates, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	if cfg.noRun {
		close(done)
	} else {
		go func() { e.r.Run(ctx); close(done) }()
		select {
		case <-e.r.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("responder not listening after 10 s")
		}
	}
	// Served directly, as server.route does in production: a ServeMux
	// would redirect any request whose base64 holds "//".
	e.srv = httptest.NewServer(e.r.Handler())
	t.Cleanup(func() {
		e.srv.Close()
		cancel()
		<-done
		issuing.Close()
	})
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

type leaf struct {
	cert   *x509.Certificate
	serial string
	path   string // PEM, for openssl
}

// makeLeaf signs a throwaway subscriber certificate under the real
// issuing CA key, without recording it.
func (e *env) makeLeaf(t testing.TB) *leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := signer.NewSerial()
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Country: []string{"KR"}, Organization: []string{"Signet"}, CommonName: "홍길동 " + serial.Text(16)[:8]},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.signer.Issuer(), key.Public(), e.caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	l := &leaf{cert: cert, serial: cert.SerialNumber.Text(16)}
	l.path = filepath.Join(e.dir, l.serial+".pem")
	if err := os.WriteFile(l.path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return l
}

// issueLeaf makes a leaf and records it as active, as issuance does.
func (e *env) issueLeaf(t testing.TB) *leaf {
	t.Helper()
	l := e.makeLeaf(t)
	spki := sha256.Sum256(l.cert.RawSubjectPublicKeyInfo)
	c := &store.Certificate{
		Serial: l.serial, SubjectRef: "sr_" + l.serial, Profile: "personal-banking",
		SubjectDN: l.cert.Subject.String(), NotBefore: l.cert.NotBefore, NotAfter: l.cert.NotAfter,
		SPKISHA256: spki[:], KeyType: "ecdsa-p256", DER: l.cert.Raw, IssuerID: e.signer.ID(),
		Operation: "issue", RequestID: "req-" + l.serial, CreatedAt: e.clock.Now(),
	}
	ctx := context.Background()
	if err := e.db.InTx(ctx, func(tx *store.Tx) error { return tx.InsertCertificate(ctx, c) }); err != nil {
		t.Fatal(err)
	}
	return l
}

// change runs fn and announces the status change in the same
// transaction, as the life cycle code does.
func (e *env) change(t testing.TB, serial string, fn func(context.Context, *store.Tx) error) {
	t.Helper()
	ctx := context.Background()
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return tx.NotifyStatus(ctx, serial)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) revoke(t testing.TB, l *leaf, at time.Time, reason int) {
	e.change(t, l.serial, func(ctx context.Context, tx *store.Tx) error {
		return tx.Revoke(ctx, l.serial, at, reason, "")
	})
}

func (e *env) suspend(t testing.TB, l *leaf, at time.Time) {
	e.change(t, l.serial, func(ctx context.Context, tx *store.Tx) error { return tx.Suspend(ctx, l.serial, at) })
}

func (e *env) resume(t testing.TB, l *leaf, at time.Time) {
	e.change(t, l.serial, func(ctx context.Context, tx *store.Tx) error { return tx.Resume(ctx, l.serial, at) })
}

func (e *env) request(t testing.TB, l *leaf, h crypto.Hash) []byte {
	t.Helper()
	der, err := xocsp.CreateRequest(l.cert, e.signer.Issuer(), &xocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (e *env) post(t testing.TB, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(e.srv.URL+"/ocsp", requestType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, resp)
}

// get sends a GET to path, which is appended to the server URL as is
// (already escaped as the test wants it).
func (e *env) get(t testing.TB, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	return getURL(t, e.srv.URL+path, header)
}

func getURL(t testing.TB, u string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	addHeaders(req.Header, header)
	// No redirects: a ServeMux path clean-up would otherwise hide itself.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, resp)
}

func addHeaders(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

func readAll(t testing.TB, resp *http.Response) (*http.Response, []byte) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// getPath is the RFC 5019 GET path: base64 of the request, URL-encoded.
func getPath(der []byte) string {
	return "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(der))
}

// status asks over POST and parses the answer for l, checking the
// signature chain to the issuer.
func (e *env) status(t testing.TB, l *leaf, h crypto.Hash) *xocsp.Response {
	t.Helper()
	hr, body := e.post(t, e.request(t, l, h))
	if hr.StatusCode != http.StatusOK || hr.Header.Get("Content-Type") != responseType {
		t.Fatalf("POST: %s, Content-Type %q", hr.Status, hr.Header.Get("Content-Type"))
	}
	resp, err := xocsp.ParseResponseForCert(body, l.cert, e.signer.Issuer())
	if err != nil {
		t.Fatalf("parse response: %v", err)
	}
	return resp
}

// waitStatus polls until l reports want; notifications are asynchronous.
func (e *env) waitStatus(t testing.TB, l *leaf, want int) (*xocsp.Response, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		resp := e.status(t, l, crypto.SHA1)
		if resp.Status == want {
			return resp, time.Since(start)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("status %d after 5 s, want %d", resp.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
