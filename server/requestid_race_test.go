package server_test

import (
	"crypto"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/proof"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// reasonOf is the ErrorInfo reason of a refusal.
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return ""
}

// person returns the i-th distinct test person.
func person(i int) evidencetest.Person {
	p := evidencetest.DefaultPerson()
	p.Name = fmt.Sprintf("홍길%c", rune('가'+i))
	p.Phone = fmt.Sprintf("010%08d", 10000000+i)
	return p
}

// checkOneWinner checks that exactly one of the calls sharing a request
// id succeeded, that every other got ALREADY_EXISTS / request_id_reused,
// and that each loser left exactly one refused audit event with that
// request id.
func checkOneWinner(t *testing.T, h *harness, requestID string, errs []error) {
	t.Helper()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case status.Code(err) != codes.AlreadyExists || reasonOf(err) != "request_id_reused":
			t.Errorf("call %d: %v (reason %q), want ALREADY_EXISTS / request_id_reused", i, err, reasonOf(err))
		}
	}
	if won != 1 {
		t.Errorf("%d calls succeeded under one request id, want exactly 1", won)
	}
	var refused int
	if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FROM audit_events
		WHERE outcome = 'refused' AND reason = 'request_id_reused' AND request_id = $1`, requestID).Scan(&refused); err != nil {
		t.Fatal(err)
	}
	if refused != len(errs)-1 {
		t.Errorf("%d request_id_reused refusals audited, want %d (one per loser)", refused, len(errs)-1)
	}
}

// TestRequestID_ConflictingIssuesOneWinner races twenty issues for twenty
// different people under one request id (issue 8 item 1).
func TestRequestID_ConflictingIssuesOneWinner(t *testing.T) {
	h := newHarness(t)
	const n = 20
	requestID := uuid.NewString()
	reqs := make([]*signetv1.IssueCertificateRequest, n)
	for i := range reqs {
		e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
		reqs[i] = &signetv1.IssueCertificateRequest{RequestId: requestID, EnrollmentId: e.EnrollmentId,
			Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, person(i)), Holder: holderOf(person(i))}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.client.IssueCertificate(ctx(t), r)
		}()
	}
	wg.Wait()
	checkOneWinner(t, h, requestID, errs)
}

// TestRequestID_ConflictingRenewalsOneWinner races twenty renewals of
// twenty different certificates under one request id.
func TestRequestID_ConflictingRenewalsOneWinner(t *testing.T) {
	h := newHarness(t)
	const n = 20
	reqs := make([]*signetv1.RenewCertificateRequest, n)
	certs := make([]*signetv1.Certificate, n)
	keys := make([]crypto.Signer, n)
	for i := range n {
		c, key := h.issue(person(i), banking)
		certs[i], keys[i] = c, key
	}
	h.clock.Set(certs[n-1].NotAfter.AsTime().Add(-24 * time.Hour))
	requestID := uuid.NewString()
	for i := range n {
		csr := csrFor(t, newKey(t))
		reqs[i] = &signetv1.RenewCertificateRequest{RequestId: requestID, Csr: csr,
			Proof: h.proofFor(certs[i], keys[i], ca.MethodRenew, proof.BindCSR(csr)), Holder: holderOf(person(i))}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.client.RenewCertificate(ctx(t), r)
		}()
	}
	wg.Wait()
	checkOneWinner(t, h, requestID, errs)
}

// TestRequestID_ConflictingRevocationsOneWinner races twenty revocations
// of twenty different certificates, and a reissue, under one request id:
// another method under a used request id is a different request too.
func TestRequestID_ConflictingRevocationsOneWinner(t *testing.T) {
	h := newHarness(t)
	const n = 20
	requestID := uuid.NewString()
	calls := make([]func() error, 0, n+1)
	for i := range n {
		c, key := h.issue(person(i), banking)
		r := &signetv1.RevokeCertificateRequest{RequestId: requestID, Serial: c.Serial,
			Reason:        signetv1.RevocationReason_REVOCATION_REASON_AFFILIATION_CHANGED,
			Authorization: &signetv1.RevokeCertificateRequest_Proof{Proof: h.proofFor(c, key, ca.MethodRevoke, proof.BindReason("affiliationChanged"))}}
		calls = append(calls, func() error { _, err := h.client.RevokeCertificate(ctx(t), r); return err })
	}
	h.issue(person(n), banking)
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE, banking)
	rr := &signetv1.ReissueCertificateRequest{RequestId: requestID, EnrollmentId: e.EnrollmentId,
		Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, person(n)), Holder: holderOf(person(n))}
	calls = append(calls, func() error { _, err := h.client.ReissueCertificate(ctx(t), rr); return err })

	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = call() }()
	}
	wg.Wait()
	checkOneWinner(t, h, requestID, errs)
}
