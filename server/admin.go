package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"path"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/metrics"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/reminder"
	"github.com/signet-ca/signet/store"
)

// adminService is the AdminService: thin handlers over the core and the
// store's audit queries. Who may call what is decided by adminAuth.
type adminService struct {
	signetv1.UnimplementedAdminServiceServer
	ca  *ca.Authority
	db  *store.DB
	log *slog.Logger
	// devCI derives the simulated CI from name + birth; nil in production.
	devCI func(name, birth string) string
	// reminders retries expiry reminders; nil when they are off.
	reminders *reminder.Service
}

var _ signetv1.AdminServiceServer = (*adminService)(nil)

// operatorOnly are the methods an auditor may not call.
var operatorOnly = map[string]bool{
	"AdminRevokeCertificate":  true,
	"AdminSuspendCertificate": true,
	"AdminResumeCertificate":  true,
	"AdminUnregister":         true,
	"RetryReminder":           true,
}

type identityKey struct{}

// adminIdentity returns the staff member the verified client certificate names.
func adminIdentity(ctx context.Context) (adminca.Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return adminca.Identity{}, status.Error(codes.Unauthenticated, "no peer")
	}
	tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(tlsInfo.State.VerifiedChains) == 0 || len(tlsInfo.State.VerifiedChains[0]) == 0 {
		return adminca.Identity{}, status.Error(codes.Unauthenticated, "the admin API needs a client certificate from Signet's admin CA")
	}
	id, err := adminca.IdentityOf(tlsInfo.State.VerifiedChains[0][0])
	if err != nil {
		return adminca.Identity{}, status.Error(codes.PermissionDenied, err.Error()+": ask for a certificate with `signetd admin-cert --role auditor|operator`")
	}
	return id, nil
}

// presentedCert names the client certificate of a refused admin call for
// the audit log: its subject and serial, or "unknown" without one.
func presentedCert(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok {
		if tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(tlsInfo.State.PeerCertificates) > 0 {
			c := tlsInfo.State.PeerCertificates[0]
			return "certificate:" + c.Subject.String() + " serial " + c.SerialNumber.Text(16)
		}
	}
	return "unknown"
}

// verifiedCert is the client certificate TLS verified against the admin
// CA, or nil.
func verifiedCert(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(tlsInfo.State.VerifiedChains) == 0 || len(tlsInfo.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return tlsInfo.State.VerifiedChains[0][0]
}

// adminAuth checks the caller's role and audits every call, reads
// included. Operator actions are audited by the core in the transaction
// that makes the change; everything else is audited here.
func adminAuth(a *ca.Authority, staff *adminca.Checker, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		method := path.Base(info.FullMethod)
		id, err := adminIdentity(ctx)
		if err != nil {
			// Refused before any role is known: audited under the
			// certificate's name, so that a forged or stale staff
			// certificate leaves a trace too.
			reason := "no_admin_certificate"
			if status.Code(err) == codes.PermissionDenied {
				reason = "bad_admin_role"
			}
			if aerr := a.AuditAdmin(ctx, presentedCert(ctx), method, "refused", reason, map[string]any{"message": status.Convert(err).Message()}); aerr != nil {
				log.ErrorContext(ctx, "audit admin call", "err", aerr)
			}
			return nil, err
		}
		if m, ok := req.(proto.Message); ok {
			if rerr := checkFields(m); rerr != nil {
				if aerr := a.AuditAdmin(ctx, id.Actor(), method, "refused", rerr.Reason, map[string]any{"message": rerr.Msg}); aerr != nil {
					log.ErrorContext(ctx, "audit admin call", "err", aerr)
				}
				return nil, toStatus(ctx, log, rerr)
			}
		}
		// A staff certificate is live only while the ledger holds it as
		// issued for this role and unrevoked (adminca.Checker, cached for
		// adminca.StaffCheckTTL): an operator who leaves loses access within
		// that time of `signetd admin-cert --revoke`.
		if cert := verifiedCert(ctx); cert != nil {
			if err := staff.Check(ctx, cert, id); err != nil {
				if !errors.Is(err, adminca.ErrStaffRefused) {
					log.ErrorContext(ctx, "check a staff certificate", "err", err)
					return nil, status.Error(codes.Unavailable, "the staff certificate could not be checked against the ledger: retry")
				}
				if aerr := a.AuditAdmin(ctx, id.Actor(), method, "refused", "staff_certificate",
					map[string]any{"serial": cert.SerialNumber.Text(16), "message": err.Error()}); aerr != nil {
					log.ErrorContext(ctx, "audit admin call", "err", aerr)
				}
				return nil, status.Error(codes.PermissionDenied, err.Error()+": ask an operator for a new certificate (`signetd admin-cert`)")
			}
		}
		if operatorOnly[method] && id.Role != adminca.RoleOperator {
			st := status.Newf(codes.PermissionDenied, "%s needs the operator role; %s is an %s", method, id.Name, id.Role)
			if aerr := a.AuditAdmin(ctx, id.Actor(), method, "refused", "role", map[string]any{"role": id.Role}); aerr != nil {
				log.ErrorContext(ctx, "audit admin call", "err", aerr)
			}
			return nil, st.Err()
		}
		resp, err := handler(context.WithValue(ctx, identityKey{}, id), req)
		if !operatorOnly[method] {
			outcome, reason := "ok", ""
			if err != nil {
				outcome, reason = "refused", status.Code(err).String()
			}
			if aerr := a.AuditAdmin(ctx, id.Actor(), method, outcome, reason, auditDetails(req)); aerr != nil {
				log.ErrorContext(ctx, "audit admin call", "err", aerr)
				return nil, status.Error(codes.Unavailable, "the audit log could not record this call; nothing is answered unaudited: retry")
			}
		}
		return resp, err
	}
}

