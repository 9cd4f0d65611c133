// Package proof signs and verifies key-possession proofs: a compact JWS made
// with the private key of the subscriber's current certificate, carrying that
// certificate in the x5c header. Renewal (갱신) and holder revocation (폐지)
// are authorized by such a proof instead of a new identity check (DESIGN.md,
// "Life cycle rules").
//
// Verify checks the signature against the certificate in x5c but not its
// chain or status: the caller must compare Verified.Certificate.Raw to the
// certificate it has on record for that serial, check the life cycle rules,
// and record the jti as used (DESIGN.md, invariant 4).
package proof

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// MaxSkew is how far iat may be from the verifier's clock in either
// direction. Short, because a proof is made right before the call it
// authorizes.
const MaxSkew = 5 * time.Minute

// maxTokenLen bounds the input before parsing; a proof with an RSA-4096
// certificate is about 4 KiB.
const maxTokenLen = 64 << 10

// allowedAlgs are the algorithms Sign produces for the subscriber key types
// DESIGN.md allows (RSA 2048-4096, ECDSA P-256/P-384), plus PS256 for RSA
// keys held in tokens that prefer PSS.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384}

// Claims is the payload of a proof.
type Claims struct {
	Audience string `json:"aud"`
	Method   string `json:"method"` // full gRPC method, e.g. "/signet.v1.EnrollmentService/RenewCertificate"
	IssuedAt int64  `json:"iat"`
	JTI      string `json:"jti"`
	Serial   string `json:"serial"`            // lower-case hex serial of the signing certificate (SerialHex)
	Binding  string `json:"binding,omitempty"` // what the proof is for: BindCSR(der) or BindReason(r)
}

// Verified is a proof whose signature checked out.
type Verified struct {
	Certificate *x509.Certificate
	Claims      Claims
}

// Error is the error type of Sign and Verify.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func fail(format string, a ...any) *Error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// SerialHex formats a certificate serial as proofs carry it: lower-case hex
// without leading zeros (big.Int.Text(16)).
func SerialHex(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }

// BindCSR returns the binding of a renewal proof to its new CSR: hex SHA-256
// of the CSR's DER. It stops a captured proof from being replayed with
// another key.
func BindCSR(csrDER []byte) string {
	sum := sha256.Sum256(csrDER)
	return hex.EncodeToString(sum[:])
}

// BindReason returns the binding of a revocation proof to its RFC 5280
// reason, e.g. BindReason("keyCompromise") == "reason=keyCompromise".
func BindReason(reason string) string { return "reason=" + reason }

// Sign makes a proof with key, the private key of cert. The alg follows the
// key: RSA RS256, P-256 ES256, P-384 ES384. Empty JTI gets 16 random bytes in
// hex, zero IssuedAt gets time.Now, empty Serial gets SerialHex(cert).
// Audience and Method are required.
func Sign(cert *x509.Certificate, key crypto.Signer, c Claims) (string, error) {
	if cert == nil || key == nil {
		return "", fail("proof: certificate and key are required")
	}
	if c.Audience == "" || c.Method == "" {
		return "", fail("proof: audience and method are required")
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return "", fail("proof: the key does not belong to the certificate: use the certificate's own private key")
	}
	alg, err := algFor(key.Public())
	if err != nil {
		return "", err
	}
	if c.Serial == "" {
		c.Serial = SerialHex(cert)
	} else if !sameSerial(c.Serial, cert) {
		return "", fail("proof: serial claim does not match the certificate")
	}
	if c.JTI == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return "", fail("proof: random jti: %v", err)
		}
		c.JTI = hex.EncodeToString(b)
	}
	if c.IssuedAt == 0 {
		c.IssuedAt = time.Now().Unix()
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fail("proof: encode claims: %v", err)
	}
	opts := (&jose.SignerOptions{}).WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(cert.Raw)})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: cryptosigner.Opaque(key)}, opts)
	if err != nil {
		return "", fail("proof: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fail("proof: sign: %v", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		return "", fail("proof: %v", err)
	}
	return out, nil
}

func algFor(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		}
	}
	return "", fail("proof: key type %T is not supported: use RSA, ECDSA P-256 or P-384", pub)
}

// Verify checks a proof for a call to method on the service named audience,
// at time now. See the package comment for what it leaves to the caller.
func Verify(token, audience, method string, now time.Time) (*Verified, error) {
	if token == "" {
		return nil, fail("proof is missing: sign one with the current certificate's key")
	}
	if len(token) > maxTokenLen {
		return nil, fail("proof is too large: sign a new one carrying only your certificate")
	}
	jws, err := jose.ParseSignedCompact(token, allowedAlgs)
	if err != nil {
		return nil, fail("proof is not a compact JWS signed with RS256, PS256, ES256 or ES384: sign a new one")
	}
	if len(jws.Signatures) != 1 {
		return nil, fail("proof must carry exactly one signature")
	}
	leaf, err := leafFromX5C(token)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(leaf.PublicKey)
	if err != nil {
		return nil, fail("proof signature does not verify with the certificate in x5c: sign with that certificate's private key")
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fail("proof claims are not valid JSON with the expected types: sign a new one")
	}
	if c.Audience != audience {
		return nil, fail("proof is addressed to another service (aud differs, want %q): sign a new one for this Signet", audience)
	}
	if c.Method != method {
		return nil, fail("proof was made for another operation (method differs, want %q): sign a new one for this call", method)
	}
	if c.IssuedAt == 0 {
		return nil, fail(`proof has no "iat": sign a new one`)
	}
	iat := time.Unix(c.IssuedAt, 0)
	if now.Sub(iat) > MaxSkew {
		return nil, fail("proof is older than 5 minutes: sign a new one")
	}
	if iat.Sub(now) > MaxSkew {
		return nil, fail("proof is dated more than 5 minutes in the future: check the device clock and sign a new one")
	}
	if c.JTI == "" {
		return nil, fail(`proof has no "jti": sign a new one`)
	}
	if !sameSerial(c.Serial, leaf) {
		return nil, fail("proof serial does not match the certificate in x5c: sign a new one")
	}
	return &Verified{Certificate: leaf, Claims: c}, nil
}

// leafFromX5C parses the leaf certificate from the protected header. In
// compact serialization every header is protected, so x5c is covered by the
// signature. go-jose keeps the parsed chain private (it only returns it after
// chain verification, which is the caller's job here), hence the decode.
func leafFromX5C(token string) (*x509.Certificate, error) {
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return nil, fail("proof header is not base64url: sign a new one")
	}
	var h struct {
		X5C []string `json:"x5c"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fail("proof header is not valid JSON: sign a new one")
	}
	if len(h.X5C) == 0 {
		return nil, fail("proof has no x5c header: include the signing certificate")
	}
	der, err := base64.StdEncoding.DecodeString(h.X5C[0])
	if err != nil {
		return nil, fail("proof x5c[0] is not base64 DER: include the signing certificate")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fail("proof x5c[0] is not a valid X.509 certificate: include the signing certificate")
	}
	return cert, nil
}

// sameSerial compares a serial claim with the certificate's serial by value,
// so a claim with leading zeros (hex of the serial's bytes) still matches. It
// requires lower-case hex digits only.
func sameSerial(claim string, cert *x509.Certificate) bool {
	if claim == "" || len(claim) > 64 {
		return false
	}
	for _, r := range claim {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	n, ok := new(big.Int).SetString(claim, 16)
	return ok && n.Cmp(cert.SerialNumber) == 0
}
