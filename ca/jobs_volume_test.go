package ca

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/lint"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// The hourly jobs at the volume of a busy day (storetest.JobVolume: a
// tenth of issue 8's 400,000 evidence rows and 5,000 enrollments in `go
// test`, all of it in BenchmarkJobs_FullVolume): each finishes, in
// batches of its limit, each batch its own transaction with its audit
// events, and leaves everything that is not yet due.
func TestJobs_AtVolumeRunInBatches(t *testing.T) {
	runJobsAtVolume(t, storetest.TestVolume())
}

// BenchmarkJobs_FullVolume runs the jobs over issue 8's full volume:
// go test ./ca -run '^$' -bench Jobs_FullVolume -benchtime 1x
func BenchmarkJobs_FullVolume(b *testing.B) {
	for range b.N {
		runJobsAtVolume(b, storetest.FullVolume)
	}
}

func runJobsAtVolume(t testing.TB, size storetest.VolumeSize) {
	a, u, now := newJobsEnv(t)
	v := storetest.JobVolume(size, "volume", now.Truncate(time.Second))
	storetest.LoadVolume(t, u, v)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(q string, args ...any) (n int) {
		t.Helper()
		if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	// batches counts the transactions that wrote the job's audit events.
	batches := func(action, actor string) int {
		return count(`SELECT count(DISTINCT xid) FROM audit_events WHERE action = $1 AND actor = $2`, action, actor)
	}

	// Spent evidence and enrollments: the due pairs and their enrollments.
	evidenceBefore, enrollmentsBefore := count(`SELECT count(*) FROM used_evidence`), count(`SELECT count(*) FROM enrollments`)
	n, err := a.PurgeSpent(ctx)
	if err != nil {
		t.Fatalf("PurgeSpent: %v", err)
	}
	if want := int64(3 * v.DueEnrollments); n != want {
		t.Errorf("PurgeSpent deleted %d rows, want %d (%d evidence ids and %d enrollments)", n, want, 2*v.DueEnrollments, v.DueEnrollments)
	}
	if got := count(`SELECT count(*) FROM used_evidence`); got != evidenceBefore-2*v.DueEnrollments {
		t.Errorf("%d evidence ids left, want the %d not yet due", got, evidenceBefore-2*v.DueEnrollments)
	}
	if got := count(`SELECT count(*) FROM enrollments`); got != enrollmentsBefore-v.DueEnrollments {
		t.Errorf("%d enrollments left, want the %d not yet due", got, enrollmentsBefore-v.DueEnrollments)
	}
	if over := count(`SELECT count(*) FROM audit_events WHERE action = 'purge' AND actor = 'signet'
		AND ((details->>'spent_evidence')::int > $1 OR (details->>'enrollments')::int > $1)`, spentBatch); over != 0 {
		t.Errorf("%d purge batches went over the batch size %d", over, spentBatch)
	}
	if want := (2*v.DueEnrollments + spentBatch - 1) / spentBatch; batches("purge", "signet") < want {
		t.Errorf("PurgeSpent ran in %d transactions, want at least %d batches", batches("purge", "signet"), want)
	}

	// Suspensions older than 6 months: revoked, in batches of lapsedBatch.
	revoked, err := a.RevokeLapsedSuspensions(ctx)
	if err != nil || revoked != v.Lapsed {
		t.Errorf("RevokeLapsedSuspensions: %d (%v), want %d", revoked, err, v.Lapsed)
	}
	if got, want := batches("revoke", "signet"), (v.Lapsed+lapsedBatch-1)/lapsedBatch; got != want {
		t.Errorf("the lapsed suspensions were revoked in %d transactions, want %d batches of %d", got, want, lapsedBatch)
	}
	if got := count(`SELECT count(*) FROM certificates WHERE status = 'suspended'`); got != v.Certificates/10-v.Lapsed/10 {
		t.Errorf("%d certificates still suspended, want the %d suspended yesterday", got, v.Certificates/10-v.Lapsed/10)
	}

	// Reservations left open by a process that stopped: abandoned.
	abandoned, err := a.RecoverSignatures(ctx, AbandonAfter)
	if err != nil || abandoned != v.Open {
		t.Errorf("RecoverSignatures: %d (%v), want %d", abandoned, err, v.Open)
	}
	if got, want := batches("sign_abandoned", "signet"), (v.Open+499)/500; got != want {
		t.Errorf("the open reservations were abandoned in %d transactions, want %d batches of 500", got, want)
	}
	if got := count(`SELECT count(*) FROM signatures WHERE state = 'reserved'`); got != 0 {
		t.Errorf("%d reservations still open", got)
	}
}

// newJobsEnv is the core on a fresh database, at a fixed now, and the
// database's URL for loading it.
func newJobsEnv(t testing.TB) (*Authority, string, time.Time) {
	t.Helper()
	dir, err := os.MkdirTemp("", "signet-jobs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f, err := devca.Ensure(dir, "Signet", []string{"127.0.0.1"}, devca.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	linter, err := lint.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(context.Background(), signer.Config{Chain: f.Intermediate, KMS: "softkms:", Key: f.IntermediateKey}, linter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	u := storetest.NewDatabase(t)
	db, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	minter := evidencetest.NewMinter("signet-jobs", clock)
	verifier, err := evidence.NewVerifier("signet-jobs", minter.Providers(), clock)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Audience: "signet-jobs", SubjectKey: make([]byte, 32), Organization: "Signet",
		Profiles: DefaultProfiles(), CRLBaseURL: "http://crl.test/crl", OCSPURL: "http://ocsp.test/ocsp",
		IssuerURL: "http://ca.test/issuer.crt"}, db, s, verifier, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, u, now
}
