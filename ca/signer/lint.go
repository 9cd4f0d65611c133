package signer

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The to-be-signed certificate is linted before the CA key signs it.
// Boulder signs a twin with a throwaway key of the same algorithm; Signet
// takes the TBS itself: Go's x509.CreateCertificate hands the complete
// TBSCertificate to a crypto.MessageSigner, so a "signer" that presents
// the CA's public key, keeps the TBS and refuses to sign yields the exact
// bytes the CA will sign (same template, same parent certificate), for no
// signature at all. The linter gets that TBS inside a certificate with a
// placeholder signature: lints read the TBS and the algorithm identifiers,
// never the signature value, which only the real CA signature can give.

// errCaptured stops x509.CreateCertificate once the TBS is in hand.
var errCaptured = errors.New("signer: TBS captured")

// tbsCapture is the crypto.MessageSigner that keeps the TBS.
type tbsCapture struct {
	pub crypto.PublicKey
	tbs []byte
}

func (c *tbsCapture) Public() crypto.PublicKey { return c.pub }

// Sign is never called: x509 prefers SignMessage.
func (c *tbsCapture) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("signer: the TBS capture cannot sign a digest")
}

func (c *tbsCapture) SignMessage(_ io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	c.tbs = bytes.Clone(msg)
	return nil, errCaptured
}

// tbsOf returns the TBSCertificate the CA would sign for tmpl, and a
// certificate around it with a placeholder signature, for the linter.
func (s *Signer) tbsOf(tmpl *x509.Certificate) (tbs, lintDER []byte, err error) {
	issuer := s.Issuer()
	capture := &tbsCapture{pub: issuer.PublicKey}
	_, err = x509.CreateCertificate(rand.Reader, tmpl, issuer, tmpl.PublicKey, capture)
	if !errors.Is(err, errCaptured) || capture.tbs == nil {
		if err == nil {
			err = errors.New("x509 signed without handing over the TBS")
		}
		return nil, nil, fmt.Errorf("signer: build the to-be-signed certificate: %w", err)
	}
	tbs = capture.tbs
	alg, err := signatureAlgorithmOf(tbs)
	if err != nil {
		return nil, nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(alg)
		b.AddASN1BitString(placeholderSignature(issuer.PublicKey))
	})
	lintDER, err = b.Bytes()
	return tbs, lintDER, err
}

// signatureAlgorithmOf returns the TBS's signature AlgorithmIdentifier,
// whole, to repeat as the certificate's signatureAlgorithm (RFC 5280
// 4.1.1.2 requires the two to match).
func signatureAlgorithmOf(tbs []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var body, alg cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) ||
		!body.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!body.SkipASN1(cbasn1.INTEGER) || // serialNumber
		!body.ReadASN1Element(&alg, cbasn1.SEQUENCE) {
		return nil, errors.New("signer: the to-be-signed certificate does not parse")
	}
	return alg, nil
}

// placeholderSignature has the shape of a real signature of the CA's key
// type, so that a parser finds what it expects there.
func placeholderSignature(pub crypto.PublicKey) []byte {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return bytes.Repeat([]byte{0x01}, k.Size())
	case *ecdsa.PublicKey:
		return []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01} // SEQUENCE { 1, 1 }
	}
	return []byte{0}
}
