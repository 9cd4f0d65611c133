package server

import (
	"context"
	"log/slog"
	"net"

	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// enrollmentService is the thin gRPC face of ca.Authority: decode, call
// the core, map errors.
type enrollmentService struct {
	signetv1.UnimplementedEnrollmentServiceServer
	ca  *ca.Authority
	log *slog.Logger
}

var _ signetv1.EnrollmentServiceServer = (*enrollmentService)(nil)

var purposes = map[signetv1.EnrollmentPurpose]string{
	signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE:   ca.PurposeIssue,
	signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE: ca.PurposeReissue,
	signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REVOKE:  ca.PurposeRevoke,
	signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_SUSPEND: ca.PurposeSuspend,
	signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_RESUME:  ca.PurposeResume,
}

func (s *enrollmentService) StartEnrollment(ctx context.Context, req *signetv1.StartEnrollmentRequest) (*signetv1.StartEnrollmentResponse, error) {
	// An unknown purpose reaches the core as "", which refuses and audits it.
	purpose := purposes[req.GetPurpose()]
	e, err := s.ca.StartEnrollment(ctx, req.GetProfile(), purpose, actor(ctx))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &signetv1.StartEnrollmentResponse{
		EnrollmentId: e.ID, Nonce: e.Nonce, ExpiresAt: timestamppb.New(e.ExpiresAt), Audience: e.Audience,
	}, nil
}

func identityRequest(ctx context.Context, requestID, enrollmentID string, csr []byte, ev *signetv1.IdentityEvidence, h *signetv1.HolderIdentity) ca.IdentityRequest {
	return ca.IdentityRequest{
		RequestID: requestID, EnrollmentID: enrollmentID, CSR: csr, Actor: actor(ctx),
		Evidence: ca.Evidence{PhoneToken: ev.GetPhoneToken(), AccountToken: ev.GetAccountToken()},
		Holder:   holder(h),
	}
}

func holder(h *signetv1.HolderIdentity) ca.Holder {
	return ca.Holder{IDN: h.GetIdn(), RandomNum: h.GetRandomNum(), PreviousRandomNum: h.GetPreviousRandomNum()}
}

func (s *enrollmentService) IssueCertificate(ctx context.Context, req *signetv1.IssueCertificateRequest) (*signetv1.IssueCertificateResponse, error) {
	r, err := s.ca.Issue(ctx, identityRequest(ctx, req.GetRequestId(), req.GetEnrollmentId(), req.GetCsr(), req.GetEvidence(), req.GetHolder()))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &signetv1.IssueCertificateResponse{Certificate: certificateProto(r, false)}, nil
}

func (s *enrollmentService) ReissueCertificate(ctx context.Context, req *signetv1.ReissueCertificateRequest) (*signetv1.ReissueCertificateResponse, error) {
	r, err := s.ca.Reissue(ctx, identityRequest(ctx, req.GetRequestId(), req.GetEnrollmentId(), req.GetCsr(), req.GetEvidence(), req.GetHolder()))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &signetv1.ReissueCertificateResponse{Certificate: certificateProto(r, false), ReplacedSerial: r.ReplacedSerial}, nil
}

func (s *enrollmentService) RenewCertificate(ctx context.Context, req *signetv1.RenewCertificateRequest) (*signetv1.RenewCertificateResponse, error) {
	r, err := s.ca.Renew(ctx, ca.RenewRequest{RequestID: req.GetRequestId(), CSR: req.GetCsr(), Proof: req.GetProof(), Holder: holder(req.GetHolder()), Actor: actor(ctx)})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &signetv1.RenewCertificateResponse{Certificate: certificateProto(r, false), ReplacedSerial: r.ReplacedSerial}, nil
}

func (s *enrollmentService) RevokeCertificate(ctx context.Context, req *signetv1.RevokeCertificateRequest) (*signetv1.RevokeCertificateResponse, error) {
	if req.GetAuthorization() == nil {
		return nil, s.refuse(ctx, "revoke", req.GetRequestId(), errNoAuthorization)
	}
	r, err := s.ca.Revoke(ctx, ca.RevokeRequest{
		HolderRequest: holderRequest(ctx, req.GetRequestId(), req.GetSerial(), req.GetProof(), req.GetIdentity()),
		Reason:        int(req.GetReason()),
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &signetv1.RevokeCertificateResponse{Certificate: certificateProto(r, false)}, nil
}

func (s *enrollmentService) SuspendCertificate(ctx context.Context, req *signetv1.SuspendCertificateRequest) (*signetv1.SuspendCertificateResponse, error) {
	if req.GetAuthorization() == nil {
		return nil, s.refuse(ctx, "suspend", req.GetRequestId(), errNoAuthorization)
	}
	r, err := s.ca.Suspend(ctx, holderRequest(ctx, req.GetRequestId(), req.GetSerial(), req.GetProof(), req.GetIdentity()))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &signetv1.SuspendCertificateResponse{Certificate: certificateProto(r, false)}, nil
}

func (s *enrollmentService) ResumeCertificate(ctx context.Context, req *signetv1.ResumeCertificateRequest) (*signetv1.ResumeCertificateResponse, error) {
	if req.GetAuthorization() == nil {
		return nil, s.refuse(ctx, "resume", req.GetRequestId(), errNoAuthorization)
	}
	r, err := s.ca.Resume(ctx, holderRequest(ctx, req.GetRequestId(), req.GetSerial(), req.GetProof(), req.GetIdentity()))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &signetv1.ResumeCertificateResponse{Certificate: certificateProto(r, false)}, nil
}

var errNoAuthorization = &ca.Error{Kind: ca.KindInvalid, Reason: "no_authorization",
	Msg: "authorization is required: a proof signed by the certificate's key, or identity evidence when the key is lost"}

// fail maps the core's error: a rate limit becomes RESOURCE_EXHAUSTED with
// its retry delay, everything else goes through toStatus.
func (s *enrollmentService) fail(ctx context.Context, err error) error {
	return toStatus(ctx, s.log, err)
}

// refuse audits a refusal decided in the handler, before the core ran, and
// maps it like any other.
func (s *enrollmentService) refuse(ctx context.Context, action, requestID string, rerr *ca.Error) error {
	s.ca.AuditEdgeRefusal(ctx, action, actor(ctx), requestID, rerr, nil)
	return toStatus(ctx, s.log, rerr)
}

func holderRequest(ctx context.Context, requestID, serial, proof string, id *signetv1.IdentityAuthorization) ca.HolderRequest {
	return ca.HolderRequest{
		RequestID: requestID, Serial: serial, Proof: proof, EnrollmentID: id.GetEnrollmentId(), Actor: actor(ctx),
		Evidence: ca.Evidence{PhoneToken: id.GetEvidence().GetPhoneToken(), AccountToken: id.GetEvidence().GetAccountToken()},
	}
}

func (s *enrollmentService) GetCertificate(ctx context.Context, req *signetv1.GetCertificateRequest) (*signetv1.GetCertificateResponse, error) {
	r, err := s.ca.GetCertificate(ctx, req.GetSerial())
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &signetv1.GetCertificateResponse{Certificate: certificateProto(r, true)}, nil
}

// actor names the caller in the audit log. Subscribers are anonymous at
// the transport; their identity is what the evidence or proof proves.
func actor(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return "subscriber@" + host
		}
	}
	return "subscriber"
}
