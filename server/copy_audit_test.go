package server_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// The copy relay's own refusals leave their trace like any refusal: a code
// for no waiting session, a malformed slot, a session id that is not one.
func TestCopy_RefusalsAreAudited(t *testing.T) {
	h := newHarness(t)
	cp := signetv1.NewCopyServiceClient(h.conn)
	for _, tc := range []struct {
		action string
		call   func() error
		code   codes.Code
	}{
		{"copy:JoinCopy", func() error {
			_, err := cp.JoinCopy(context.Background(), &signetv1.JoinCopyRequest{Slot: "42"})
			return err
		}, codes.NotFound},
		{"copy:JoinCopy", func() error {
			_, err := cp.JoinCopy(context.Background(), &signetv1.JoinCopyRequest{Slot: "4x"})
			return err
		}, codes.InvalidArgument},
		{"copy:FetchCopy", func() error {
			_, err := cp.FetchCopy(context.Background(), &signetv1.FetchCopyRequest{SessionId: []byte("short"), Token: make([]byte, 32), Attempt: 1})
			return err
		}, codes.InvalidArgument},
	} {
		if err := tc.call(); status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.action, err, tc.code)
			continue
		}
		if action, _, reason := h.lastRefusal(); action != tc.action || reason == "" {
			t.Errorf("%s: last refusal %s/%s, want it audited", tc.action, action, reason)
		}
	}
}
