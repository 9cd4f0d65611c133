package server

import (
	"context"
	"log/slog"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca/login"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// authenticationService is signing in with a certificate: a thin mapping
// onto package login.
type authenticationService struct {
	signetv1.UnimplementedAuthenticationServiceServer
	login *login.Service
	log   *slog.Logger
}

func (s *authenticationService) Challenge(ctx context.Context, _ *signetv1.ChallengeRequest) (*signetv1.ChallengeResponse, error) {
	c, err := s.login.Challenge(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &signetv1.ChallengeResponse{ChallengeId: c.ID, Challenge: c.Value, Audience: c.Audience,
		ExpiresAt: timestamppb.New(c.ExpiresAt)}, nil
}

func (s *authenticationService) Verify(ctx context.Context, req *signetv1.VerifyRequest) (*signetv1.VerifyResponse, error) {
	id, err := s.login.Verify(ctx, req.GetChallengeId(), req.GetProof(), actor(ctx))
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &signetv1.VerifyResponse{SubjectRef: id.SubjectRef, Serial: id.Serial, Profile: id.Profile,
		Status: statusValues[string(id.Status)], NotAfter: timestamppb.New(id.NotAfter), Registration: id.Registration,
		Certificate: id.Certificate, RegistrationId: id.RegistrationID, TrustCa: id.TrustCA}, nil
}
