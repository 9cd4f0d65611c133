package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/metrics"
	"github.com/signet-ca/signet/store"
)

// kindCodes is the one place domain refusals become gRPC codes.
var kindCodes = map[ca.Kind]codes.Code{
	ca.KindInvalid:      codes.InvalidArgument,
	ca.KindNotFound:     codes.NotFound,
	ca.KindConflict:     codes.AlreadyExists,
	ca.KindPrecondition: codes.FailedPrecondition,
	ca.KindUnauthorized: codes.Unauthenticated,
	ca.KindForbidden:    codes.PermissionDenied,
	ca.KindUnavailable:  codes.Unavailable,
}

// toStatus is the one error mapping of both services: it maps a core
// refusal or a store error to a gRPC status whose message a person can
// act on, with the machine reason in an ErrorInfo detail. Internal errors
// are logged and not shown: they may carry database details.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	// The caller's own deadline or cancellation comes first: it is gone.
	// A deadline that ended while the caller still waits was the store's
	// (DB.InTx's timeout): the database did not answer in time.
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return status.Error(codes.DeadlineExceeded, "the request took too long: "+retryAdvice(ctx))
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, "the request was canceled")
	}
	if rl, ok := ca.AsRateLimited(err); ok {
		return rateLimitedStatus(rl)
	}
	if store.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		return unavailable(ctx, log, err)
	}
	switch {
	case errors.Is(err, store.ErrBadFilter), errors.Is(err, store.ErrBadPageToken):
		return status.Error(codes.InvalidArgument, err.Error()+": fix the filter, or start the listing again without a page token")
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, "nothing matches: check the serial or the subject")
	}
	rerr, ok := ca.AsError(err)
	code, known := codes.Internal, false
	if ok {
		code, known = kindCodes[rerr.Kind]
	}
	if !known {
		log.ErrorContext(ctx, "internal error", "err", err)
		return status.Error(codes.Internal, "internal error in Signet: "+retryAdvice(ctx)+"; if it persists, contact the operator")
	}
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: rerr.Reason, Domain: "signet.v1"}}
	if rerr.Kind == ca.KindUnavailable {
		// Another CA is away (ca_unreachable): say when to retry, as for
		// a database fault.
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(OtherCARetryDelay)})
	}
	st, derr := status.New(code, rerr.Msg).WithDetails(details...)
	if derr != nil {
		return status.Error(code, rerr.Msg)
	}
	return st.Err()
}

// OtherCARetryDelay is the RetryInfo of a refusal because another CA's
// OCSP responder and CRL could not be reached: longer than a database
// blip, as a CA's outage usually is.
const OtherCARetryDelay = 30 * time.Second

// RetryDelay is how long a client should wait before retrying after
// UNAVAILABLE: about how long a PostgreSQL fast restart keeps the database
// away (README "Failure behaviour").
const RetryDelay = 2 * time.Second

// unavailable answers a database fault: UNAVAILABLE with a RetryInfo
// detail (gRPC's Retry-After) and the reason database_unavailable. It is
// logged at WARN, once per call: the operator must see that the database
// is away, but nothing in Signet is broken.
func unavailable(ctx context.Context, log *slog.Logger, err error) error {
	log.WarnContext(ctx, "database unavailable", "err", err)
	msg := "Signet cannot reach its database right now: " + retryAdvice(ctx) + " in " + RetryDelay.String() +
		"; if it persists, contact the operator"
	st, derr := status.New(codes.Unavailable, msg).WithDetails(
		&errdetails.ErrorInfo{Reason: "database_unavailable", Domain: "signet.v1"},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryDelay)})
	if derr != nil {
		return status.Error(codes.Unavailable, msg)
	}
	return st.Err()
}

// retryAdvice tells the caller how to retry: with the same request_id
// where the method takes one, so that a retry returns the first answer if
// the first attempt was recorded after all; plainly otherwise. A caller
// of GetCertificate or StartEnrollment has no request_id to resend.
func retryAdvice(ctx context.Context) string {
	if method, ok := grpc.Method(ctx); ok && takesRequestID(method) {
		return "retry with the same request_id"
	}
	return "retry"
}

var requestIDMethods sync.Map // full method name -> bool

// takesRequestID reports whether the request message of a gRPC method
// ("/signet.v1.EnrollmentService/IssueCertificate") has a request_id
// field, read from the registered proto descriptors.
func takesRequestID(method string) bool {
	if v, ok := requestIDMethods.Load(method); ok {
		return v.(bool)
	}
	has := false
	if svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/"); ok {
		if d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc)); err == nil {
			if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
				if md := sd.Methods().ByName(protoreflect.Name(name)); md != nil {
					has = md.Input().Fields().ByName("request_id") != nil
				}
			}
		}
	}
	requestIDMethods.Store(method, has)
	return has
}

func invalid(msg string) error { return status.Error(codes.InvalidArgument, msg) }

func codeOf(err error) codes.Code { return status.Code(err) }

// countRefusals counts each refused call by the ErrorInfo reason toStatus
// gave it: the reasons are the code's own constants, a bounded label.
// Calls refused without a reason (a bare InvalidArgument, an internal
// error) are counted by code in grpc_server_handled_total only.
func countRefusals(m *metrics.Metrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			if reason := reasonOf(err); reason != "" {
				m.Refused(reason)
			}
		}
		return resp, err
	}
}

// reasonOf is the ErrorInfo reason of a status error, or "".
func reasonOf(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return ""
}
