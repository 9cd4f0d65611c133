package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence/devprovider"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// devIdentityService exposes the simulated phone and account checks. It is
// registered only in dev mode.
type devIdentityService struct {
	signetv1.UnimplementedDevIdentityServiceServer
	sim *devprovider.Simulator
}

var _ signetv1.DevIdentityServiceServer = (*devIdentityService)(nil)

func (s *devIdentityService) StartPhoneCheck(_ context.Context, req *signetv1.StartPhoneCheckRequest) (*signetv1.StartPhoneCheckResponse, error) {
	id, code, err := s.sim.StartPhoneCheck(req.GetNonce(), devprovider.PhoneRequest{
		Name: req.GetName(), Birth: req.GetBirth(), Phone: req.GetPhone(), Carrier: req.GetCarrier()})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &signetv1.StartPhoneCheckResponse{CheckId: id, Code: code}, nil
}

func (s *devIdentityService) ConfirmPhoneCheck(_ context.Context, req *signetv1.ConfirmPhoneCheckRequest) (*signetv1.ConfirmPhoneCheckResponse, error) {
	tok, err := s.sim.ConfirmPhoneCheck(req.GetCheckId(), req.GetCode())
	if err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	return &signetv1.ConfirmPhoneCheckResponse{Token: tok}, nil
}

func (s *devIdentityService) StartAccountCheck(_ context.Context, req *signetv1.StartAccountCheckRequest) (*signetv1.StartAccountCheckResponse, error) {
	id, code, err := s.sim.StartAccountCheck(req.GetNonce(), devprovider.AccountRequest{
		Bank: req.GetBank(), Account: req.GetAccount(), HolderName: req.GetHolderName(), HolderBirth: req.GetHolderBirth()})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &signetv1.StartAccountCheckResponse{CheckId: id, Code: code}, nil
}

func (s *devIdentityService) ConfirmAccountCheck(_ context.Context, req *signetv1.ConfirmAccountCheckRequest) (*signetv1.ConfirmAccountCheckResponse, error) {
	tok, err := s.sim.ConfirmAccountCheck(req.GetCheckId(), req.GetCode())
	if err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	return &signetv1.ConfirmAccountCheckResponse{Token: tok}, nil
}
