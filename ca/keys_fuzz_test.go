package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
)

// FuzzParseCSR feeds arbitrary bytes to parseCSR. A refusal must never
// panic and must be an INVALID_ARGUMENT with one of the documented
// reasons; an accepted CSR is exactly the bytes sent (no trailing data),
// its signature verifies, and its key type is named.
func FuzzParseCSR(f *testing.F) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P224()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "subscriber"}}, k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	reasons := map[string]bool{"missing_csr": true, "oversized_csr": true, "malformed_csr": true, "bad_csr_signature": true, "weak_key": true}
	f.Fuzz(func(t *testing.T, der []byte) {
		csr, keyType, rerr := parseCSR(der)
		if rerr != nil {
			if rerr.Kind != KindInvalid || !reasons[rerr.Reason] || rerr.Msg == "" {
				t.Fatalf("refusal %+v is not a documented INVALID_ARGUMENT reason", rerr)
			}
			return
		}
		if !bytes.Equal(csr.Raw, der) || keyType == "" {
			t.Fatalf("accepted %d bytes as a CSR of %d bytes, key type %q", len(der), len(csr.Raw), keyType)
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted a CSR whose signature does not verify: %v", err)
		}
	})
}