// auditDetails names the filters a read used, without personal data: the
// values of CI, name and birth date stay out of the log (invariant 7).
func auditDetails(req any) map[string]any {
	d := map[string]any{}
	if r, ok := req.(interface{ GetSerial() string }); ok && r.GetSerial() != "" {
		d["serial"] = r.GetSerial()
	}
	if r, ok := req.(interface{ GetCi() string }); ok && r.GetCi() != "" {
		d["by_ci"] = true
	}
	if r, ok := req.(interface{ GetName() string }); ok && r.GetName() != "" {
		d["by_name"] = true
	}
	return d
}

func identityFrom(ctx context.Context) adminca.Identity {
	id, _ := ctx.Value(identityKey{}).(adminca.Identity)
	return id
}

func (s *adminService) operatorRequest(ctx context.Context, requestID, serial, comment string) ca.HolderRequest {
	return ca.HolderRequest{RequestID: requestID, Serial: serial, Comment: comment, Actor: identityFrom(ctx).Actor(), ByOperator: true}
}

func (s *adminService) AdminRevokeCertificate(ctx context.Context, req *signetv1.AdminRevokeCertificateRequest) (*signetv1.AdminRevokeCertificateResponse, error) {
	r, err := s.ca.Revoke(ctx, ca.RevokeRequest{HolderRequest: s.operatorRequest(ctx, req.GetRequestId(), req.GetSerial(), req.GetComment()), Reason: int(req.GetReason())})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &signetv1.AdminRevokeCertificateResponse{Certificate: certificateProto(r, false)}, nil
}

func (s *adminService) AdminSuspendCertificate(ctx context.Context, req *signetv1.AdminSuspendCertificateRequest) (*signetv1.AdminSuspendCertificateResponse, error) {
	r, err := s.ca.Suspend(ctx, s.operatorRequest(ctx, req.GetRequestId(), req.GetSerial(), req.GetComment()))
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &signetv1.AdminSuspendCertificateResponse{Certificate: certificateProto(r, false)}, nil
}

func (s *adminService) AdminResumeCertificate(ctx context.Context, req *signetv1.AdminResumeCertificateRequest) (*signetv1.AdminResumeCertificateResponse, error) {
	r, err := s.ca.Resume(ctx, s.operatorRequest(ctx, req.GetRequestId(), req.GetSerial(), req.GetComment()))
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &signetv1.AdminResumeCertificateResponse{Certificate: certificateProto(r, false)}, nil
}

// adminTLS is the admin listeners' mutual TLS: client certificates from
// the admin CA only.
func adminTLS(serverCert tls.Certificate, admin *adminca.CA) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    admin.Pool(),
		MinVersion:   tls.VersionTLS12,
	}
}

// newAdminServer builds the admin listener's gRPC server over adminTLS.
func newAdminServer(a *ca.Authority, db *store.DB, tc *tls.Config, staff *adminca.Checker, devCI func(string, string) string,
	log *slog.Logger, m *metrics.Metrics, rem *reminder.Service, extra ...grpc.ServerOption) *grpc.Server {
	opts := append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(tc)), grpc.MaxRecvMsgSize(MaxMessageSize), grpc.ForceServerCodecV2(newFieldCodec()),
		grpc.ChainUnaryInterceptor(m.GRPC.UnaryServerInterceptor(), countRefusals(m), logCalls(log), adminAuth(a, staff, log))}, extra...)
	g := grpc.NewServer(opts...)
	signetv1.RegisterAdminServiceServer(g, &adminService{ca: a, db: db, log: log, devCI: devCI, reminders: rem})
	m.GRPC.InitializeMetrics(g)
	return g
}
