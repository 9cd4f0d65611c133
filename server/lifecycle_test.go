package server_test

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"github.com/signet-ca/signet/ca/crlreason"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/internal/kst"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

const banking = "personal-banking"

func TestIssue_OneYearNPKIProfile(t *testing.T) {
	h := newHarness(t)
	before := h.counts()
	c, _ := h.issue(evidencetest.DefaultPerson(), banking)
	cert := h.verify(c, h.clock.Now())

	// Validity: from now until 23:59:59 KST on the same date a year later.
	if !cert.NotBefore.Equal(h.clock.Now().Truncate(time.Second)) {
		t.Errorf("notBefore = %v, want %v", cert.NotBefore, h.clock.Now())
	}
	if want := endOfDayKST(h.clock.Now(), 1); !cert.NotAfter.Equal(want) {
		t.Errorf("notAfter = %v, want %v", cert.NotAfter.In(kst.Zone), want)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
		t.Errorf("key usage = %v, want digitalSignature|nonRepudiation", cert.KeyUsage)
	}
	var kuCritical, policyOK bool
	for _, e := range cert.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 15}) {
			kuCritical = e.Critical
		}
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 32}) {
			policyOK = bytes.Contains(e.Value, []byte("https://signet.example/cps"))
		}
	}
	if !kuCritical || !policyOK {
		t.Errorf("key usage critical = %v, policies with CPS = %v", kuCritical, policyOK)
	}
	if len(cert.Policies) != 1 || cert.Policies[0].String() != ca.ExampleArc+".1.1.4" {
		t.Errorf("policies = %v, want the personal-banking OID", cert.Policies)
	}
	if n := len(cert.SerialNumber.Bytes()); n != 20 || cert.SerialNumber.Sign() <= 0 {
		t.Errorf("serial is %d bytes (sign %d), want 20 positive", n, cert.SerialNumber.Sign())
	}
	if c.Serial != cert.SerialNumber.Text(16) {
		t.Errorf("serial %q, want lower-case hex %q", c.Serial, cert.SerialNumber.Text(16))
	}
	if len(cert.CRLDistributionPoints) != 1 || len(cert.OCSPServer) != 1 || len(cert.IssuingCertificateURL) != 1 {
		t.Errorf("CRL DP %v, OCSP %v, caIssuers %v: want one of each", cert.CRLDistributionPoints, cert.OCSPServer, cert.IssuingCertificateURL)
	}
	dn := ca.SubjectString(cert)
	if !strings.HasPrefix(dn, "CN=홍길동()00004") || !strings.HasSuffix(dn, ",OU=KB,OU=personal4IB,O=Signet,C=KR") {
		t.Errorf("subject = %q, want CN=홍길동()00004...,OU=KB,OU=personal4IB,O=Signet,C=KR", dn)
	}
	after := h.counts()
	if after["certificates"] != before["certificates"]+1 || after["audit_ok"] != before["audit_ok"]+1 || after["used_evidence"] != before["used_evidence"]+2 {
		t.Errorf("counts %v -> %v: want one certificate, one ok audit event, two spent evidence ids", before, after)
	}
	// Boulder's order: the signature was recorded (with its own audit
	// event) before it was made, and settled as issued with this DER.
	if after["subscriber_signed"] != before["subscriber_signed"]+1 || after["subscriber_sign_events"] != before["subscriber_sign_events"]+1 || after["subscriber_open"] != 0 {
		t.Errorf("ledger counts %v -> %v: want one issued subscriber signature with one sign event, none open", before, after)
	}
	var ledgerDER []byte
	if err := h.pool.QueryRow(ctx(t), "SELECT der FROM signatures WHERE serial = $1 AND state = 'issued'", c.Serial).Scan(&ledgerDER); err != nil || !bytes.Equal(ledgerDER, cert.Raw) {
		t.Errorf("ledger row of %s: %v; want the delivered DER", c.Serial, err)
	}
	// Personal data only as keyed hash or masked.
	var subjectRef, phone, account string
	if err := h.pool.QueryRow(ctx(t), "SELECT subject_ref, phone_masked, account_masked FROM certificates").Scan(&subjectRef, &phone, &account); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(subjectRef, "sr1_") || strings.Contains(subjectRef, evidencetest.DefaultPerson().CI()) ||
		phone != "010-****-5678" || strings.Contains(account, "12345678901234") {
		t.Errorf("stored subject_ref=%q phone=%q account=%q: want HMAC and masked values", subjectRef, phone, account)
	}
}

