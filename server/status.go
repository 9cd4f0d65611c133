package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca"
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
}

// toStatus is the one error mapping of both services: it maps a core
// refusal or a store error to a gRPC status whose message a person can
// act on, with the machine reason in an ErrorInfo detail. Internal errors
// are logged and not shown: they may carry database details.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, "the request took too long: retry with the same request_id")
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, "the request was canceled")
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
		return status.Error(codes.Internal, "internal error in Signet: retry with the same request_id; if it persists, contact the operator")
	}
	st, derr := status.New(code, rerr.Msg).WithDetails(&errdetails.ErrorInfo{Reason: rerr.Reason, Domain: "signet.v1"})
	if derr != nil {
		return status.Error(code, rerr.Msg)
	}
	return st.Err()
}

func invalid(msg string) error { return status.Error(codes.InvalidArgument, msg) }

func codeOf(err error) codes.Code { return status.Code(err) }
