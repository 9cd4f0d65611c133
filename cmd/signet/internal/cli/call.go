package cli

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Once makes one call with the per-call time limit. Reads and calls that
// only start something (StartEnrollment) are not retried: a retry would
// not be safe or would not help.
func Once[T any](ctx context.Context, timeout time.Duration, call func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return call(cctx)
}

// maxRetries is how often a mutating call is repeated after a transient
// failure. Each mutating call carries a request_id, so a repeat returns the
// first result instead of acting twice (DESIGN.md, invariant 6).
const maxRetries = 3

// RetryDelay is the pause before retry n (0-based); a variable so tests
// need not sleep.
var RetryDelay = func(n int) time.Duration { return 500 * time.Millisecond << n }

// Retry makes a mutating call and repeats it, unchanged, when the answer was
// lost in transit (Unavailable) or came too late (DeadlineExceeded): in both
// cases the server may or may not have acted, and only a repeat with the
// same request_id finds out safely.
func Retry[T any](ctx context.Context, timeout time.Duration, call func(context.Context) (T, error)) (T, error) {
	for n := 0; ; n++ {
		v, err := Once(ctx, timeout, call)
		if err == nil || n == maxRetries || !transient(err) || ctx.Err() != nil {
			return v, err
		}
		t := time.NewTimer(RetryDelay(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
	}
}

func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}
