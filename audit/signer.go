package audit

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"time"

	"github.com/signet-ca/signet/ca/signer"
)

// signingKey is one audit signer key and its certificate. Like the OCSP
// responder's delegate key, the CA's own key stays in its KMS and signs
// only the certificate. A stolen key can sign checkpoints until its
// certificate expires, which is what the short validity and the rotation
// bound.
type signingKey struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	// der is the certificate followed by the CA's chain, concatenated DER:
	// what a checkpoint's signer_der holds.
	der []byte
	// rotateAt is two thirds into the certificate's life.
	rotateAt time.Time
}

// newSigningKey returns the current audit signer key, which the CA issues
// through its recorded path when there is none or it is due for rotation
// (signer.Delegates); every replica and restart shares it while valid.
func (s *Sealer) newSigningKey(ctx context.Context, now time.Time) (*signingKey, error) {
	d, err := s.ca.Get(ctx, signer.AuditSigner, now, s.opts.SignerValidity, func(t *x509.Certificate) {
		t.Subject.OrganizationalUnit = []string{SignerOU}
		t.Subject.CommonName = s.ca.Issuer().Subject.CommonName + " Audit Signer"
		// Both fields, equal, whichever one GODEBUG x509usepolicies picks.
		t.PolicyIdentifiers = []asn1.ObjectIdentifier{PolicyAuditSigner}
		t.Policies = []x509.OID{policyAuditSigner}
	})
	if err != nil {
		return nil, fmt.Errorf("audit: signer certificate: %w", err)
	}
	der := append([]byte(nil), d.Cert.Raw...)
	for _, c := range s.ca.Chain() {
		der = append(der, c.Raw...)
	}
	return &signingKey{key: d.Key, cert: d.Cert, der: der, rotateAt: d.RotateAt}, nil
}

// policyAuditSigner is PolicyAuditSigner as an x509.OID.
var policyAuditSigner = func() x509.OID {
	ints := make([]uint64, len(PolicyAuditSigner))
	for i, v := range PolicyAuditSigner {
		ints[i] = uint64(v)
	}
	oid, err := x509.OIDFromInts(ints)
	if err != nil {
		panic(err)
	}
	return oid
}()
