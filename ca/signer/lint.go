package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
)

// lintTwin signs to-be-signed certificates with a throwaway key so that
// they can be linted before the CA key signs them (Boulder's linter). The
// twin's parent has the CA's subject and key id, and the lint key has the
// CA key's algorithm, so the twin's TBS is byte for byte the one the CA
// will sign. For RSA the lint key is 1024 bits: the signature algorithm
// (sha256WithRSAEncryption) does not depend on the size, and the lint
// signature costs a sixth of an RSA-2048 one.
type lintTwin struct {
	key    crypto.Signer
	parent *x509.Certificate
}

func newLintTwin(issuer *x509.Certificate) (*lintTwin, error) {
	var key crypto.Signer
	var err error
	switch pub := issuer.PublicKey.(type) {
	case *rsa.PublicKey:
		key, err = rsa.GenerateKey(rand.Reader, 1024)
	case *ecdsa.PublicKey:
		key, err = ecdsa.GenerateKey(pub.Curve, rand.Reader)
	default:
		return nil, fmt.Errorf("signer: CA key type %T is not supported: use RSA or ECDSA P-256/P-384", issuer.PublicKey)
	}
	if err != nil {
		return nil, err
	}
	if k, ok := issuer.PublicKey.(*ecdsa.PublicKey); ok && k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
		return nil, fmt.Errorf("signer: CA curve %s is not supported: use P-256 or P-384", k.Curve.Params().Name)
	}
	parent := &x509.Certificate{
		Raw:                     issuer.Raw,
		RawSubject:              issuer.RawSubject,
		RawSubjectPublicKeyInfo: issuer.RawSubjectPublicKeyInfo,
		Subject:                 issuer.Subject,
		SubjectKeyId:            issuer.SubjectKeyId,
		PublicKey:               key.Public(),
	}
	return &lintTwin{key: key, parent: parent}, nil
}

func (t *lintTwin) sign(tmpl *x509.Certificate) ([]byte, error) {
	return x509.CreateCertificate(rand.Reader, tmpl, t.parent, tmpl.PublicKey, t.key)
}

// rawTBS cuts the TBSCertificate out of a certificate's DER without a full
// parse.
func rawTBS(der []byte) ([]byte, error) {
	var cert struct {
		TBS asn1.RawValue
		Alg asn1.RawValue
		Sig asn1.BitString
	}
	rest, err := asn1.Unmarshal(der, &cert)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("signer: lint twin is not a certificate: %v", err)
	}
	return cert.TBS.FullBytes, nil
}
