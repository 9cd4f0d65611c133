package server_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

func (h *harness) suspend(c *signetv1.Certificate, authz any) (*signetv1.Certificate, error) {
	req := &signetv1.SuspendCertificateRequest{RequestId: uuid.NewString(), Serial: c.Serial}
	switch a := authz.(type) {
	case string:
		req.Authorization = &signetv1.SuspendCertificateRequest_Proof{Proof: a}
	case *signetv1.IdentityAuthorization:
		req.Authorization = &signetv1.SuspendCertificateRequest_Identity{Identity: a}
	}
	r, err := h.client.SuspendCertificate(ctx(h.t), req)
	return r.GetCertificate(), err
}

func (h *harness) resume(c *signetv1.Certificate, authz any) (*signetv1.Certificate, error) {
	req := &signetv1.ResumeCertificateRequest{RequestId: uuid.NewString(), Serial: c.Serial}
	switch a := authz.(type) {
	case string:
		req.Authorization = &signetv1.ResumeCertificateRequest_Proof{Proof: a}
	case *signetv1.IdentityAuthorization:
		req.Authorization = &signetv1.ResumeCertificateRequest_Identity{Identity: a}
	}
	r, err := h.client.ResumeCertificate(ctx(h.t), req)
	return r.GetCertificate(), err
}

func (h *harness) identityFor(purpose signetv1.EnrollmentPurpose, p evidencetest.Person) *signetv1.IdentityAuthorization {
	e := h.enroll(purpose, banking)
	return &signetv1.IdentityAuthorization{EnrollmentId: e.EnrollmentId, Evidence: h.evidence(e.Nonce, p)}
}

func TestSuspendResume_HoldBlocksRenewalAndLiftsAgain(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	c, key := h.issue(p, banking)
	// Suspend inside the renewal window so that renewal is refused only
	// because of the hold.
	h.clock.Set(c.NotAfter.AsTime().Add(-20 * 24 * time.Hour))

	got, err := h.suspend(c, h.proofFor(c, key, ca.MethodSuspend, "suspend"))
	if err != nil {
		t.Fatalf("SuspendCertificate: %v", err)
	}
	if got.Status != signetv1.CertificateStatus_CERTIFICATE_STATUS_SUSPENDED ||
		got.RevocationReason != signetv1.RevocationReason_REVOCATION_REASON_CERTIFICATE_HOLD ||
		!got.NotAfter.AsTime().Equal(c.NotAfter.AsTime()) {
		t.Fatalf("after suspend: %v, want suspended (certificateHold) with unchanged validity", got)
	}
	// A suspended certificate cannot be renewed or reissued from.
	if _, _, err := h.renew(c, key); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("renew while suspended: %v, want FailedPrecondition", err)
	}
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE, banking)
	_, err = h.client.ReissueCertificate(ctx(t), &signetv1.ReissueCertificateRequest{RequestId: uuid.NewString(),
		EnrollmentId: e.EnrollmentId, Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("reissue while suspended: %v, want FailedPrecondition", err)
	}

	// Resume by identity evidence (the holder may have lost the key).
	got, err = h.resume(c, h.identityFor(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_RESUME, p))
	if err != nil {
		t.Fatalf("ResumeCertificate: %v", err)
	}
	if got.Status != signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE || got.RevokedAt != nil {
		t.Fatalf("after resume: %v, want active", got)
	}
	if _, _, err := h.renew(c, key); err != nil {
		t.Errorf("renew after resume: %v", err)
	}
	var events int
	if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FROM audit_events WHERE serial = $1 AND outcome = 'ok'
		AND action IN ('suspend', 'resume')`, c.Serial).Scan(&events); err != nil || events != 2 {
		t.Errorf("suspend/resume audit events: %d (%v), want 2", events, err)
	}
}

func TestSuspend_RefusedForOthersAndTwice(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	c, key := h.issue(p, banking)
	other := p
	other.Name = "김철수"
	if _, err := h.suspend(c, h.identityFor(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_SUSPEND, other)); status.Code(err) != codes.PermissionDenied {
		t.Errorf("suspend with another person's evidence: %v, want PermissionDenied", err)
	}
	if _, err := h.resume(c, h.proofFor(c, key, ca.MethodResume, "resume")); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("resume of an active certificate: %v, want FailedPrecondition", err)
	}
	if _, err := h.suspend(c, h.proofFor(c, key, ca.MethodSuspend, "suspend")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.suspend(c, h.proofFor(c, key, ca.MethodSuspend, "suspend")); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("second suspend: %v, want FailedPrecondition", err)
	}
	// A proof made for suspension cannot resume.
	if _, err := h.resume(c, h.proofFor(c, key, ca.MethodSuspend, "suspend")); status.Code(err) != codes.Unauthenticated {
		t.Errorf("resume with a suspend proof: %v, want Unauthenticated", err)
	}
}

func TestSuspension_LapsesAfterSixMonths(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	c, key := h.issue(p, banking)
	suspendedAt := h.clock.Now()
	if _, err := h.suspend(c, h.proofFor(c, key, ca.MethodSuspend, "suspend")); err != nil {
		t.Fatal(err)
	}
	// One second short of six months: resumable, and the job leaves it.
	h.clock.Set(suspendedAt.AddDate(0, 6, 0).Add(-time.Second))
	if n, err := h.ca.RevokeLapsedSuspensions(ctx(t)); err != nil || n != 0 {
		t.Fatalf("job before 6 months revoked %d (%v), want 0", n, err)
	}
	h.clock.Set(suspendedAt.AddDate(0, 6, 0).Add(time.Second))
	if _, err := h.resume(c, h.proofFor(c, key, ca.MethodResume, "resume")); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("resume after 6 months: %v, want FailedPrecondition", err)
	}
	if n, err := h.ca.RevokeLapsedSuspensions(ctx(t)); err != nil || n != 1 {
		t.Fatalf("job after 6 months revoked %d (%v), want 1", n, err)
	}
	got, err := h.client.GetCertificate(ctx(t), &signetv1.GetCertificateRequest{Serial: c.Serial})
	if err != nil {
		t.Fatal(err)
	}
	if got.Certificate.Status != signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED || !got.Certificate.RevokedAt.AsTime().Equal(suspendedAt.Truncate(time.Microsecond)) {
		t.Errorf("after the job: %v, want revoked as of the hold time %v", got.Certificate, suspendedAt)
	}
	// Once revoked the subject may issue again.
	h.issue(p, banking)
}