func TestRenew_CarriesRemainingDaysOver(t *testing.T) {
	h := newHarness(t)
	old, key := h.issue(evidencetest.DefaultPerson(), banking)
	oldCert := h.verify(old, h.clock.Now())

	h.clock.Set(oldCert.NotAfter.Add(-10 * 24 * time.Hour))
	resp, _, err := h.renew(old, key)
	if err != nil {
		t.Fatalf("RenewCertificate: %v", err)
	}
	cert := h.verify(resp.Certificate, h.clock.Now())
	if want := endOfDayKST(oldCert.NotAfter, 1); !cert.NotAfter.Equal(want) {
		t.Errorf("renewed notAfter = %v, want old notAfter + 1 year = %v", cert.NotAfter.In(kst.Zone), want)
	}
	if !bytes.Equal(cert.RawSubject, oldCert.RawSubject) {
		t.Errorf("renewal changed the subject: %s -> %s", oldCert.Subject, cert.Subject)
	}
	if resp.ReplacedSerial != old.Serial {
		t.Errorf("replaced serial %q, want %q", resp.ReplacedSerial, old.Serial)
	}
	got, err := h.client.GetCertificate(ctx(t), &signetv1.GetCertificateRequest{Serial: old.Serial})
	if err != nil {
		t.Fatal(err)
	}
	if got.Certificate.Status != signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED ||
		got.Certificate.RevocationReason != signetv1.RevocationReason_REVOCATION_REASON_SUPERSEDED ||
		got.Certificate.ReplacedBy != resp.Certificate.Serial {
		t.Errorf("old certificate after renewal: %v", got.Certificate)
	}
}

func TestReissue_KeepsNotAfterAndRevokesOld(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	old, _ := h.issue(p, banking)
	h.clock.Advance(40 * 24 * time.Hour)

	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE, banking)
	resp, err := h.client.ReissueCertificate(ctx(t), &signetv1.ReissueCertificateRequest{
		RequestId: uuid.NewString(), EnrollmentId: e.EnrollmentId, Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)})
	if err != nil {
		t.Fatalf("ReissueCertificate: %v", err)
	}
	h.verify(resp.Certificate, h.clock.Now())
	if !resp.Certificate.NotAfter.AsTime().Equal(old.NotAfter.AsTime()) {
		t.Errorf("reissued notAfter %v, want the old %v", resp.Certificate.NotAfter.AsTime(), old.NotAfter.AsTime())
	}
	var status string
	var reason int
	var revokedAt, createdAt time.Time
	err = h.pool.QueryRow(ctx(t), `SELECT o.status, o.revocation_reason, o.revoked_at, n.created_at FROM certificates o
		JOIN certificates n ON n.replaces = o.serial WHERE o.serial = $1`, old.Serial).Scan(&status, &reason, &revokedAt, &createdAt)
	if err != nil {
		t.Fatal(err)
	}
	if status != "revoked" || reason != crlreason.Superseded || !revokedAt.Equal(createdAt) {
		t.Errorf("old: status %s reason %d revoked %v, new created %v: want superseded at the same instant", status, reason, revokedAt, createdAt)
	}
}

