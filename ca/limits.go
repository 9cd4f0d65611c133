package ca

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// KindExhausted is a refusal for too many requests: RESOURCE_EXHAUSTED,
// with a RateLimited's retry delay. Numbered apart from the kinds of
// errors.go so that a kind added there cannot collide with it.
const KindExhausted Kind = 64

// SubjectLimit bounds how many identity-checked requests (issue, reissue,
// and revoke, suspend or resume by identity) one subject may make per
// fixed window, counted in PostgreSQL so that every replica sees the same
// count (issue 8 item 11). Max <= 0 turns it off.
type SubjectLimit struct {
	Max    int
	Window time.Duration
}

// SubjectCounter counts a subject's attempts in the window that starts at
// windowStart; *store.DB implements it.
type SubjectCounter interface {
	CountSubjectAttempt(ctx context.Context, subjectRef string, windowStart time.Time) (int, error)
}

// RateLimited is a refusal for too many requests, with when to retry.
type RateLimited struct {
	Refusal    *Error
	RetryAfter time.Duration
}

func (r *RateLimited) Error() string { return r.Refusal.Msg }

// AsRateLimited returns the rate limit refusal inside err, if any.
func AsRateLimited(err error) (*RateLimited, bool) {
	var r *RateLimited
	ok := errors.As(err, &r)
	return r, ok
}

// NewRateLimited is the refusal of a limit on scope ("client" or
// "subject"), audited under the reason rate_limited.
func NewRateLimited(scope string, retryAfter time.Duration) *RateLimited {
	if retryAfter < time.Second {
		retryAfter = time.Second
	}
	return &RateLimited{RetryAfter: retryAfter, Refusal: &Error{Kind: KindExhausted, Reason: "rate_limited",
		Msg: fmt.Sprintf("too many requests from this %s: retry in %s (with the same request_id, if the call takes one)", scope, retryAfter.Round(time.Second))}}
}

// limitSubject counts an identity-checked attempt of at's subject and
// refuses it past the limit. A database that cannot count fails open: the
// request's own transaction then meets the same fault and says so.
func (a *Authority) limitSubject(ctx context.Context, at *attempt) *RateLimited {
	lim := a.cfg.SubjectLimit
	if lim.Max <= 0 || lim.Window <= 0 || at.subjectRef == "" || a.subjects == nil {
		return nil
	}
	now := a.now().UTC()
	start := now.Truncate(lim.Window)
	n, err := a.subjects.CountSubjectAttempt(ctx, at.subjectRef, start)
	if err != nil {
		a.log.Warn("count a subject's attempts; not limited", "err", err)
		return nil
	}
	if n <= lim.Max {
		return nil
	}
	at.detail("limit", fmt.Sprintf("%d per %s", lim.Max, lim.Window))
	return NewRateLimited("person", start.Add(lim.Window).Sub(now))
}
