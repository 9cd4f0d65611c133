package server_test

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
	"encoding/pem"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/signet-ca/signet/audit"
	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/internal/kst"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/store/storetest"
)

const audience = "signet-test"

// clock is the injected time source; tests move it instead of sleeping.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// pki is one dev CA shared by the package's tests: RSA key generation is
// the slow part of a harness.
var (
	pkiOnce  sync.Once
	pkiFiles devca.Files
	pkiErr   error
)

func sharedPKI(t testing.TB) devca.Files {
	pkiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "signet-pki-")
		if err != nil {
			pkiErr = err
			return
		}
		if pkiFiles, pkiErr = devca.Ensure(dir, "Signet", []string{"127.0.0.1", "localhost"}, devca.RSA2048); pkiErr == nil {
			pkiErr = adminca.Ensure(dir, "Signet")
		}
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiFiles
}

// harness is a real signetd (gRPC over TLS, real PostgreSQL, softcas) on
// a random port with a movable clock and a trusted test evidence minter.
type harness struct {
	built  *server.Built
	t      testing.TB
	clock  *clock
	minter *evidencetest.Minter
	client signetv1.EnrollmentServiceClient
	conn   *grpc.ClientConn
	pool   *pgxpool.Pool
	roots  *x509.CertPool
	chain  []*x509.Certificate
	ca     *ca.Authority
	admin  string // admin listener address
	http   string // HTTP listener address (/crl, /ocsp, /metrics)
	pprof  string // profiling listener address (operators only)
	sealer *audit.Sealer
	logs   *logBuffer // everything the server logged
}

// newHarness starts a server; each hook may change what Build made before
// it serves. Its abuse limits are off, as in signetd --dev, so that tests
// and benchmarks may send as fast as they like from one address.
func newHarness(t testing.TB, hooks ...func(*server.Built)) *harness {
	t.Helper()
	return newHarnessWith(t, func(c *server.Config) { c.RateLimits = server.RateLimits{ClientRate: -1, SubjectMax: -1} }, hooks...)
}

// newHarnessWith is newHarness with configure applied to the
// configuration before Build.
func newHarnessWith(t testing.TB, configure func(*server.Config), hooks ...func(*server.Built)) *harness {
	t.Helper()
	files := sharedPKI(t)
	dbURL := storetest.NewDatabase(t)
	dir := t.TempDir()
	clk := &clock{}
	clk.Set(testStart())
	minter := evidencetest.NewMinter(audience, clk.Now)

	cfg := &server.Config{
		Audience: audience, Organization: "Signet", DatabaseURL: dbURL,
		GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		SubjectKeyFile: filepath.Join(dir, "subject.key"),
		Signer:         signer.Config{Chain: files.Intermediate, KMS: "softkms:", Key: files.IntermediateKey},
		CRLBaseURL:     "http://127.0.0.1:9080/crl", OCSPURL: "http://127.0.0.1:9080/ocsp",
		IssuerURL: "http://127.0.0.1:9080/ca/issuer.crt",
	}
	cfg.TLS.Cert, cfg.TLS.Key = files.Server, files.ServerKey
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.PprofAddr = "127.0.0.1:0"
	cfg.AdminCA.Cert, cfg.AdminCA.Key = adminca.Files(filepath.Dir(files.Root))
	writeFile(t, cfg.SubjectKeyFile, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"))
	for _, p := range minter.Providers() {
		der, err := x509.MarshalPKIXPublicKey(p.Key)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, p.ID+".pem")
		writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		cfg.Providers = append(cfg.Providers, server.ProviderConfig{ID: p.ID, Kind: string(p.Kind), PublicKey: path})
	}

	configure(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(testWriter{t, logs}, nil))
	b, err := server.Build(ctx, cfg, clk.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, hook := range hooks {
		hook(b)
	}
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	alis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var plis net.Listener
	pprofAddr := ""
	if cfg.PprofAddr != "" {
		if plis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		pprofAddr = plis.Addr().String()
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, server.Listeners{GRPC: glis, HTTP: hlis, Admin: alis, Pprof: plis}) }()
	// The database is this harness's own, so this replica leads the hourly
	// jobs; their first run must be over before a test moves the clock or
	// counts rows, or a purge under a clock a year ahead lands mid-test.
	select {
	case <-b.HourlyJobsRan():
	case err := <-done:
		t.Fatalf("Serve returned before the hourly jobs ran: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the hourly jobs did not run within 30 s of Serve")
	}

	roots := x509.NewCertPool()
	root := readCert(t, files.Root)
	roots.AddCert(root)
	conn, err := grpc.NewClient(glis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		pool.Close()
		cancel()
		<-done
		b.Close()
	})
	return &harness{built: b, t: t, clock: clk, minter: minter, client: signetv1.NewEnrollmentServiceClient(conn), conn: conn,
		pool: pool, roots: roots, chain: []*x509.Certificate{readCert(t, files.Intermediate)}, ca: b.Authority,
		admin: alis.Addr().String(), http: hlis.Addr().String(), pprof: pprofAddr, sealer: b.Sealer, logs: logs}
}

