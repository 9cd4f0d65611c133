package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/store/devcluster"
)

// takeoverBound is how long, after the CRL leader is killed, a revocation
// made on a surviving replica may take to appear on the CRL: the leader
// lock's retry (5 s), the change's debounce (2 s) and one generation.
const takeoverBound = 20 * time.Second

// TestReplicas_ThreeOnOnePostgreSQL runs three signetd replicas on one
// database and spreads a life cycle over them: exactly one leads CRL
// generation and one the audit sealer; OCSP on every replica reflects a
// change made on another within seconds; killing the CRL leader with
// SIGKILL hands the lead to a survivor within takeoverBound; CRL numbers
// never repeat or go back; and the audit log verifies at the end.
func TestReplicas_ThreeOnOnePostgreSQL(t *testing.T) {
	base := prepare(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := devcluster.Start(ctx, devcluster.Options{Dir: filepath.Join(base.state, "pg")}); err == nil {
			_ = c.Stop(ctx)
		}
	})
	// One after another: the first makes the dev CA and the database
	// cluster, the others join them, each on its own ports.
	reps := make([]*env, 3)
	daemons := make([]*daemon, 3)
	for i := range reps {
		r := *base
		if i > 0 {
			r.grpcAddr, r.httpAddr, r.adminAddr = freeAddr(t), freeAddr(t), freeAddr(t)
		}
		reps[i] = &r
		daemons[i] = reps[i].launch()
	}
	leaderOf := func(role string, alive []int) []int {
		var leaders []int
		for _, i := range alive {
			logs := daemons[i].logs.String()
			if strings.LastIndex(logs, role+": leading") > strings.LastIndex(logs, role+": stopped leading") {
				leaders = append(leaders, i)
			}
		}
		return leaders
	}
	waitOneLeader := func(role string, alive []int) int {
		t.Helper()
		deadline := time.Now().Add(takeoverBound)
		for {
			if l := leaderOf(role, alive); len(l) == 1 {
				return l[0]
			} else if len(l) > 1 {
				t.Fatalf("replicas %v all lead %s", l, role)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no replica of %v leads %s after %s", alive, role, takeoverBound)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	all := []int{0, 1, 2}
	crlLeader := waitOneLeader("crl", all)
	sealer := waitOneLeader("audit sealer", all)
	hourly := waitOneLeader("hourly jobs", all)
	t.Logf("replica %d leads CRL generation, replica %d the audit sealer, replica %d the hourly jobs", crlLeader, sealer, hourly)

	identity := []string{"--name", "이영희", "--birth", "19920315", "--phone", "01055556666", "--carrier", "LGU",
		"--bank", "020", "--account", "99988877766655", "--password-file", base.pwFile}
	issued := reps[0].signetJSON(append([]string{"enroll", "--profile", "personal-banking", "--idn", "9203152234567"}, identity...)...)
	renewed := reps[1].signetJSON("renew", "--cert", issued.Dir, "--password-file", base.pwFile, "--idn", "9203152234567")
	// Every replica's responder answers for a change made on another.
	for _, i := range all {
		reps[i].wantOCSPAt(reps[i].httpAddr, issued, "revoked")
		reps[i].wantOCSPAt(reps[i].httpAddr, renewed, "good")
	}

	// A client that balances over the three addresses itself (gRPC's
	// round_robin over a resolver's list, as a headless Service gives):
	// every replica answers alike, and each one's /metrics counts its share.
	roundRobinStatus(t, base, reps, renewed.Serial)

	// Kill the CRL leader; revoke on a survivor; a survivor's CRL lists it.
	daemons[crlLeader].kill(t)
	var alive []int
	for _, i := range all {
		if i != crlLeader {
			alive = append(alive, i)
		}
	}
	killed := time.Now()
	rev := reps[alive[0]]
	rev.signet("revoke", "--cert", renewed.Dir, "--password-file", base.pwFile, "--reason", "keyCompromise")
	x, _ := rev.readCert(renewed)
	var took time.Duration
	for {
		if n, ok := listedOnCRL(t, reps[alive[1]].httpAddr, x); ok {
			took = time.Since(killed)
			t.Logf("CRL %d from replica %d lists the revocation %s after the leader was killed", n, alive[1], took.Round(100*time.Millisecond))
			break
		}
		if time.Since(killed) > takeoverBound {
			t.Fatalf("the revocation is not on the CRL %s after the CRL leader was killed", takeoverBound)
		}
		time.Sleep(250 * time.Millisecond)
	}
	newLeader := waitOneLeader("crl", alive)
	t.Logf("replica %d took over CRL generation", newLeader)
	// Whoever led the sealer and the hourly jobs, one survivor leads each
	// now (a takeover when the killed replica led them too).
	for _, role := range []string{"audit sealer", "hourly jobs"} {
		t.Logf("replica %d leads the %s after the kill", waitOneLeader(role, alive), role)
	}
	for _, i := range alive {
		reps[i].wantOCSPAt(reps[i].httpAddr, renewed, "revoked")
	}

	// CRL numbers only go up, whoever signed them.
	conn := base.superuser()
	rows, err := conn.Query(context.Background(), `SELECT number FROM crls ORDER BY created_at, number`)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	var n int
	for rows.Next() {
		var num int64
		if err := rows.Scan(&num); err != nil {
			t.Fatal(err)
		}
		if num <= last {
			t.Errorf("CRL number %d stored after %d", num, last)
		}
		last, n = num, n+1
	}
	rows.Close()
	if n < 2 {
		t.Errorf("%d CRLs stored, want at least one per leader", n)
	}

	// The audit log written by three processes verifies once sealed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, code := rev.verifyLog()
		if code == 0 && v.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify-log after the replicas: exit %d, %+v", code, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// wantOCSPAt asks the responder at httpAddr about c until it answers
// status (good or revoked), with openssl.
func (e *env) wantOCSPAt(httpAddr string, c cert, status string) {
	e.t.Helper()
	_, certPEM := e.readCert(c)
	var out string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, err := exec.Command("openssl", "ocsp", "-issuer", filepath.Join(e.state, "intermediate.pem"), "-cert", certPEM,
			"-url", "http://"+httpAddr+"/ocsp", "-CAfile", filepath.Join(e.state, "root.pem"), "-no_nonce").CombinedOutput()
		if err != nil {
			e.t.Fatalf("openssl ocsp: %v\n%s", err, b)
		}
		out = string(b)
		if strings.Contains(out, certPEM+": "+status) && strings.Contains(out, "Response verify OK") {
			return
		}
	}
	e.t.Errorf("OCSP at %s for %s: want %s, got:\n%s", httpAddr, c.Serial, status, out)
}

// listedOnCRL fetches the CRL a replica serves for x's issuer and reports
// its number and whether it lists x.
func listedOnCRL(t *testing.T, httpAddr string, x *x509.Certificate) (int64, bool) {
	t.Helper()
	if len(x.CRLDistributionPoints) != 1 {
		t.Fatalf("certificate has CRL DPs %v", x.CRLDistributionPoints)
	}
	path := x.CRLDistributionPoints[0][strings.Index(x.CRLDistributionPoints[0], "/crl/"):]
	resp, err := http.Get("http://" + httpAddr + path)
	if err != nil {
		return 0, false
	}
	der, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return 0, false
	}
	for _, e := range rl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(x.SerialNumber) == 0 {
			return rl.Number.Int64(), true
		}
	}
	return rl.Number.Int64(), false
}

