package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/proof"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// Spent evidence, proofs and enrollments are purged after SpentRetention,
// and a token whose record is gone is still refused: it is stale by then.
func TestPurgeSpent_AfterRetentionAndReplayStillRefused(t *testing.T) {
	if ca.SpentRetention <= evidence.MaxAge+evidence.ClockSkew || ca.SpentRetention <= 2*proof.MaxSkew {
		t.Fatalf("SpentRetention %s must outlast every freshness window", ca.SpentRetention)
	}
	h := newHarness(t)
	old := evidencetest.DefaultPerson()
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
	ev := h.evidence(e.Nonce, old)
	if _, err := h.client.IssueCertificate(ctx(t), &signetv1.IssueCertificateRequest{RequestId: uuid.NewString(),
		EnrollmentId: e.EnrollmentId, Csr: csrFor(t, newKey(t)), Evidence: ev, Holder: holderOf(old)}); err != nil {
		t.Fatal(err)
	}
	h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking) // never used
	count := func(q string) (n int) {
		t.Helper()
		if err := h.pool.QueryRow(ctx(t), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const evidenceQ, enrollmentsQ = `SELECT count(*) FROM used_evidence`, `SELECT count(*) FROM enrollments`
	if count(evidenceQ) != 2 || count(enrollmentsQ) != 2 {
		t.Fatalf("before: %d evidence ids, %d enrollments; want 2 and 2", count(evidenceQ), count(enrollmentsQ))
	}

	// Just short of the retention: nothing goes.
	start := h.clock.Now()
	h.clock.Set(start.Add(ca.SpentRetention - time.Minute))
	if n, err := h.ca.PurgeSpent(ctx(t)); err != nil || n != 0 {
		t.Fatalf("purge before the retention: %d rows (%v), want 0", n, err)
	}
	// A day and an hour on (the enrollments expired ten minutes after
	// they were made), a new issue for someone else; then the purge takes
	// the old rows only.
	h.clock.Set(start.Add(ca.SpentRetention + time.Hour))
	other := evidencetest.DefaultPerson()
	other.Name = "김철수"
	h.issue(other, banking)
	if n, err := h.ca.PurgeSpent(ctx(t)); err != nil || n != 4 {
		t.Fatalf("purge after the retention: %d rows (%v), want 4 (2 evidence ids, 2 enrollments); left %d, %d", n, err, count(evidenceQ), count(enrollmentsQ))
	}
	if count(evidenceQ) != 2 || count(enrollmentsQ) != 1 {
		t.Fatalf("after: %d evidence ids, %d enrollments; want the new issue's 2 and 1", count(evidenceQ), count(enrollmentsQ))
	}
	var details string
	if err := h.pool.QueryRow(ctx(t), `SELECT details::text FROM audit_events WHERE action = 'purge' AND actor = 'signet'`).Scan(&details); err != nil ||
		!strings.Contains(details, `"enrollments": 2`) || !strings.Contains(details, `"spent_evidence": 2`) {
		t.Errorf("purge audit event: %s (%v), want one with the counts", details, err)
	}

	// Replaying the purged tokens on a new enrollment fails on freshness.
	e2 := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE, banking)
	_, err := h.client.ReissueCertificate(ctx(t), &signetv1.ReissueCertificateRequest{RequestId: uuid.NewString(),
		EnrollmentId: e2.EnrollmentId, Csr: csrFor(t, newKey(t)), Evidence: ev, Holder: holderOf(old)})
	if code := status.Code(err); code == codes.OK {
		t.Fatal("a purged evidence token was accepted again")
	}
	_, _, reason := h.lastRefusal()
	t.Logf("replay refused: %s (%v)", reason, err)
	if !strings.Contains(reason, "expired") {
		t.Errorf("replay refused for %q, want as expired", reason)
	}
}
