package server

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca"
)

// transportAudit records enrollment calls that gRPC itself refused
// (oversized or undecodable messages): no handler runs for them, but
// DESIGN.md invariant 2 wants every refused attempt in the audit log.
type transportAudit struct{ ca *ca.Authority }

type methodKey struct{}

func (h transportAudit) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, methodKey{}, info.FullMethodName)
}

func (h transportAudit) HandleRPC(ctx context.Context, s stats.RPCStats) {
	end, ok := s.(*stats.End)
	if !ok || end.Error == nil {
		return
	}
	method, _ := ctx.Value(methodKey{}).(string)
	if !strings.HasPrefix(method, "/signet.v1.EnrollmentService/") {
		return
	}
	st := status.Convert(end.Error)
	var reason string
	switch st.Code() {
	case codes.ResourceExhausted:
		// A refusal with details (a rate limit) came from Signet, which
		// audited it; gRPC's own size refusal carries none.
		if len(st.Details()) > 0 {
			return
		}
		reason = "oversized_message"
	case codes.Internal:
		if !strings.Contains(st.Message(), "unmarshal") {
			return
		}
		reason = "undecodable_message"
	default:
		return
	}
	h.ca.AuditTransportRefusal(ctx, method, actor(ctx), reason, st.Message())
}

func (h transportAudit) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (h transportAudit) HandleConn(context.Context, stats.ConnStats) {}
