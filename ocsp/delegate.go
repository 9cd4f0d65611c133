package ocsp

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"time"

	"github.com/signet-ca/signet/ca/signer"
)

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 section 4.2.2.2.1).
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// asn1Null is the extension's value: the RFC defines it as NULL.
var asn1Null = []byte{0x05, 0x00}

// delegate is one delegated OCSP signing key and its certificate (RFC 6960
// section 4.2.2.2). The CA's own key stays in its KMS or HSM and signs
// only this certificate; each response is signed by the P-256 key, which
// is cheap (signer.Delegates keeps it sealed in the database).
type delegate struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	// rotateAt is two thirds into the certificate's life. Responses signed
	// up to then stay verifiable for their whole validity, because New
	// requires ResponseValidity ≤ SignerValidity/3.
	rotateAt time.Time
}

// newDelegate returns the current delegated key, which the CA issues
// through its recorded path when there is none or it is due for rotation.
// Every replica and restart shares it while it is valid.
func (r *Responder) newDelegate(ctx context.Context) (*delegate, error) {
	d, err := r.ca.Get(ctx, signer.OCSPResponder, r.now(), r.opts.SignerValidity, func(t *x509.Certificate) {
		t.Subject.CommonName = r.ca.Issuer().Subject.CommonName + " OCSP Responder"
		// RFC 6960 section 4.2.2.2: a delegated responder's certificate
		// carries id-kp-OCSPSigning and is issued directly by the CA whose
		// certificates it answers for.
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
		// Section 4.2.2.2.1: with id-pkix-ocsp-nocheck clients trust the
		// responder certificate for its lifetime instead of asking OCSP
		// about it, which would never end. The short validity and the
		// rotation are what bound a compromise of the key.
		t.ExtraExtensions = []pkix.Extension{{Id: oidOCSPNoCheck, Value: asn1Null}}
	})
	if err != nil {
		return nil, fmt.Errorf("ocsp: responder certificate: %w", err)
	}
	return &delegate{key: d.Key, cert: d.Cert, rotateAt: d.RotateAt}, nil
}
