package server_test

import (
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// TestConcurrency_OneLiveCertificatePerSubject races many issues and
// reissues for one person, each sent twice with the same request id, and
// checks that exactly one certificate stays live and that every retry got
// the same certificate as its first attempt (invariants 3 and 6).
func TestConcurrency_OneLiveCertificatePerSubject(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	const n = 24

	type call struct {
		reissue bool
		req     any
	}
	var calls []call
	for i := 0; i < n; i++ {
		purpose := signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE
		if i%2 == 1 {
			purpose = signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE
		}
		e := h.enroll(purpose, banking)
		id, csr, ev := uuid.NewString(), csrFor(t, newKey(t)), h.evidence(e.Nonce, p)
		if i%2 == 1 {
			calls = append(calls, call{true, &signetv1.ReissueCertificateRequest{RequestId: id, EnrollmentId: e.EnrollmentId, Csr: csr, Evidence: ev, Holder: holderOf(p)}})
		} else {
			calls = append(calls, call{false, &signetv1.IssueCertificateRequest{RequestId: id, EnrollmentId: e.EnrollmentId, Csr: csr, Evidence: ev, Holder: holderOf(p)}})
		}
	}

	send := func(c call) (string, error) {
		if c.reissue {
			r, err := h.client.ReissueCertificate(ctx(t), c.req.(*signetv1.ReissueCertificateRequest))
			return r.GetCertificate().GetSerial(), err
		}
		r, err := h.client.IssueCertificate(ctx(t), c.req.(*signetv1.IssueCertificateRequest))
		return r.GetCertificate().GetSerial(), err
	}
	type outcome struct {
		serial string
		code   codes.Code
	}
	results := make([][2]outcome, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		for attempt := 0; attempt < 2; attempt++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				serial, err := send(c)
				results[i][attempt] = outcome{serial, status.Code(err)}
			}()
		}
	}
	wg.Wait()

	issued := map[string]bool{}
	for i, r := range results {
		a, b := r[0], r[1]
		if a.code == codes.OK && b.code == codes.OK && a.serial != b.serial {
			t.Errorf("call %d: two attempts with one request id got two certificates %s and %s", i, a.serial, b.serial)
		}
		for _, o := range r {
			switch o.code {
			case codes.OK:
				issued[o.serial] = true
			case codes.AlreadyExists, codes.FailedPrecondition:
				// Lost the race to another issue, or a reissue with
				// nothing live yet: both are correct refusals.
			default:
				t.Errorf("call %d: unexpected code %v", i, o.code)
			}
		}
	}
	var live, total int
	if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FILTER (WHERE status = 'active'), count(*) FROM certificates`).Scan(&live, &total); err != nil {
		t.Fatal(err)
	}
	if live != 1 {
		t.Errorf("%d active certificates for one subject and profile, want exactly 1", live)
	}
	if total != len(issued) {
		t.Errorf("%d certificates in the database, but clients received %d distinct serials", total, len(issued))
	}
	t.Logf("%d calls x 2 attempts: %d certificates issued, 1 active", len(calls), len(issued))
}