// testStart is tomorrow 10:02:03 KST: after the dev CA's notBefore, and
// never on February 29 so that "one year later" is unambiguous.
func testStart() time.Time {
	d := time.Now().In(kst.Zone).AddDate(0, 0, 1)
	if d.Month() == time.February && d.Day() == 29 {
		d = d.AddDate(0, 0, 1)
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 10, 2, 3, 0, kst.Zone)
}

// endOfDayKST is 23:59:59 KST on t's KST date plus the given years.
func endOfDayKST(t time.Time, years int) time.Time {
	d := t.In(kst.Zone).AddDate(years, 0, 0)
	return time.Date(d.Year(), d.Month(), d.Day(), 23, 59, 59, 0, kst.Zone)
}

type testWriter struct {
	t    testing.TB
	logs *logBuffer
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	w.logs.mu.Lock()
	w.logs.b.Write(b)
	w.logs.mu.Unlock()
	return len(b), nil
}

// logBuffer keeps what a server logged, for tests that check what it must
// never log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// enroll starts an enrollment for purpose and profile.
func (h *harness) enroll(purpose signetv1.EnrollmentPurpose, profile string) *signetv1.StartEnrollmentResponse {
	h.t.Helper()
	e, err := h.client.StartEnrollment(ctx(h.t), &signetv1.StartEnrollmentRequest{Profile: profile, Purpose: purpose})
	if err != nil {
		h.t.Fatalf("StartEnrollment: %v", err)
	}
	return e
}

func (h *harness) evidence(nonce string, p evidencetest.Person) *signetv1.IdentityEvidence {
	return &signetv1.IdentityEvidence{PhoneToken: h.minter.PhoneToken(nonce, p), AccountToken: h.minter.AccountToken(nonce, p)}
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrFor(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "subscriber"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// issue runs a successful issue for p with a new key.
func (h *harness) issue(p evidencetest.Person, profile string) (*signetv1.Certificate, crypto.Signer) {
	h.t.Helper()
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, profile)
	key := newKey(h.t)
	resp, err := h.client.IssueCertificate(ctx(h.t), &signetv1.IssueCertificateRequest{
		RequestId: uuid.NewString(), EnrollmentId: e.EnrollmentId, Csr: csrFor(h.t, key), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)})
	if err != nil {
		h.t.Fatalf("IssueCertificate: %v", err)
	}
	return resp.Certificate, key
}

// proofFor signs a key-possession proof with the certificate's key.
func (h *harness) proofFor(c *signetv1.Certificate, key crypto.Signer, method, binding string) string {
	h.t.Helper()
	cert, err := x509.ParseCertificate(c.Der)
	if err != nil {
		h.t.Fatal(err)
	}
	tok, err := proof.Sign(cert, key, proof.Claims{Audience: audience, Method: method, Binding: binding, IssuedAt: h.clock.Now().Unix()})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) renew(c *signetv1.Certificate, key crypto.Signer) (*signetv1.RenewCertificateResponse, crypto.Signer, error) {
	newK := newKey(h.t)
	csr := csrFor(h.t, newK)
	resp, err := h.client.RenewCertificate(ctx(h.t), &signetv1.RenewCertificateRequest{
		RequestId: uuid.NewString(), Csr: csr, Proof: h.proofFor(c, key, ca.MethodRenew, proof.BindCSR(csr)),
		Holder: holderOf(evidencetest.DefaultPerson())})
	return resp, newK, err
}

