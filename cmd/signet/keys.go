package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/signet-ca/signet/npki"
)

// keyTypes are the subscriber keys Signet certifies (DESIGN.md, "Real
// profile facts"). RSA-2048 is the default because it is the NPKI norm
// that Korean banking software expects.
var keyTypes = map[string]func() (crypto.Signer, error){
	"rsa2048":    func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
	"rsa3072":    func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 3072) },
	"rsa4096":    func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 4096) },
	"ecdsa-p256": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
	"ecdsa-p384": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) },
}

const defaultKeyType = "rsa2048"

const keyTypeList = "rsa2048, rsa3072, rsa4096, ecdsa-p256 or ecdsa-p384"

func checkKeyType(name string) error {
	if _, ok := keyTypes[name]; !ok {
		return fmt.Errorf("--key %q is not supported: use %s", name, keyTypeList)
	}
	return nil
}

// newKeyAndCSR generates the subscriber's key on this device and a DER
// PKCS#10 request for it. The server sets the real subject from the
// verified identity (or keeps the old one on renewal), so the request's
// subject only has to be well-formed.
func newKeyAndCSR(keyType string, tmpl *x509.CertificateRequest) (crypto.Signer, []byte, error) {
	gen, ok := keyTypes[keyType]
	if !ok {
		return nil, nil, checkKeyType(keyType)
	}
	key, err := gen()
	if err != nil {
		return nil, nil, fmt.Errorf("generating the %s key: %w", keyType, err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("making the certificate request: %w", err)
	}
	return key, csr, nil
}

// readPassword returns the first line of the password file without its line
// ending. Only the line ending is removed: spaces may be part of a password.
func readPassword(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("--password-file is required: a file whose first line is the certificate password")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--password-file: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("--password-file %s: the first line is empty: put the certificate password there", path)
	}
	return line, nil
}

// newPassword reads a password that will protect a new key file and applies
// the Korean certificate password rule before any key is made.
func newPassword(path string) ([]byte, error) {
	pw, err := readPassword(path)
	if err != nil {
		return nil, err
	}
	if err := npki.CheckPassword(string(pw)); err != nil {
		return nil, fmt.Errorf("--password-file: %w", err)
	}
	return pw, nil
}

// sameKey reports whether cert certifies key's public half.
func sameKey(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}

// issuedCertificate parses the DER the server returned and checks that it
// certifies the key made here: a certificate for another key would be
// useless, and writing it beside our key would break the folder.
func issuedCertificate(der []byte, key crypto.Signer) (*x509.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("the server answered without a certificate")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("the server returned an unreadable certificate: %w", err)
	}
	if !sameKey(cert, key) {
		return nil, fmt.Errorf("the server returned certificate %s for another key: nothing was saved", cert.SerialNumber.Text(16))
	}
	return cert, nil
}

// requestFor is a request template with the subject CN=name; the CA
// replaces the subject with the NPKI one built from the verified identity.
func requestFor(name string) *x509.CertificateRequest {
	return &x509.CertificateRequest{Subject: pkix.Name{CommonName: strings.TrimSpace(name)}}
}

// renewalRequest is a request template with the certificate's exact subject
// bytes: renewal keeps the holder, so the request names the same one.
func renewalRequest(cert *x509.Certificate) *x509.CertificateRequest {
	return &x509.CertificateRequest{RawSubject: cert.RawSubject}
}
