package admin

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
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// fakeAdmin is an admin listener in the test process: mutual TLS against
// its own admin CA, as server/admin.go sets it up, and canned answers.
// GetStats is left unimplemented, as a signetd without the handler would.
type fakeAdmin struct {
	signetv1.UnimplementedAdminServiceServer

	mu       sync.Mutex
	pages    map[string]*signetv1.SearchCertificatesResponse // by page token
	searches []*signetv1.SearchCertificatesRequest
	revokes  []*signetv1.AdminRevokeCertificateRequest
	fail     int // answer this many revokes with Unavailable first
	verify   *signetv1.VerifyAuditLogResponse
}

func (f *fakeAdmin) SearchCertificates(_ context.Context, r *signetv1.SearchCertificatesRequest) (*signetv1.SearchCertificatesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.searches = append(f.searches, r)
	resp, ok := f.pages[r.GetPageToken()]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "bad page token %q", r.GetPageToken())
	}
	return resp, nil
}

func (f *fakeAdmin) AdminRevokeCertificate(_ context.Context, r *signetv1.AdminRevokeCertificateRequest) (*signetv1.AdminRevokeCertificateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revokes = append(f.revokes, r)
	if len(f.revokes) <= f.fail {
		return nil, status.Error(codes.Unavailable, "answer lost")
	}
	return &signetv1.AdminRevokeCertificateResponse{Certificate: &signetv1.Certificate{Serial: r.GetSerial(),
		Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED, RevocationReason: r.GetReason(), Profile: "personal-banking"}}, nil
}

func (f *fakeAdmin) VerifyAuditLog(context.Context, *signetv1.VerifyAuditLogRequest) (*signetv1.VerifyAuditLogResponse, error) {
	return f.verify, nil
}

// staffPKI is the fake listener's files: the server's trust anchor, a
// staff certificate from its admin CA, and one from another CA.
type staffPKI struct {
	addr, caFile, staff, stranger string
}

func startFakeAdmin(t *testing.T, f *fakeAdmin) staffPKI {
	t.Helper()
	dir := t.TempDir()
	root, rootKey := testCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Test Root"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	server, serverKey := testCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, root, rootKey)
	adminCA, adminKey := testCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Test Admin CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	staff := &x509.Certificate{Subject: pkix.Name{CommonName: "kim", OrganizationalUnit: []string{"auditor"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	kim, kimKey := testCert(t, staff, adminCA, adminKey)
	otherCA, otherKey := testCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Other CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	mallory, malloryKey := testCert(t, staff, otherCA, otherKey)

	p := staffPKI{caFile: writePEMFile(t, dir, "root.pem", "CERTIFICATE", root.Raw)}
	p.staff = writeIdentity(t, dir, "kim", kim, kimKey)
	p.stranger = writeIdentity(t, dir, "mallory", mallory, malloryKey)

	pool := x509.NewCertPool()
	pool.AddCert(adminCA)
	tc := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{server.Raw}, PrivateKey: serverKey}},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(tc)))
	signetv1.RegisterAdminServiceServer(g, f)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	p.addr = lis.Addr().String()
	return p
}

// runCLI runs the command line as the signet binary does, with the admin
// command only, and returns exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, &out, &errOut, []cli.Command{{Name: "admin", Run: Run}})
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

// writeIdentity writes <name>.pem and <name>_key.pem, as signetd does, and
// returns the certificate's path: --key is found from it.
func writeIdentity(t *testing.T, dir, name string, cert *x509.Certificate, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEMFile(t, dir, name+"_key.pem", "PRIVATE KEY", der)
	return writePEMFile(t, dir, name+".pem", "CERTIFICATE", cert.Raw)
}

func (p staffPKI) args(cert string, args ...string) []string {
	return append([]string{"--ca-file", p.caFile, "admin", "--admin-server", p.addr, "--cert", cert}, args...)
}

