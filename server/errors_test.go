package server_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/adminca"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// An enrollment without a known purpose is refused with a message that
// names every purpose, and the refusal is audited like any other.
func TestStartEnrollment_UnknownPurposeIsRefusedNamingAllAndAudited(t *testing.T) {
	h := newHarness(t)
	_, err := h.client.StartEnrollment(ctx(t), &signetv1.StartEnrollmentRequest{Profile: "personal-banking"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("no purpose: %v, want InvalidArgument", err)
	}
	for _, p := range []string{"ISSUE", "REISSUE", "REVOKE", "SUSPEND", "RESUME"} {
		if !strings.Contains(status.Convert(err).Message(), "_"+p) {
			t.Errorf("message %q does not name ENROLLMENT_PURPOSE_%s", status.Convert(err).Message(), p)
		}
	}
	if action, _, reason := h.lastRefusal(); action != "start_enrollment" || reason != "bad_purpose" {
		t.Errorf("last refusal %s/%s, want start_enrollment/bad_purpose audited", action, reason)
	}
}

// A page token that is not one (garbled, or from another listing) is the
// caller's mistake: INVALID_ARGUMENT, from the one error mapping.
func TestAdmin_MalformedPageTokenIsInvalidArgument(t *testing.T) {
	h := newHarness(t)
	auditor := h.adminClient(h.staff(adminca.RoleAuditor, "kang.auditor"))
	for name, call := range map[string]func() error{
		"events": func() error {
			_, err := auditor.ListAuditEvents(context.Background(), &signetv1.ListAuditEventsRequest{PageToken: "not-a-token"})
			return err
		},
		"certificates": func() error {
			_, err := auditor.SearchCertificates(context.Background(), &signetv1.SearchCertificatesRequest{PageToken: "bm90LWEtdG9rZW4"})
			return err
		},
		"signatures": func() error {
			_, err := auditor.ListSignatures(context.Background(), &signetv1.ListSignaturesRequest{PageToken: "e2|1|2"})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s with a malformed page token: %v, want InvalidArgument", name, err)
		}
	}
}
