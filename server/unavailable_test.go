package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/store/devcluster"
)

// When PostgreSQL goes away (a fast shutdown: 57P01 to every session, then
// connection refused), every call answers UNAVAILABLE with a retry delay
// and the reason database_unavailable, never INTERNAL. Only a caller that
// sent a request_id is told to resend it; once the database is back the
// retry with the same request_id succeeds.
func TestDatabaseAway_IsUnavailableWithRetryInfo(t *testing.T) {
	dir := t.TempDir()
	start := func() *devcluster.Cluster {
		t.Helper()
		c, err := devcluster.Start(context.Background(), devcluster.Options{Dir: filepath.Join(dir, "pg")})
		if err != nil {
			t.Fatalf("throwaway PostgreSQL: %v", err)
		}
		return c
	}
	cluster := start()
	// Registered before the harness, so it runs after the harness and
	// storetest have dropped their database.
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	port := strings.TrimSuffix(strings.TrimPrefix(cluster.URL(), "postgres://signet@127.0.0.1:"), "/signet?sslmode=disable")
	t.Setenv("TEST_DATABASE_URL", fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable", port))

	h := newHarness(t)
	issued, _ := h.issue(evidencetest.DefaultPerson(), banking)
	other := evidencetest.DefaultPerson()
	other.Name = "김철수"
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
	issue := &signetv1.IssueCertificateRequest{RequestId: uuid.NewString(), EnrollmentId: e.EnrollmentId,
		Csr: csrFor(t, newKey(t)), Evidence: h.evidence(e.Nonce, other), Holder: holderOf(other)}

	if err := cluster.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name    string
		takesID bool
		call    func() error
	}{
		{name: "GetCertificate", call: func() error {
			_, err := h.client.GetCertificate(ctx(t), &signetv1.GetCertificateRequest{Serial: issued.Serial})
			return err
		}},
		{name: "StartEnrollment", call: func() error {
			_, err := h.client.StartEnrollment(ctx(t), &signetv1.StartEnrollmentRequest{Profile: banking,
				Purpose: signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE})
			return err
		}},
		{name: "IssueCertificate", takesID: true, call: func() error {
			_, err := h.client.IssueCertificate(ctx(t), issue)
			return err
		}},
	}
	for _, c := range calls {
		err := c.call()
		st := status.Convert(err)
		if st.Code() != codes.Unavailable {
			t.Errorf("%s with the database away: %v, want UNAVAILABLE", c.name, err)
			continue
		}
		var retry *errdetails.RetryInfo
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.RetryInfo:
				retry = d
			case *errdetails.ErrorInfo:
				info = d
			}
		}
		if retry == nil || retry.RetryDelay.AsDuration() <= 0 {
			t.Errorf("%s: no RetryInfo with a delay in %v", c.name, st.Details())
		}
		if info == nil || info.Reason != "database_unavailable" {
			t.Errorf("%s: ErrorInfo %v, want reason database_unavailable", c.name, info)
		}
		if says := strings.Contains(st.Message(), "same request_id"); says != c.takesID {
			t.Errorf("%s: message %q; it should tell to resend the request_id only to a caller that sent one", c.name, st.Message())
		}
	}

	// Back: the same request, resent, succeeds; until the pool has
	// reconnected it may only answer UNAVAILABLE.
	cluster = start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := h.client.IssueCertificate(ctx(t), issue)
		if err == nil {
			if resp.Certificate.GetSerial() == "" {
				t.Fatal("the retried issue answered without a certificate")
			}
			break
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			t.Fatalf("retry after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