func TestAdminCerts_AllFollowsPageTokens(t *testing.T) {
	certs := sampleCerts()
	f := &fakeAdmin{pages: map[string]*signetv1.SearchCertificatesResponse{
		"":   {Certificates: certs[:1], NextPageToken: "p2"},
		"p2": {Certificates: certs[1:], NextPageToken: ""},
	}}
	p := startFakeAdmin(t, f)

	code, stdout, stderr := runCLI(t, p.args(p.staff, "certs", "--profile", "personal-banking", "--limit", "1", "--all", "--json")...)
	if code != cli.ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var got []adminCertView
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if len(got) != 2 || got[0].Serial != "abc" || got[1].Serial != "de" {
		t.Errorf("certs = %+v", got)
	}
	if len(f.searches) != 2 || f.searches[1].GetPageToken() != "p2" || f.searches[1].GetProfile() != "personal-banking" ||
		f.searches[1].GetPageSize() != 1 {
		t.Errorf("searches %v", f.searches)
	}

	// Without --all: the first page, and a word on stderr about the rest.
	code, stdout, stderr = runCLI(t, p.args(p.staff, "certs", "--csv")...)
	if code != cli.ExitOK || strings.Count(stdout, "\n") != 2 || !strings.HasPrefix(stdout, "serial,status,profile,not_after,subject,subject_ref,operation,created_at,") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
	if !strings.Contains(stderr, "more certificates follow: add --all, or --page-token p2") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestAdminCerts_EmptyJSONIsAnArray(t *testing.T) {
	p := startFakeAdmin(t, &fakeAdmin{pages: map[string]*signetv1.SearchCertificatesResponse{"": {}}})
	code, stdout, stderr := runCLI(t, p.args(p.staff, "--json", "certs", "--status", "expired")...)
	if code != cli.ExitOK || stdout != "[]\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

func TestAdminRevoke_RetriesWithTheSameRequestID(t *testing.T) {
	saved := cli.RetryDelay
	cli.RetryDelay = func(int) time.Duration { return 0 }
	t.Cleanup(func() { cli.RetryDelay = saved })
	f := &fakeAdmin{fail: 1}
	p := startFakeAdmin(t, f)

	code, stdout, stderr := runCLI(t, p.args(p.staff, "revoke", "--serial", "0x0ABC", "--reason", "cACompromise", "--comment", "court order 2026-123")...)
	if code != cli.ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if len(f.revokes) != 2 {
		t.Fatalf("%d revoke calls, want 2 (one retry)", len(f.revokes))
	}
	first, second := f.revokes[0], f.revokes[1]
	if _, err := uuid.Parse(first.GetRequestId()); err != nil || first.GetRequestId() != second.GetRequestId() {
		t.Errorf("request ids %q, %q: want one UUID, repeated", first.GetRequestId(), second.GetRequestId())
	}
	if second.GetSerial() != "abc" || second.GetReason() != signetv1.RevocationReason_REVOCATION_REASON_CA_COMPROMISE ||
		second.GetComment() != "court order 2026-123" {
		t.Errorf("request %v", second)
	}
	if !strings.Contains(stdout, "status:   revoked (cACompromise)") {
		t.Errorf("stdout:\n%s", stdout)
	}
}

func TestAdminVerifyLog_ExitsOneWhenBroken(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	f := &fakeAdmin{verify: &signetv1.VerifyAuditLogResponse{Ok: true, Checked: 1234, CheckpointSeq: 1200, CheckpointAt: timestamppb.New(at)}}
	p := startFakeAdmin(t, f)
	code, stdout, stderr := runCLI(t, p.args(p.staff, "verify-log")...)
	if code != cli.ExitOK || !strings.Contains(stdout, "audit log:          OK") || !strings.Contains(stdout, "checked:            1234 events") ||
		!strings.Contains(stdout, "newest checkpoint:  seq 1200 at 2026-03-04 14:06:07 KST") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	f.verify = &signetv1.VerifyAuditLogResponse{Ok: false, Checked: 56, FirstBrokenSeq: 57, FirstBrokenEventId: 61, Problem: "hash does not chain"}
	code, stdout, stderr = runCLI(t, p.args(p.staff, "verify-log", "--json")...)
	var v verifyView
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.OK || v.FirstBrokenSeq != 57 {
		t.Errorf("stdout %s (%v)", stdout, err)
	}
	if code != cli.ExitFail || !strings.Contains(stderr, "signet: the audit log is broken at seq 57 (event id 61): hash does not chain") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestAdmin_ExplainsRefusals(t *testing.T) {
	p := startFakeAdmin(t, &fakeAdmin{})
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"certificate from another CA", p.args(p.stranger, "stats"), []string{
			"signet: the client certificate was refused by the admin listener at " + p.addr + " (wrong CA or missing): " +
				"it is issued by CN=Other CA, not by CN=Test Admin CA (Unavailable)",
			"signet: --cert " + p.stranger + " must be a staff certificate from Signet's admin CA"}},
		{"handler not there yet", p.args(p.staff, "stats"), []string{
			"signet: method GetStats not implemented (Unimplemented)",
			"does not answer GetStats yet"}},
		{"listener down", p.args(p.staff, "--admin-server", "127.0.0.1:1", "stats"), []string{
			"(Unavailable)", "signet: is signetd's admin listener running at 127.0.0.1:1 (--admin-server)?"}},
		{"wrong trust anchor", append([]string{"--ca-file", p.staff}, p.args(p.staff, "stats")[2:]...), []string{
			"(Unavailable)", "signet: TLS failed: does --ca-file " + p.staff + " hold the root certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != cli.ExitFail {
				t.Errorf("exit %d, want %d", code, cli.ExitFail)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
		})
	}
}
