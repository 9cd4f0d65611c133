package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"strconv"
)

// checkPublicKey enforces DESIGN.md's subscriber key rules: RSA 2048, 3072
// or 4096 with exponent 65537, or ECDSA P-256/P-384. It returns the key's
// type name for the record.
func checkPublicKey(pub any) (string, *Error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits != 2048 && bits != 3072 && bits != 4096 {
			return "", refuse(KindInvalid, "weak_key",
				"RSA key of %d bits is not accepted: generate an RSA 2048, 3072 or 4096-bit key or an ECDSA P-256 key", bits)
		}
		// An exponent other than 65537 is legal but rare; small or even
		// exponents have enabled attacks, and NPKI software uses F4.
		if k.E != 65537 {
			return "", refuse(KindInvalid, "weak_key",
				"RSA public exponent %d is not accepted: use the standard exponent 65537", k.E)
		}
		return "rsa" + strconv.Itoa(bits), nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ecdsa-p256", nil
		case elliptic.P384():
			return "ecdsa-p384", nil
		}
		return "", refuse(KindInvalid, "weak_key",
			"ECDSA curve %s is not accepted: use P-256 or P-384", k.Curve.Params().Name)
	}
	return "", refuse(KindInvalid, "weak_key",
		"public key type %T is not accepted: use RSA 2048+ or ECDSA P-256/P-384", pub)
}

// spkiHash identifies a key across certificates (DESIGN.md invariant 5).
func spkiHash(pub any) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:], nil
}

// maxCSRSize bounds a PKCS#10 request: an RSA-4096 CSR is under 2 KiB.
const maxCSRSize = 16 << 10

// parseCSR parses and checks a subscriber's request: well-formed, signed by
// the key it carries, and the key acceptable.
func parseCSR(der []byte) (*x509.CertificateRequest, string, *Error) {
	if len(der) == 0 {
		return nil, "", refuse(KindInvalid, "missing_csr", "csr is empty: send a DER PKCS#10 request signed by the new key")
	}
	if len(der) > maxCSRSize {
		return nil, "", refuse(KindInvalid, "oversized_csr", "csr is %d bytes, more than the %d allowed: send a plain PKCS#10 request", len(der), maxCSRSize)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, "", refuse(KindInvalid, "malformed_csr", "csr is not a DER PKCS#10 request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", refuse(KindInvalid, "bad_csr_signature", "csr signature does not verify with its own public key: sign the request with the new key")
	}
	keyType, rerr := checkPublicKey(csr.PublicKey)
	if rerr != nil {
		return nil, "", rerr
	}
	return csr, keyType, nil
}

// checkIssuing checks what every call that signs a new key carries: a
// usable request id and an acceptable CSR.
func checkIssuing(requestID string, csrDER []byte) (*x509.CertificateRequest, string, *Error) {
	if rerr := checkRequestID(requestID); rerr != nil {
		return nil, "", rerr
	}
	return parseCSR(csrDER)
}