func TestRevoke_ByKeyProofThenKeyBlocked(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	c, key := h.issue(p, banking)
	resp, err := h.client.RevokeCertificate(ctx(t), &signetv1.RevokeCertificateRequest{
		RequestId: uuid.NewString(), Serial: c.Serial, Reason: signetv1.RevocationReason_REVOCATION_REASON_KEY_COMPROMISE,
		Authorization: &signetv1.RevokeCertificateRequest_Proof{Proof: h.proofFor(c, key, ca.MethodRevoke, proof.BindReason("keyCompromise"))}})
	if err != nil {
		t.Fatalf("RevokeCertificate: %v", err)
	}
	if resp.Certificate.Status != signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED || !resp.Certificate.RevokedAt.AsTime().Equal(h.clock.Now()) {
		t.Errorf("revoked: %v, want revoked at exactly %v", resp.Certificate, h.clock.Now())
	}
	// A new issue is allowed now, but never with the compromised key.
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
	_, err = h.client.IssueCertificate(ctx(t), &signetv1.IssueCertificateRequest{
		RequestId: uuid.NewString(), EnrollmentId: e.EnrollmentId, Csr: csrFor(t, key), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "compromised") {
		t.Fatalf("issue with compromised key: %v, want InvalidArgument mentioning compromise", err)
	}
	h.issue(p, banking)
}

func TestRevoke_ByIdentityWhenKeyLost(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	c, _ := h.issue(p, banking)
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REVOKE, banking)
	_, err := h.client.RevokeCertificate(ctx(t), &signetv1.RevokeCertificateRequest{
		RequestId: uuid.NewString(), Serial: c.Serial, Reason: signetv1.RevocationReason_REVOCATION_REASON_CESSATION_OF_OPERATION,
		Authorization: &signetv1.RevokeCertificateRequest_Identity{Identity: &signetv1.IdentityAuthorization{
			EnrollmentId: e.EnrollmentId, Evidence: h.evidence(e.Nonce, p)}}})
	if err != nil {
		t.Fatalf("RevokeCertificate by identity: %v", err)
	}
	// Someone else's evidence cannot revoke a certificate.
	c2, _ := h.issue(p, "personal-general")
	other := p
	other.Name, other.Birth = "김철수", "19850505"
	e = h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REVOKE, "personal-general")
	_, err = h.client.RevokeCertificate(ctx(t), &signetv1.RevokeCertificateRequest{
		RequestId: uuid.NewString(), Serial: c2.Serial, Reason: signetv1.RevocationReason_REVOCATION_REASON_UNSPECIFIED,
		Authorization: &signetv1.RevokeCertificateRequest_Identity{Identity: &signetv1.IdentityAuthorization{
			EnrollmentId: e.EnrollmentId, Evidence: h.evidence(e.Nonce, other)}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("revoke with another person's evidence: %v, want PermissionDenied", err)
	}
}

func TestIssue_RetryWithSameRequestIDReturnsSameCertificate(t *testing.T) {
	h := newHarness(t)
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
	req := &signetv1.IssueCertificateRequest{RequestId: uuid.NewString(), EnrollmentId: e.EnrollmentId,
		Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, evidencetest.DefaultPerson()), Holder: holderOf(evidencetest.DefaultPerson())}
	first, err := h.client.IssueCertificate(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.client.IssueCertificate(ctx(t), req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if first.Certificate.Serial != second.Certificate.Serial || !bytes.Equal(first.Certificate.Der, second.Certificate.Der) {
		t.Errorf("retry returned %s, first was %s", second.Certificate.Serial, first.Certificate.Serial)
	}
	// The same request id for a different request is refused.
	req.Csr = csrFor(t, newKey(t))
	if _, err := h.client.IssueCertificate(ctx(t), req); status.Code(err) != codes.AlreadyExists {
		t.Errorf("request id reused for another request: %v, want AlreadyExists", err)
	}
}

func TestIssue_AfterExpiryMarksOldExpiredWithAuditEvent(t *testing.T) {
	h := newHarness(t)
	p := evidencetest.DefaultPerson()
	old, _ := h.issue(p, banking)
	h.clock.Set(old.NotAfter.AsTime().Add(time.Hour))
	h.issue(p, banking)
	var st string
	var events int
	if err := h.pool.QueryRow(ctx(t), `SELECT status, (SELECT count(*) FROM audit_events WHERE action = 'expire' AND serial = $1)
		FROM certificates WHERE serial = $1`, old.Serial).Scan(&st, &events); err != nil {
		t.Fatal(err)
	}
	if st != "expired" || events != 1 {
		t.Errorf("old certificate: status %s with %d expire events, want expired with 1", st, events)
	}
}

// GetCertificate is a public status answer: it leaves out what names a
// person (subject, DER) but carries the CA chain, which a holder needs to
// verify or export the certificate it has.
func TestGetCertificate_PublicAnswerCarriesTheChainNotThePerson(t *testing.T) {
	h := newHarness(t)
	c, _ := h.issue(evidencetest.DefaultPerson(), banking)
	got, err := h.client.GetCertificate(ctx(t), &signetv1.GetCertificateRequest{Serial: c.Serial})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Certificate.Chain) != 1 || !bytes.Equal(got.Certificate.Chain[0], h.chain[0].Raw) {
		t.Errorf("public answer carries %d chain certificates, want the intermediate", len(got.Certificate.Chain))
	}
	if got.Certificate.Subject != "" || len(got.Certificate.Der) != 0 {
		t.Errorf("public answer names the person: subject %q, %d DER bytes", got.Certificate.Subject, len(got.Certificate.Der))
	}
}
