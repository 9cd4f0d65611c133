package server_test

import (
	"crypto"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	"github.com/signet-ca/signet/ca/login"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

func (h *harness) signIn(t testing.TB, c *signetv1.Certificate, key crypto.Signer) (*signetv1.VerifyResponse, error) {
	auth := signetv1.NewAuthenticationServiceClient(h.conn)
	ch, err := auth.Challenge(ctx(t), &signetv1.ChallengeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return auth.Verify(ctx(t), &signetv1.VerifyRequest{ChallengeId: ch.ChallengeId,
		Proof: h.proofFor(c, key, login.Method, ch.Challenge)})
}

// A bank signs its customer in with the certificate Signet issued, until
// the certificate is revoked.
func TestLogin_SignsInUntilRevoked(t *testing.T) {
	h := newHarness(t)
	c, key := h.issue(evidencetest.DefaultPerson(), banking)
	id, err := h.signIn(t, c, key)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if id.Serial != c.Serial || id.Registration != "signet" || id.Status != signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE {
		t.Errorf("identity %+v", id)
	}
	h.revokeByProof(c, key)
	if _, err := h.signIn(t, c, key); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("sign in with a revoked certificate: %v, want FailedPrecondition", err)
	}
	if _, _, reason := h.lastRefusal(); reason != "revoked" {
		t.Errorf("last refusal %q, want revoked", reason)
	}
}

// BenchmarkLogin is verifications per second, the certificate's status
// check included: Challenge + Verify over gRPC/TLS into PostgreSQL.
//
//	go test ./server -run '^$' -bench Login -benchtime 3000x -cpu 2
func BenchmarkLogin(b *testing.B) {
	h := newHarness(b)
	c, key := h.issue(evidencetest.DefaultPerson(), banking)
	var failed atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.signIn(b, c, key); err != nil {
				failed.Add(1)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	if failed.Load() > 0 {
		b.Fatalf("%d sign-ins failed", failed.Load())
	}
}
