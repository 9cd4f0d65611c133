// Package signer holds the CA keys and is the only way to use them. Every
// signature goes through one recorded sequence, Boulder's order:
//
//  1. Prepare: complete the template (one serial generator), build the
//     exact to-be-signed certificate and lint it. No database, no CA key.
//  2. Reserve: record the serial and the to-be-signed certificate, with its
//     audit event, in the caller's transaction, which commits before 3.
//  3. Sign: the CA key signs outside any transaction, and the signed
//     certificate's TBS must equal the one recorded and linted.
//  4. Settle: the caller stores the result (issued) or, when something
//     failed after signing, records it as never delivered.
//
// A process that dies between 2 and 4 leaves an open reservation that
// recovery marks abandoned: no signature goes unrecorded.
package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
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

// Config says where a CA's certificate chain and key live. Moving the key
// into a PKCS#11 HSM or a cloud KMS changes KMS and Key, not code: both are
// go.step.sm/crypto/kms URIs.
type Config struct {
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

// Linter checks a to-be-signed certificate before the CA key signs it
// (ca/lint implements it with zlint). An error refuses the signature.
type Linter interface {
	Subscriber(der []byte) error
	Infrastructure(der []byte) error
}

// Signer is one CA: its chain and its key behind a smallstep CAS backend.
// The key is reachable only through Prepare, Reserve and Sign.
type Signer struct {
	cas   casapi.CertificateAuthorityService
	chain []*x509.Certificate
	id    string
	lint  Linter
	// km is kept so that Close can end an HSM session.
	km kmsapi.KeyManager
}

// New loads the chain and the key through KMS and refuses a key that does
// not match the issuing certificate.
func New(ctx context.Context, cfg Config, lint Linter) (*Signer, error) {
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
	s, err := newSigner(ctx, cfg.CAS, chain, key, lint)
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

func newSigner(ctx context.Context, casType string, chain []*x509.Certificate, key crypto.Signer, lint Linter) (*Signer, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("signer: empty certificate chain")
	}
	if lint == nil {
		return nil, fmt.Errorf("signer: a linter is required: nothing is signed unlinted")
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
	switch k := chain[0].PublicKey.(type) {
	case *rsa.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("signer: CA curve %s is not supported: use P-256 or P-384", k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("signer: CA key type %T is not supported: use RSA or ECDSA P-256/P-384", chain[0].PublicKey)
	}
	svc, err := cas.New(ctx, casapi.Options{Type: casType, CertificateChain: chain, Signer: key})
	if err != nil {
		return nil, fmt.Errorf("signer: cas %q: %w", casType, err)
	}
	return &Signer{cas: svc, chain: chain, id: IssuerID(chain[0]), lint: lint}, nil
}

// IssuerID names a CA in URLs and rows: hex of the first 8 bytes of SHA-256
// over its SubjectPublicKeyInfo, stable across re-issued CA certificates
// with the same key.
func IssuerID(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:8])
}

// ID is IssuerID of this CA.
func (s *Signer) ID() string { return s.id }

// Chain returns the issuing chain, intermediate first.
func (s *Signer) Chain() []*x509.Certificate { return s.chain }

// Issuer returns the issuing CA certificate.
func (s *Signer) Issuer() *x509.Certificate { return s.chain[0] }
