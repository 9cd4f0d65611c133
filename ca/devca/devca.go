// Package devca creates the dev-mode PKI of `signetd --dev`: a root, an
// issuing intermediate and a TLS server certificate, written as PEM files
// so that the production code path (softkms + softcas reading files) is the
// one exercised in dev as well.
package devca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/ca/internal/pemfile"
)

// Files are the paths Ensure writes under its directory.
type Files struct {
	Root, RootKey                 string
	Intermediate, IntermediateKey string
	Server, ServerKey             string
}

func filesIn(dir string) Files {
	p := func(n string) string { return filepath.Join(dir, n) }
	return Files{
		Root: p("root.pem"), RootKey: p("root_key.pem"),
		Intermediate: p("intermediate.pem"), IntermediateKey: p("intermediate_key.pem"),
		Server: p("server.pem"), ServerKey: p("server_key.pem"),
	}
}

// Key types of the dev CA (Ensure's keyType).
const (
	RSA2048   = "rsa-2048"   // the NPKI norm, and the default
	ECDSAP256 = "ecdsa-p256" // for profiles that need not be NPKI RSA
)

// Ensure creates the root and intermediate once (kept across restarts so
// that issued certificates stay verifiable) and a fresh server certificate
// for hosts on every call. keyType picks the CA keys: RSA-2048 with
// SHA-256 follows the NPKI norm; ECDSA P-256 is the faster option. A state
// dir keeps the type it was made with.
func Ensure(dir, org string, hosts []string, keyType string) (Files, error) {
	f := filesIn(dir)
	if len(hosts) == 0 {
		return f, errors.New("devca: at least one host name or IP address is needed for the server certificate")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, err
	}
	now := time.Now()
	newKey := func() (crypto.Signer, error) {
		switch keyType {
		case RSA2048, "":
			return rsa.GenerateKey(rand.Reader, 2048)
		case ECDSAP256:
			return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		return nil, fmt.Errorf("devca: key type %q: use %s or %s", keyType, RSA2048, ECDSAP256)
	}
	if _, err := os.Stat(f.IntermediateKey); errors.Is(err, os.ErrNotExist) {
		rootKey, err := newKey()
		if err != nil {
			return f, err
		}
		root := &x509.Certificate{
			Subject:   pkix.Name{Country: []string{"KR"}, Organization: []string{org}, CommonName: org + " Dev Root CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(20, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true, IsCA: true,
		}
		rootCert, err := pemfile.Create(root, root, rootKey.Public(), rootKey)
		if err != nil {
			return f, err
		}
		intKey, err := newKey()
		if err != nil {
			return f, err
		}
		inter := &x509.Certificate{
			Subject:   pkix.Name{Country: []string{"KR"}, Organization: []string{org}, OrganizationalUnit: []string{"Licensed CA"}, CommonName: org + " Dev CA Class 2"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
		}
		intCert, err := pemfile.Create(inter, rootCert, intKey.Public(), rootKey)
		if err != nil {
			return f, err
		}
		for _, err := range []error{
			pemfile.WriteKey(f.RootKey, rootKey), pemfile.WriteKey(f.IntermediateKey, intKey),
			pemfile.WriteCerts(f.Root, rootCert), pemfile.WriteCerts(f.Intermediate, intCert),
		} {
			if err != nil {
				return f, err
			}
		}
	} else if err := checkKeyType(f.Intermediate, keyType); err != nil {
		return f, err
	}
	return f, writeServer(f, hosts, now)
}

// checkKeyType refuses a state dir whose dev CA has another key type than
// the one asked for, rather than silently using it.
func checkKeyType(path, keyType string) error {
	cert, err := pemutil.ReadCertificate(path)
	if err != nil {
		return err
	}
	have := RSA2048
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); ok {
		have = ECDSAP256
	}
	if keyType != "" && keyType != have {
		return fmt.Errorf("devca: %s holds a %s dev CA, not %s: use another --state-dir for a %s CA", filepath.Dir(path), have, keyType, keyType)
	}
	return nil
}

// writeServer signs the TLS server certificate with the dev root, not the
// issuing intermediate: the issuing key signs only through the signature
// ledger, and a TLS certificate made at every start is no subscriber's.
func writeServer(f Files, hosts []string, now time.Time) error {
	rootCert, err := pemutil.ReadCertificate(f.Root)
	if err != nil {
		return err
	}
	k, err := pemutil.Read(f.RootKey)
	if err != nil {
		return err
	}
	rootKey, ok := k.(crypto.Signer)
	if !ok {
		return fmt.Errorf("devca: %s is not a signing key", f.RootKey)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(0, 3, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	cert, err := pemfile.Create(tmpl, rootCert, key.Public(), rootKey)
	if err != nil {
		return err
	}
	if err := pemfile.WriteKey(f.ServerKey, key); err != nil {
		return err
	}
	return pemfile.WriteCerts(f.Server, cert)
}
