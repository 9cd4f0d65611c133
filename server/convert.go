package server

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

var statusValues = map[string]signetv1.CertificateStatus{
	"active":    signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE,
	"suspended": signetv1.CertificateStatus_CERTIFICATE_STATUS_SUSPENDED,
	"revoked":   signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED,
	"expired":   signetv1.CertificateStatus_CERTIFICATE_STATUS_EXPIRED,
}

// certificateProto renders a record; public answers leave out the subject
// and the DER, which name a person, but keep the CA chain.
func certificateProto(r *ca.Record, public bool) *signetv1.Certificate {
	c := &signetv1.Certificate{
		Serial:     r.Serial,
		Status:     statusValues[string(r.Status)],
		Profile:    r.Profile,
		NotBefore:  timestamppb.New(r.NotBefore),
		NotAfter:   timestamppb.New(r.NotAfter),
		ReplacedBy: r.ReplacedBy,
		Replaces:   r.Replaces,
	}
	if r.RevokedAt != nil {
		c.RevokedAt = timestamppb.New(*r.RevokedAt)
	}
	if r.RevocationReason != nil {
		c.RevocationReason = signetv1.RevocationReason(*r.RevocationReason)
	}
	// The issuing chain names nobody: every answer carries it, so that a
	// client can verify or export a certificate it holds.
	for _, ic := range r.Chain {
		c.Chain = append(c.Chain, ic.Raw)
	}
	if !public {
		c.Subject = r.SubjectDN
		c.Der = r.DER
	}
	return c
}
