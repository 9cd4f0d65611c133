package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/smallstep/certificates/cas"
	casapi "github.com/smallstep/certificates/cas/apiv1"
	"go.step.sm/crypto/kms"
	kmsapi "go.step.sm/crypto/kms/apiv1"
	_ "go.step.sm/crypto/kms/softkms" // PEM keys on disk, the default
	"go.step.sm/crypto/pemutil"
)

// SignerConfig says where the issuing CA's certificate chain and key live.
// Moving the key into a PKCS#11 HSM or a cloud KMS changes KMS and Key, not
// code: both are go.step.sm/crypto/kms URIs.
type SignerConfig struct {
	// CAS is the smallstep cas/apiv1 backend type; "" means softcas.
	CAS string `json:"cas,omitempty"`
	// Chain is a PEM file: the issuing (intermediate) certificate first.
	Chain string `json:"chain"`
	// KMS is the key manager URI, e.g. "softkms:" or
	// "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=signet?pin-value=...".
	KMS string `json:"kms,omitempty"`
	// Key names the signing key inside the KMS: a PEM path for softkms, or
	// e.g. "pkcs11:id=7331;object=signet-intermediate".
	Key string `json:"key"`
}

// Signer signs certificates through a smallstep CAS backend and knows the
// chain it signs under.
type Signer struct {
	cas   casapi.CertificateAuthorityService
	chain []*x509.Certificate
	// IssuerID names the issuing CA in URLs and rows: hex of the first 8
	// bytes of SHA-256 over its SubjectPublicKeyInfo, stable across
	// re-issued CA certificates with the same key.
	IssuerID string
	key      crypto.Signer
	// km is kept so that Close can end an HSM session.
	km kmsapi.KeyManager
}

// NewSigner loads the chain and the key and refuses a key that does not
// match the issuing certificate.
func NewSigner(ctx context.Context, cfg SignerConfig) (*Signer, error) {
	if cfg.Chain == "" || cfg.Key == "" {
		return nil, fmt.Errorf("signer: chain and key are both required")
	}
	chain, err := pemutil.ReadCertificateBundle(cfg.Chain)
	if err != nil {
		return nil, fmt.Errorf("signer: read chain %s: %w", cfg.Chain, err)
	}
	km, err := kms.New(ctx, kmsapi.Options{URI: cfg.KMS})
	if err != nil {
		return nil, fmt.Errorf("signer: kms %q: %w", cfg.KMS, err)
	}
	key, err := km.CreateSigner(&kmsapi.CreateSignerRequest{SigningKey: cfg.Key})
	if err != nil {
		km.Close()
		return nil, fmt.Errorf("signer: key %q: %w", cfg.Key, err)
	}
	s, err := newSigner(ctx, cfg.CAS, chain, key)
	if err != nil {
		km.Close()
		return nil, err
	}
	s.km = km
	return s, nil
}

// Close releases the key manager (an HSM session, a cloud KMS client).
func (s *Signer) Close() error {
	if s.km == nil {
		return nil
	}
	return s.km.Close()
}

func newSigner(ctx context.Context, casType string, chain []*x509.Certificate, key crypto.Signer) (*Signer, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("signer: empty certificate chain")
	}
	want, err := x509.MarshalPKIXPublicKey(chain[0].PublicKey)
	if err != nil {
		return nil, err
	}
	got, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(want, got) {
		return nil, fmt.Errorf("signer: key does not match the issuing certificate %q", chain[0].Subject)
	}
	if !chain[0].IsCA || chain[0].KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("signer: %q is not a CA certificate allowed to sign certificates", chain[0].Subject)
	}
	svc, err := cas.New(ctx, casapi.Options{Type: casType, CertificateChain: chain, Signer: key})
	if err != nil {
		return nil, fmt.Errorf("signer: cas %q: %w", casType, err)
	}
	sum := sha256.Sum256(chain[0].RawSubjectPublicKeyInfo)
	return &Signer{cas: svc, chain: chain, IssuerID: hex.EncodeToString(sum[:8]), key: key}, nil
}

// Chain returns the issuing chain, intermediate first.
func (s *Signer) Chain() []*x509.Certificate { return s.chain }

// Issuer returns the issuing CA certificate.
func (s *Signer) Issuer() *x509.Certificate { return s.chain[0] }

// Key returns the CA's signing key for CRL and OCSP-signer issuance.
func (s *Signer) Key() crypto.Signer { return s.key }

// sign issues tmpl through the CAS backend. Validity and serial are
// already in tmpl; the backend only signs.
func (s *Signer) sign(tmpl *x509.Certificate, csr *x509.CertificateRequest, requestID string) (*x509.Certificate, error) {
	resp, err := s.cas.CreateCertificate(&casapi.CreateCertificateRequest{
		Template:  tmpl,
		CSR:       csr,
		Lifetime:  tmpl.NotAfter.Sub(tmpl.NotBefore),
		RequestID: requestID,
	})
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return resp.Certificate, nil
}

// CreateCRL signs a revocation list through the CAS backend, for backends
// that can (softcas can; a managed cloud CA publishes its own).
func (s *Signer) CreateCRL(rl *x509.RevocationList) ([]byte, error) {
	crlCAS, ok := s.cas.(casapi.CertificateAuthorityCRLGenerator)
	if !ok {
		return nil, fmt.Errorf("signer: CAS backend %T cannot sign CRLs", s.cas)
	}
	resp, err := crlCAS.CreateCRL(&casapi.CreateCRLRequest{RevocationList: rl})
	if err != nil {
		return nil, fmt.Errorf("signer: create CRL: %w", err)
	}
	return resp.CRL, nil
}

// SignTemplate issues a certificate for infrastructure the CA itself runs,
// such as the delegated OCSP signer; subscriber certificates go through
// the life cycle in Authority instead. tmpl must carry its public key,
// serial and validity.
func (s *Signer) SignTemplate(tmpl *x509.Certificate) (*x509.Certificate, error) {
	if tmpl.PublicKey == nil || tmpl.SerialNumber == nil || !tmpl.NotAfter.After(tmpl.NotBefore) {
		return nil, fmt.Errorf("signer: template needs a public key, a serial and a validity")
	}
	return s.sign(tmpl, nil, "")
}
