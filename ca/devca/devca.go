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

// Ensure creates the root and intermediate once (kept across restarts so
// that issued certificates stay verifiable) and a fresh server certificate
// for hosts on every call. RSA-2048 with SHA-256 follows the NPKI norm.
func Ensure(dir, org string, hosts []string) (Files, error) {
	f := filesIn(dir)
	if len(hosts) == 0 {
		return f, errors.New("devca: at least one host name or IP address is needed for the server certificate")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, err
	}
	now := time.Now()
	if _, err := os.Stat(f.IntermediateKey); errors.Is(err, os.ErrNotExist) {
		rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
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
		intKey, err := rsa.GenerateKey(rand.Reader, 2048)
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
	}
	return f, writeServer(f, hosts, now)
}

func writeServer(f Files, hosts []string, now time.Time) error {
	intCert, err := pemutil.ReadCertificate(f.Intermediate)
	if err != nil {
		return err
	}
	k, err := pemutil.Read(f.IntermediateKey)
	if err != nil {
		return err
	}
	intKey, ok := k.(crypto.Signer)
	if !ok {
		return fmt.Errorf("devca: %s is not a signing key", f.IntermediateKey)
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
	cert, err := pemfile.Create(tmpl, intCert, key.Public(), intKey)
	if err != nil {
		return err
	}
	if err := pemfile.WriteKey(f.ServerKey, key); err != nil {
		return err
	}
	// The server presents its chain so that clients need only the root.
	return pemfile.WriteCerts(f.Server, cert, intCert)
}
