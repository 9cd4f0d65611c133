package cli

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRetry_RepeatsSameCallOnlyWhenTransient(t *testing.T) {
	saved := RetryDelay
	RetryDelay = func(int) time.Duration { return 0 }
	t.Cleanup(func() { RetryDelay = saved })

	tests := []struct {
		name      string
		failures  []codes.Code // answers before success
		wantCalls int
		wantCode  codes.Code
	}{
		{"success at once", nil, 1, codes.OK},
		{"lost answers then success", []codes.Code{codes.Unavailable, codes.DeadlineExceeded}, 3, codes.OK},
		{"refusal is final", []codes.Code{codes.AlreadyExists}, 1, codes.AlreadyExists},
		{"gives up after three retries", []codes.Code{codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable}, 4, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got, err := Retry(context.Background(), time.Second, func(ctx context.Context) (string, error) {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("call has no deadline")
				}
				calls++
				if calls <= len(tt.failures) {
					return "", status.Error(tt.failures[calls-1], "x")
				}
				return "certificate", nil
			})
			if calls != tt.wantCalls || status.Code(err) != tt.wantCode {
				t.Errorf("%d calls, code %v; want %d calls, code %v", calls, status.Code(err), tt.wantCalls, tt.wantCode)
			}
			if err == nil && got != "certificate" {
				t.Errorf("result %q", got)
			}
		})
	}
}

func TestRetry_StopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := Retry(ctx, time.Second, func(context.Context) (int, error) {
		calls++
		cancel()
		return 0, status.Error(codes.Unavailable, "x")
	})
	if calls != 1 || status.Code(err) != codes.Unavailable {
		t.Errorf("%d calls, %v", calls, err)
	}
}
