package server

import (
	"context"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/signet-ca/signet/ca"
)

// RateLimits are the abuse limits of the calls that take no credentials
// (issue 8 item 11). Zero values take the defaults below; a negative
// value turns that limit off. signetd --dev turns both off unless set,
// so that bench/load's thousands of enrollments from one client run
// unthrottled.
type RateLimits struct {
	// ClientRate is the sustained calls per second one RA client (the
	// peer address, as the audit log names it) may make to
	// StartEnrollment, the identity-checked RPCs and the dev identity
	// checks, per replica; ClientBurst how many it may make at once.
	ClientRate  float64 `json:"clientRate,omitempty"`
	ClientBurst int     `json:"clientBurst,omitempty"`
	// SubjectMax is how many identity-checked requests (issue, reissue,
	// and revoke, suspend or resume by identity) one person may make per
	// SubjectWindow, counted in PostgreSQL across every replica.
	SubjectMax    int      `json:"subjectMax,omitempty"`
	SubjectWindow Duration `json:"subjectWindow,omitempty"`
}

// Defaults: generous for one RA in front of many people, tight for one
// person (who needs a handful of identity checks a year).
const (
	DefaultClientRate    = 20
	DefaultClientBurst   = 100
	DefaultSubjectMax    = 20
	DefaultSubjectWindow = time.Hour
)

// withDefaults fills the zero values; dev leaves them off.
func (l RateLimits) withDefaults(dev bool) RateLimits {
	if l.ClientRate == 0 {
		l.ClientRate = DefaultClientRate
		if dev {
			l.ClientRate = -1
		}
	}
	if l.ClientBurst <= 0 {
		l.ClientBurst = DefaultClientBurst
	}
	if l.SubjectMax == 0 {
		l.SubjectMax = DefaultSubjectMax
		if dev {
			l.SubjectMax = -1
		}
	}
	if l.SubjectWindow <= 0 {
		l.SubjectWindow = Duration(DefaultSubjectWindow)
	}
	return l
}

// subjectLimit is the core's form of the per-subject limit.
func (l RateLimits) subjectLimit() ca.SubjectLimit {
	if l.SubjectMax < 0 {
		return ca.SubjectLimit{}
	}
	return ca.SubjectLimit{Max: l.SubjectMax, Window: l.SubjectWindow.Duration()}
}

// limitedMethods are the calls a client may make without credentials.
// GetCertificate and the copy relay are not among them: the relay keeps
// its own limits (slots, failures).
var limitedMethods = map[string]bool{
	"/signet.v1.EnrollmentService/StartEnrollment":    true,
	"/signet.v1.EnrollmentService/IssueCertificate":   true,
	"/signet.v1.EnrollmentService/ReissueCertificate": true,
	"/signet.v1.EnrollmentService/RenewCertificate":   true,
	"/signet.v1.EnrollmentService/RevokeCertificate":  true,
	"/signet.v1.EnrollmentService/SuspendCertificate": true,
	"/signet.v1.EnrollmentService/ResumeCertificate":  true,
	// Registration challenges and the calls they authorize: each makes
	// a row and checks evidence or a proof, and Register asks another CA.
	"/signet.v1.RegistrationService/StartRegistration": true,
	"/signet.v1.RegistrationService/Register":          true,
	"/signet.v1.RegistrationService/Unregister":        true,
	"/signet.v1.RegistrationService/ListRegistrations": true,
}

// clientLimiter keeps one token bucket per RA client on this replica. The
// clock is the authority's, so that tests move time instead of sleeping.
type clientLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

func newClientLimiter(l RateLimits, now func() time.Time) *clientLimiter {
	if l.ClientRate < 0 {
		return nil
	}
	return &clientLimiter{limit: rate.Limit(l.ClientRate), burst: l.ClientBurst, now: now, buckets: map[string]*rate.Limiter{}}
}

// allow takes a token for client, or says how long until one is free.
func (c *clientLimiter) allow(client string) (bool, time.Duration) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	b, ok := c.buckets[client]
	if !ok {
		b = rate.NewLimiter(c.limit, c.burst)
		c.buckets[client] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets the buckets that have refilled, once a minute, so that
// the map holds only clients seen lately.
func (c *clientLimiter) sweep(now time.Time) {
	if now.Sub(c.swept) < time.Minute {
		return
	}
	c.swept = now
	for k, b := range c.buckets {
		if b.TokensAt(now) >= float64(c.burst) {
			delete(c.buckets, k)
		}
	}
}

// limitClients refuses a client past its rate with RESOURCE_EXHAUSTED,
// audited like every refusal.
func limitClients(a *ca.Authority, c *clientLimiter) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if c == nil || !(limitedMethods[info.FullMethod] || strings.HasPrefix(info.FullMethod, "/signet.v1.DevIdentityService/")) {
			return handler(ctx, req)
		}
		who := actor(ctx)
		if ok, wait := c.allow(who); !ok {
			rl := ca.NewRateLimited("client", wait)
			var requestID string
			if r, ok := req.(interface{ GetRequestId() string }); ok && badText(r.GetRequestId(), maxField) == "" {
				requestID = r.GetRequestId()
			}
			a.AuditEdgeRefusal(ctx, info.FullMethod, who, requestID, rl.Refusal, map[string]any{"limit": "client"})
			return nil, rateLimitedStatus(rl)
		}
		return handler(ctx, req)
	}
}

// rateLimitedStatus is RESOURCE_EXHAUSTED with the reason rate_limited
// and a RetryInfo detail: gRPC's Retry-After.
func rateLimitedStatus(rl *ca.RateLimited) error {
	st, err := status.New(codes.ResourceExhausted, rl.Refusal.Msg).WithDetails(
		&errdetails.ErrorInfo{Reason: rl.Refusal.Reason, Domain: "signet.v1"},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(rl.RetryAfter)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, rl.Refusal.Msg)
	}
	return st.Err()
}