// counts snapshots every table a refused call must leave alone.
func (h *harness) counts() map[string]int {
	h.t.Helper()
	out := map[string]int{}
	for name, q := range map[string]string{
		"certificates":     "SELECT count(*) FROM certificates",
		"live":             "SELECT count(*) FROM certificates WHERE status IN ('active','suspended')",
		"revoked":          "SELECT count(*) FROM certificates WHERE status = 'revoked'",
		"used_evidence":    "SELECT count(*) FROM used_evidence",
		"used_enrollments": "SELECT count(*) FROM enrollments WHERE used_at IS NOT NULL",
		"idempotency_keys": "SELECT count(*) FROM idempotency_keys",
		"compromised_keys": "SELECT count(*) FROM compromised_keys",
		// The signature ledger's own events (sign, sign_undelivered, ...)
		// are counted apart: the background jobs' delegates add some.
		"audit_ok":               "SELECT count(*) FROM audit_events WHERE outcome = 'ok' AND action NOT LIKE 'sign%'",
		"audit_refused":          "SELECT count(*) FROM audit_events WHERE outcome = 'refused'",
		"subscriber_signed":      "SELECT count(*) FROM signatures WHERE kind = 'subscriber' AND state = 'issued'",
		"subscriber_sign_events": "SELECT count(*) FROM audit_events WHERE action = 'sign' AND details->>'kind' = 'subscriber'",
		"subscriber_open":        "SELECT count(*) FROM signatures WHERE kind = 'subscriber' AND state <> 'issued'",
	} {
		var n int
		if err := h.pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
			h.t.Fatal(err)
		}
		out[name] = n
	}
	return out
}

// lastRefusal returns the code and reason of the newest refused event.
func (h *harness) lastRefusal() (action, code, reason string) {
	h.t.Helper()
	err := h.pool.QueryRow(context.Background(),
		"SELECT action, code, reason FROM audit_events WHERE outcome = 'refused' ORDER BY id DESC LIMIT 1").Scan(&action, &code, &reason)
	if err != nil {
		h.t.Fatal(err)
	}
	return action, code, reason
}

// verify checks a certificate against the dev chain with crypto/x509.
func (h *harness) verify(c *signetv1.Certificate, at time.Time) *x509.Certificate {
	h.t.Helper()
	cert, err := x509.ParseCertificate(c.Der)
	if err != nil {
		h.t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, d := range c.Chain {
		ic, err := x509.ParseCertificate(d)
		if err != nil {
			h.t.Fatal(err)
		}
		inter.AddCert(ic)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: h.roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		h.t.Fatalf("certificate does not verify against the dev chain: %v", err)
	}
	return cert
}

// waitCounts polls until the counts equal want or a second passes: a
// refusal by the gRPC transport is audited just after the client sees it.
func (h *harness) waitCounts(want map[string]int) map[string]int {
	h.t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := h.counts()
		if maps.Equal(got, want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) revokeByProof(c *signetv1.Certificate, key crypto.Signer) {
	h.t.Helper()
	_, err := h.client.RevokeCertificate(ctx(h.t), &signetv1.RevokeCertificateRequest{
		RequestId: uuid.NewString(), Serial: c.Serial, Reason: signetv1.RevocationReason_REVOCATION_REASON_AFFILIATION_CHANGED,
		Authorization: &signetv1.RevokeCertificateRequest_Proof{Proof: h.proofFor(c, key, ca.MethodRevoke, proof.BindReason("affiliationChanged"))}})
	if err != nil {
		h.t.Fatalf("RevokeCertificate: %v", err)
	}
}

// holderOf is p's resident number and fixed R, for the certificate's VID.
func holderOf(p evidencetest.Person) *signetv1.HolderIdentity {
	return &signetv1.HolderIdentity{Idn: p.IDN(), RandomNum: p.RandomNum()}
}
