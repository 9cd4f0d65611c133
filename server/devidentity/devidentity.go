// Package devidentity serves the simulated phone and account checks of
// signetd --dev over gRPC (DevIdentityService). Only cmd/signetd/dev.go
// imports it: the production server package never depends on the
// simulator, it takes a server.DevIdentity from the caller or nothing.
package devidentity

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence/devprovider"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/server"
)

// For wires the simulator into the server: its keys for the evidence
// verifier, the gRPC service the CLI calls, and its CI so that the admin
// API can find a dev subject by name and birth date.
func For(sim *devprovider.Simulator) *server.DevIdentity {
	return &server.DevIdentity{Providers: sim.Providers(), Service: &service{sim: sim}, CI: devprovider.SimulatedCI}
}

// service exposes the simulated phone and account checks.
type service struct {
	signetv1.UnimplementedDevIdentityServiceServer
	sim *devprovider.Simulator
}

var _ signetv1.DevIdentityServiceServer = (*service)(nil)

func (s *service) StartPhoneCheck(_ context.Context, req *signetv1.StartPhoneCheckRequest) (*signetv1.StartPhoneCheckResponse, error) {
	id, code, err := s.sim.StartPhoneCheck(req.GetNonce(), devprovider.PhoneRequest{
		Name: req.GetName(), Birth: req.GetBirth(), Phone: req.GetPhone(), Carrier: req.GetCarrier()})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &signetv1.StartPhoneCheckResponse{CheckId: id, Code: code}, nil
}

func (s *service) ConfirmPhoneCheck(_ context.Context, req *signetv1.ConfirmPhoneCheckRequest) (*signetv1.ConfirmPhoneCheckResponse, error) {
	tok, err := s.sim.ConfirmPhoneCheck(req.GetCheckId(), req.GetCode())
	if err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	return &signetv1.ConfirmPhoneCheckResponse{Token: tok}, nil
}

func (s *service) StartAccountCheck(_ context.Context, req *signetv1.StartAccountCheckRequest) (*signetv1.StartAccountCheckResponse, error) {
	id, code, err := s.sim.StartAccountCheck(req.GetNonce(), devprovider.AccountRequest{
		Bank: req.GetBank(), Account: req.GetAccount(), HolderName: req.GetHolderName(), HolderBirth: req.GetHolderBirth()})
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &signetv1.StartAccountCheckResponse{CheckId: id, Code: code}, nil
}

func (s *service) ConfirmAccountCheck(_ context.Context, req *signetv1.ConfirmAccountCheckRequest) (*signetv1.ConfirmAccountCheckResponse, error) {
	tok, err := s.sim.ConfirmAccountCheck(req.GetCheckId(), req.GetCode())
	if err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	return &signetv1.ConfirmAccountCheckResponse{Token: tok}, nil
}
