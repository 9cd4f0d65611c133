package server_test

import (
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// BenchmarkIssueCertificate measures end-to-end issuance over gRPC/TLS into
// PostgreSQL: StartEnrollment + IssueCertificate for a new person each
// time, RSA-2048 CA signature through softcas. The client's key and CSR
// (ECDSA P-256) and the evidence tokens are made inside the loop too, as a
// real RA channel would.
//
//	go test ./server -run '^$' -bench IssueCertificate -benchtime 2000x -cpu 2
func BenchmarkIssueCertificate(b *testing.B) {
	h := newHarness(b)
	b.ResetTimer()
	issueInParallel(b, h)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
}

// issueInParallel issues b.N certificates, each to a new person, from
// GOMAXPROCS goroutines.
func issueInParallel(b *testing.B, h *harness) {
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := evidencetest.DefaultPerson()
			p.Name = hangulName(n.Add(1))
			e, err := h.client.StartEnrollment(ctx(b), &signetv1.StartEnrollmentRequest{Profile: banking, Purpose: signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE})
			if err != nil {
				b.Error(err)
				return
			}
			_, err = h.client.IssueCertificate(ctx(b), &signetv1.IssueCertificateRequest{RequestId: uuid.NewString(),
				EnrollmentId: e.EnrollmentId, Csr: csrFor(b, newKey(b)), Evidence: h.evidence(e.Nonce, p), Holder: holderOf(p)})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// hangulName is a distinct name for every i: 홍 and two to four Hangul
// syllables spelling i in base 11172 (names may hold letters only).
func hangulName(i int64) string {
	name := []rune("홍")
	for ; i > 0 || len(name) < 3; i /= 11172 {
		name = append(name, rune(0xAC00+i%11172))
	}
	return string(name)
}