// roundRobinStatus asks for serial's status 30 times through one
// round_robin connection over every replica, and checks that each replica
// served some of the calls, by its own gRPC metrics.
func roundRobinStatus(t *testing.T, base *env, reps []*env, serial string) {
	t.Helper()
	r := manual.NewBuilderWithScheme("signet-e2e")
	var addrs []resolver.Address
	for _, rep := range reps {
		addrs = append(addrs, resolver.Address{Addr: rep.grpcAddr})
	}
	r.InitialState(resolver.State{Addresses: addrs})
	pemRoot, err := os.ReadFile(filepath.Join(base.state, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemRoot)
	conn, err := grpc.NewClient(r.Scheme()+":///signet", grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := signetv1.NewEnrollmentServiceClient(conn)
	for i := 0; i < 30; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := client.GetCertificate(ctx, &signetv1.GetCertificateRequest{Serial: serial})
		cancel()
		if err != nil || resp.GetCertificate().GetStatus() != signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE {
			t.Fatalf("GetCertificate %d through round robin: %v, %v", i, resp.GetCertificate().GetStatus(), err)
		}
	}
	for i, rep := range reps {
		resp, err := http.Get("http://" + rep.httpAddr + "/metrics")
		if err != nil {
			t.Fatalf("replica %d /metrics: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		served := 0.0
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "grpc_server_handled_total{") && strings.Contains(line, `grpc_method="GetCertificate"`) &&
				strings.Contains(line, `grpc_code="OK"`) {
				if f := strings.Fields(line); len(f) == 2 {
					served, _ = strconv.ParseFloat(f[1], 64)
				}
			}
		}
		if served < 1 {
			t.Errorf("replica %d served no GetCertificate of the 30 sent round robin (by its /metrics)", i)
		}
		t.Logf("replica %d served %.0f of the round-robin calls", i, served)
	}
}
