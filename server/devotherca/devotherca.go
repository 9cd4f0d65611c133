// Package devotherca serves the dev "other bank's CA" of signetd --dev
// over gRPC (DevOtherCAService): it signs a CSR with identifyData and
// revokes. Only cmd/signetd/dev.go and tests import it, like devidentity:
// the production server never depends on it.
package devotherca

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca/otherca"
	"github.com/signet-ca/signet/ca/registration"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/server"
)

// Name is the dev other CA's name in the trust list.
const Name = "dev-other-ca"

// For wires an other CA into the server: its gRPC service, its CRL and
// OCSP handler, and its root and intermediate as a trust list entry.
func For(c *otherca.CA, now func() time.Time) *server.DevOtherCA {
	return &server.DevOtherCA{Service: &service{ca: c, now: now}, Handler: c.Handler(),
		Trust: registration.TrustedCA{Name: Name, Roots: c.Roots(), Intermediates: c.Intermediates()}}
}

type service struct {
	signetv1.UnimplementedDevOtherCAServiceServer
	ca  *otherca.CA
	now func() time.Time
}

func (s *service) IssueOtherCertificate(_ context.Context, req *signetv1.IssueOtherCertificateRequest) (*signetv1.IssueOtherCertificateResponse, error) {
	csr, err := x509.ParseCertificateRequest(req.GetCsr())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "csr is not a DER PKCS#10 request: "+err.Error())
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, status.Error(codes.InvalidArgument, "the CSR's signature does not verify: sign it with the new key")
	}
	bank := req.GetBank()
	if bank == "" {
		bank = "088"
	}
	nb, na := s.now(), s.now().AddDate(1, 0, 0)
	if req.GetNotBefore() != nil {
		nb = req.GetNotBefore().AsTime()
	}
	if req.GetNotAfter() != nil {
		na = req.GetNotAfter().AsTime()
	}
	h := req.GetHolderIdentity()
	cert, err := s.ca.Issue(csr.PublicKey, req.GetRealName(), h.GetIdn(), h.GetRandomNum(), bank, nb, na)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	out := &signetv1.IssueOtherCertificateResponse{Certificate: cert.Raw}
	for _, c := range append(s.ca.Intermediates(), s.ca.Roots()...) {
		out.Chain = append(out.Chain, c.Raw)
	}
	return out, nil
}

func (s *service) RevokeOtherCertificate(_ context.Context, req *signetv1.RevokeOtherCertificateRequest) (*signetv1.RevokeOtherCertificateResponse, error) {
	serial, ok := new(big.Int).SetString(req.GetSerial(), 16)
	if !ok {
		return nil, status.Error(codes.InvalidArgument, "serial is not hex")
	}
	at := s.now()
	err := s.ca.Revoke(serial, int(req.GetReason()), at)
	switch {
	case errors.Is(err, otherca.ErrUnknownSerial):
		return nil, status.Error(codes.NotFound, err.Error())
	case errors.Is(err, otherca.ErrAlreadyRevoked):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case err != nil:
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &signetv1.RevokeOtherCertificateResponse{RevokedAt: timestamppb.New(at)}, nil
}
