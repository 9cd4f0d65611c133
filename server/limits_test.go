package server_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/server"
)

// retryDelay checks that err is RESOURCE_EXHAUSTED / rate_limited and
// returns its RetryInfo delay.
func retryDelay(t *testing.T, err error) time.Duration {
	t.Helper()
	if status.Code(err) != codes.ResourceExhausted || reasonOf(err) != "rate_limited" {
		t.Fatalf("got %v (reason %q), want RESOURCE_EXHAUSTED / rate_limited", err, reasonOf(err))
	}
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	t.Fatal("no RetryInfo detail: the client cannot know when to retry")
	return 0
}

func (h *harness) rateLimitedEvents() int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(ctx(h.t), `SELECT count(*) FROM audit_events WHERE outcome = 'refused' AND reason = 'rate_limited'`).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestRateLimit_PerClient lets one RA client start a burst of enrollments,
// refuses the next with a retry time, audited, and lets it in again once
// the bucket has refilled (issue 8 item 11).
func TestRateLimit_PerClient(t *testing.T) {
	h := newHarnessWith(t, func(c *server.Config) {
		c.RateLimits = server.RateLimits{ClientRate: 1, ClientBurst: 3, SubjectMax: -1}
	})
	start := func() error {
		_, err := h.client.StartEnrollment(ctx(t), &signetv1.StartEnrollmentRequest{Profile: banking,
			Purpose: signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE})
		return err
	}
	for i := range 3 {
		if err := start(); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}
	if d := retryDelay(t, start()); d < time.Second || d > 2*time.Second {
		t.Errorf("retry delay %v, want about 1s at 1 call per second", d)
	}
	if n := h.rateLimitedEvents(); n != 1 {
		t.Errorf("%d rate_limited refusals audited, want 1", n)
	}
	// The same limit covers the identity-checked calls.
	if _, err := h.client.IssueCertificate(ctx(t), &signetv1.IssueCertificateRequest{RequestId: uuid.NewString()}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("IssueCertificate past the limit: %v", err)
	}
	h.clock.Advance(time.Second)
	if err := start(); err != nil {
		t.Errorf("after the bucket refilled: %v", err)
	}
}

// TestRateLimit_PerSubject refuses a person's identity-checked requests
// past the window's limit, whatever client sends them, with the window's
// end as retry time; another person is not affected, and the next window
// starts over.
func TestRateLimit_PerSubject(t *testing.T) {
	h := newHarnessWith(t, func(c *server.Config) {
		c.RateLimits = server.RateLimits{ClientRate: -1, SubjectMax: 2, SubjectWindow: server.Duration(time.Hour)}
	})
	p, other := evidencetest.DefaultPerson(), person(7)
	reissue := func(who evidencetest.Person) error {
		e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE, banking)
		_, err := h.client.ReissueCertificate(ctx(t), &signetv1.ReissueCertificateRequest{RequestId: uuid.NewString(),
			EnrollmentId: e.EnrollmentId, Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, who), Holder: holderOf(who)})
		return err
	}
	h.issue(p, banking) // attempt 1
	if err := reissue(p); err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
	before := h.counts()
	d := retryDelay(t, reissue(p))
	if d <= 0 || d > time.Hour {
		t.Errorf("retry delay %v, want until the end of the hour's window", d)
	}
	after := h.counts()
	if after["certificates"] != before["certificates"] || after["audit_refused"] != before["audit_refused"]+1 {
		rows, _ := h.pool.Query(ctx(t), `SELECT action, reason, details::text FROM audit_events WHERE outcome = 'refused'`)
		for rows.Next() {
			var a, r, d string
			_ = rows.Scan(&a, &r, &d)
			t.Logf("refused %s %s %s", a, r, d)
		}
		rows.Close()
		t.Errorf("a rate-limited request changed %v -> %v: want only its refusal event", before, after)
	}
	var subjectRef string
	if err := h.pool.QueryRow(ctx(t), `SELECT coalesce(subject_ref, '') FROM audit_events WHERE reason = 'rate_limited'`).Scan(&subjectRef); err != nil || subjectRef == "" {
		t.Errorf("the refusal must name the subject it limited: %q %v", subjectRef, err)
	}
	h.issue(other, banking) // another person has their own count
	h.clock.Advance(d)
	if err := reissue(p); err != nil {
		t.Errorf("in the next window: %v", err)
	}
}
