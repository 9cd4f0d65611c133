package ocsp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 section 4.2.2.2.1).
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// asn1Null is the extension's value: the RFC defines it as NULL.
var asn1Null = []byte{0x05, 0x00}

// delegate is one delegated OCSP signing key and its certificate (RFC 6960
// section 4.2.2.2). The CA's own key stays in its KMS or HSM and signs
// only this certificate; each response is signed by the in-memory P-256
// key, which is cheap and can be thrown away: it never touches disk and
// dies with the process.
type delegate struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	// rotateAt is two thirds into the certificate's life. Responses signed
	// up to then stay verifiable for their whole validity, because New
	// requires ResponseValidity ≤ SignerValidity/3.
	rotateAt time.Time
}

// newDelegate generates a key and has the CA certify it.
func (r *Responder) newDelegate() (*delegate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	issuer := r.signer.Issuer()
	now := r.now()
	// Backdating covers relying parties whose clocks run a little behind
	// ours: a certificate that is not yet valid fails verification.
	backdate := min(time.Hour, r.opts.SignerValidity/10)
	notBefore := now.Add(-backdate).Truncate(time.Second)
	// Never past the issuer's own notAfter: a chain is valid only while
	// every certificate in it is.
	notAfter := notBefore.Add(r.opts.SignerValidity)
	if notAfter.After(issuer.NotAfter) {
		notAfter = issuer.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("ocsp: the issuing CA certificate expired at %v", issuer.NotAfter)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Country:      issuer.Subject.Country,
			Organization: issuer.Subject.Organization,
			CommonName:   issuer.Subject.CommonName + " OCSP Responder",
		},
		NotBefore: notBefore,
		NotAfter:  notAfter,
		PublicKey: key.Public(),
		// RFC 6960 section 4.2.2.2: a delegated responder's certificate
		// carries id-kp-OCSPSigning and is issued directly by the CA whose
		// certificates it answers for.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		BasicConstraintsValid: true,
		IsCA:                  false,
		// Section 4.2.2.2.1: with id-pkix-ocsp-nocheck clients trust the
		// responder certificate for its lifetime instead of asking OCSP
		// about it, which would never end. The short validity and the
		// rotation are what bound a compromise of the key.
		ExtraExtensions: []pkix.Extension{{Id: oidOCSPNoCheck, Value: asn1Null}},
	}
	cert, err := r.signer.SignTemplate(tmpl)
	if err != nil {
		return nil, fmt.Errorf("ocsp: issue responder certificate: %w", err)
	}
	return &delegate{
		key:      key,
		cert:     cert,
		rotateAt: notBefore.Add(notAfter.Sub(notBefore) * 2 / 3),
	}, nil
}

// randomSerial returns 20 random bytes as a positive integer with the top
// bit clear, so that the DER INTEGER stays within RFC 5280's 20 octets.
func randomSerial() (*big.Int, error) {
	var b [20]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		b[0] &= 0x7f
		if s := new(big.Int).SetBytes(b[:]); s.Sign() > 0 {
			return s, nil
		}
	}
}
