package audit

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

// signingKey is one audit signer key and its certificate. Like the OCSP
// responder's delegate key, it lives in memory only and dies with the
// process: the CA's own key stays in its KMS and signs only the
// certificate. A stolen key can sign checkpoints until its certificate
// expires, which is what the short validity and the rotation bound.
type signingKey struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	// der is the certificate followed by the CA's chain, concatenated DER:
	// what a checkpoint's signer_der holds.
	der []byte
	// rotateAt is two thirds into the certificate's life.
	rotateAt time.Time
}

// newSigningKey generates a P-256 key and has the CA certify it through
// the CAS (ca.Signer.SignTemplate).
func (s *Sealer) newSigningKey(now time.Time) (*signingKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	issuer := s.signer.Issuer()
	// Backdated a little: a verifier checks the certificate at signed_at,
	// which comes from this replica's clock.
	backdate := min(time.Hour, s.opts.SignerValidity/10)
	notBefore := now.Add(-backdate).Truncate(time.Second)
	notAfter := notBefore.Add(s.opts.SignerValidity)
	if notAfter.After(issuer.NotAfter) {
		notAfter = issuer.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("audit: the issuing CA certificate expired at %v", issuer.NotAfter)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Country:            issuer.Subject.Country,
			Organization:       issuer.Subject.Organization,
			OrganizationalUnit: []string{SignerOU},
			CommonName:         issuer.Subject.CommonName + " Audit Signer",
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		PublicKey:             key.Public(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  false,
		// Both fields, equal, whichever one GODEBUG x509usepolicies picks.
		PolicyIdentifiers: []asn1.ObjectIdentifier{PolicyAuditSigner},
		Policies:          []x509.OID{policyAuditSigner},
	}
	cert, err := s.signer.SignTemplate(tmpl)
	if err != nil {
		return nil, fmt.Errorf("audit: issue signer certificate: %w", err)
	}
	der := append([]byte(nil), cert.Raw...)
	for _, c := range s.signer.Chain() {
		der = append(der, c.Raw...)
	}
	return &signingKey{
		key:      key,
		cert:     cert,
		der:      der,
		rotateAt: notBefore.Add(notAfter.Sub(notBefore) * 2 / 3),
	}, nil
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

// randomSerial returns 20 random bytes as a positive integer with the top
// bit clear (RFC 5280: at most 20 octets).
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
