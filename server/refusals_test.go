package server_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/proof"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// TestRefusals sends each kind of bad request and checks its gRPC code,
// that its message says what to do, and that nothing was written but one
// refusal audit event (DESIGN.md invariants 1, 2 and 4).
func TestRefusals(t *testing.T) {
	p := evidencetest.DefaultPerson()
	issuePurpose := signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE

	// issueReq builds an issue request for a fresh enrollment; mutate
	// lets a case spoil one part.
	issueReq := func(h *harness, mutate func(e *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest)) *signetv1.IssueCertificateRequest {
		e := h.enroll(issuePurpose, banking)
		r := &signetv1.IssueCertificateRequest{RequestId: uuid.NewString(), EnrollmentId: e.EnrollmentId,
			Csr: csrFor(h.t, newKey(h.t)), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)}
		if mutate != nil {
			mutate(e, r)
		}
		return r
	}
	issue := func(mutate func(*harness, *signetv1.StartEnrollmentResponse, *signetv1.IssueCertificateRequest)) func(h *harness) func() error {
		return func(h *harness) func() error {
			r := issueReq(h, func(e *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) { mutate(h, e, r) })
			return func() error {
				_, err := h.client.IssueCertificate(ctx(h.t), r)
				return err
			}
		}
	}
	// phone replaces the phone token with one minted with opts.
	phone := func(opts ...evidencetest.Opt) func(*harness, *signetv1.StartEnrollmentResponse, *signetv1.IssueCertificateRequest) {
		return func(h *harness, e *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
			r.Evidence.PhoneToken = h.minter.PhoneToken(e.Nonce, p, opts...)
		}
	}

	cases := []struct {
		name string
		// prepare sets up the state the case needs and returns the call
		// that must be refused.
		prepare func(h *harness) func() error
		code    codes.Code
		reason  string
	}{
		{"malformed CSR", issue(func(h *harness, _ *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
			r.Csr = []byte("not a certificate request")
		}), codes.InvalidArgument, "malformed_csr"},
		{"wrongly signed CSR", issue(func(h *harness, _ *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
			r.Csr[len(r.Csr)-5] ^= 0xff
		}), codes.InvalidArgument, "bad_csr_signature"},
		{"weak RSA-1024 key", issue(func(h *harness, _ *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
			k, _ := rsa.GenerateKey(rand.Reader, 1024)
			r.Csr = csrFor(h.t, k)
		}), codes.InvalidArgument, "weak_key"},
		{"P-224 key", issue(func(h *harness, _ *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
			k, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
			r.Csr = csrFor(h.t, k)
		}), codes.InvalidArgument, "weak_key"},
		{"oversized CSR field", issue(func(h *harness, _ *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
			r.Csr = make([]byte, 64<<10)
		}), codes.InvalidArgument, "oversized_csr"},
		{"reused key", func(h *harness) func() error {
			_, key := h.issue(p, "personal-general")
			r := issueReq(h, func(_ *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
				r.Csr = csrFor(h.t, key)
			})
			return func() error { _, err := h.client.IssueCertificate(ctx(h.t), r); return err }
		}, codes.InvalidArgument, "reused_key"},
		{"forged evidence", issue(func(h *harness, e *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
			r.Evidence.PhoneToken = h.minter.SignWith(newKey(h.t), h.minter.PhoneClaims(e.Nonce, p))
		}), codes.Unauthenticated, "evidence_untrusted"},
		{"expired evidence", issue(phone(evidencetest.IssuedAt(time.Now().Add(-time.Hour)))), codes.Unauthenticated, "evidence_expired"},
		{"enrollment older than 10 minutes", func(h *harness) func() error {
			r := issueReq(h, nil)
			h.clock.Advance(11 * time.Minute)
			return func() error { _, err := h.client.IssueCertificate(ctx(h.t), r); return err }
		}, codes.FailedPrecondition, "enrollment_expired"},
		{"wrong nonce", issue(phone(evidencetest.WithClaim("nonce", "some-other-enrollment"))), codes.Unauthenticated, "evidence_wrong_nonce"},
		{"wrong audience", issue(phone(evidencetest.WithClaim("aud", "another-ca"))), codes.Unauthenticated, "evidence_wrong_audience"},
		{"phone and account of different people", issue(func(h *harness, e *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
			other := p
			other.Name = "김철수"
			r.Evidence.AccountToken = h.minter.AccountToken(e.Nonce, other)
		}), codes.PermissionDenied, "evidence_different_person"},
		{"replayed evidence", func(h *harness) func() error {
			r := issueReq(h, nil)
			if _, err := h.client.IssueCertificate(ctx(h.t), r); err != nil {
				h.t.Fatal(err)
			}
			// Same enrollment and tokens under a new request id.
			r.RequestId = uuid.NewString()
			r.Csr = csrFor(h.t, newKey(h.t))
			return func() error { _, err := h.client.IssueCertificate(ctx(h.t), r); return err }
		}, codes.Unauthenticated, "evidence_replayed"},
		{"issue while active", func(h *harness) func() error {
			h.issue(p, banking)
			r := issueReq(h, nil)
			return func() error { _, err := h.client.IssueCertificate(ctx(h.t), r); return err }
		}, codes.AlreadyExists, "already_active"},
		{"renew outside the window", func(h *harness) func() error {
			c, key := h.issue(p, banking)
			return func() error { _, _, err := h.renew(c, key); return err }
		}, codes.FailedPrecondition, "outside_renewal_window"},
		{"renew of a revoked certificate", func(h *harness) func() error {
			c, key := h.issue(p, banking)
			h.revokeByProof(c, key)
			h.clock.Set(c.NotAfter.AsTime().Add(-24 * time.Hour))
			return func() error { _, _, err := h.renew(c, key); return err }
		}, codes.FailedPrecondition, "revoked"},
		{"renew after expiry", func(h *harness) func() error {
			c, key := h.issue(p, banking)
			h.clock.Set(c.NotAfter.AsTime().Add(time.Minute))
			return func() error { _, _, err := h.renew(c, key); return err }
		}, codes.FailedPrecondition, "expired"},
		{"renewal proof by a look-alike certificate", func(h *harness) func() error {
			c, _ := h.issue(p, banking)
			h.clock.Set(c.NotAfter.AsTime().Add(-24 * time.Hour))
			// The attacker has no key of c's, so signs with their own key
			// under a self-made certificate with c's serial and subject.
			fake, fakeKey := lookAlike(h.t, c)
			return func() error { _, _, err := h.renew(fake, fakeKey); return err }
		}, codes.Unauthenticated, "bad_proof"},
		{"reissue after expiry", func(h *harness) func() error {
			c, _ := h.issue(p, banking)
			h.clock.Set(c.NotAfter.AsTime().Add(time.Second))
			e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE, banking)
			r := &signetv1.ReissueCertificateRequest{RequestId: uuid.NewString(),
				EnrollmentId: e.EnrollmentId, Csr: csrFor(h.t, newKey(h.t)), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)}
			return func() error { _, err := h.client.ReissueCertificate(ctx(h.t), r); return err }
		}, codes.FailedPrecondition, "nothing_to_reissue"},
		{"unknown profile", func(h *harness) func() error {
			return func() error {
				_, err := h.client.StartEnrollment(ctx(h.t), &signetv1.StartEnrollmentRequest{Profile: "gold-plated", Purpose: issuePurpose})
				return err
			}
		}, codes.InvalidArgument, "unknown_profile"},
		{"oversized message", func(h *harness) func() error {
			r := issueReq(h, nil)
			r.Evidence.PhoneToken = strings.Repeat("x", 1<<20)
			return func() error { _, err := h.client.IssueCertificate(ctx(h.t), r); return err }
		}, codes.ResourceExhausted, "oversized_message"},
		{"unknown serial", func(h *harness) func() error {
			e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REVOKE, banking)
			r := &signetv1.RevokeCertificateRequest{RequestId: uuid.NewString(),
				Serial: "7f00112233445566778899aabbccddeeff001122", Reason: signetv1.RevocationReason_REVOCATION_REASON_UNSPECIFIED,
				Authorization: &signetv1.RevokeCertificateRequest_Identity{Identity: &signetv1.IdentityAuthorization{
					EnrollmentId: e.EnrollmentId, Evidence: h.evidence(e.Nonce, p)}}}
			return func() error { _, err := h.client.RevokeCertificate(ctx(h.t), r); return err }
		}, codes.NotFound, "unknown_serial"},
		{"missing request id", issue(func(h *harness, _ *signetv1.StartEnrollmentResponse, r *signetv1.IssueCertificateRequest) {
			r.RequestId = ""
		}), codes.InvalidArgument, "bad_request_id"},
		{"subscriber revoking with certificateHold", func(h *harness) func() error {
			c, key := h.issue(p, banking)
			r := &signetv1.RevokeCertificateRequest{RequestId: uuid.NewString(),
				Serial: c.Serial, Reason: signetv1.RevocationReason_REVOCATION_REASON_CERTIFICATE_HOLD,
				Authorization: &signetv1.RevokeCertificateRequest_Proof{Proof: h.proofFor(c, key, ca.MethodRevoke, proof.BindReason("certificateHold"))}}
			return func() error { _, err := h.client.RevokeCertificate(ctx(h.t), r); return err }
		}, codes.InvalidArgument, "bad_reason"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			call := tc.prepare(h)
			before := h.counts()
			err := call()
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want code %v", err, tc.code)
			}
			if msg := status.Convert(err).Message(); len(msg) < 20 {
				t.Errorf("message %q is too terse for a person to act on", msg)
			}
			want := maps.Clone(before)
			want["audit_refused"]++
			after := h.waitCounts(want)
			if !maps.Equal(after, want) {
				t.Errorf("tables changed %v -> %v: want only one refusal audit event", before, after)
			}
			if _, _, reason := h.lastRefusal(); reason != tc.reason {
				t.Errorf("audited reason %q, want %q", reason, tc.reason)
			}
		})
	}
}

func lookAlike(t testing.TB, c *signetv1.Certificate) (*signetv1.Certificate, crypto.Signer) {
	t.Helper()
	orig, err := x509.ParseCertificate(c.Der)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: orig.SerialNumber, Subject: orig.Subject, NotBefore: orig.NotBefore, NotAfter: orig.NotAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return &signetv1.Certificate{Serial: c.Serial, Der: der}, key
}
