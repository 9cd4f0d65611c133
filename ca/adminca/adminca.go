// Package adminca is the CA that Signet runs for its own staff: it issues
// the client certificates that authenticate auditors and operators on the
// admin listener (mutual TLS). It is separate from the subscriber CA so
// that no subscriber certificate can ever open the admin API.
package adminca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/ca/internal/pemfile"
)

// Roles an admin certificate can carry, in its subject OU.
const (
	RoleAuditor  = "auditor"  // reads
	RoleOperator = "operator" // reads, and revokes, suspends and resumes any certificate
)

// CA is the admin CA's certificate and key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Files names the admin CA's PEM files in a directory.
func Files(dir string) (cert, key string) {
	return filepath.Join(dir, "admin_ca.pem"), filepath.Join(dir, "admin_ca_key.pem")
}

// Ensure loads the admin CA from dir, creating it on first use.
func Ensure(dir, org string) (*CA, error) {
	certPath, keyPath := Files(dir)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		tmpl := &x509.Certificate{
			Subject:   pkix.Name{Country: []string{"KR"}, Organization: []string{org}, CommonName: org + " Admin CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
		}
		cert, err := pemfile.Create(tmpl, tmpl, key.Public(), key)
		if err != nil {
			return nil, err
		}
		if err := pemfile.WriteKey(keyPath, key); err != nil {
			return nil, err
		}
		if err := pemfile.WriteCerts(certPath, cert); err != nil {
			return nil, err
		}
	}
	return Load(certPath, keyPath)
}

// Load reads an admin CA from PEM files.
func Load(certPath, keyPath string) (*CA, error) {
	cert, err := pemutil.ReadCertificate(certPath)
	if err != nil {
		return nil, fmt.Errorf("admin CA certificate: %w", err)
	}
	k, err := pemutil.Read(keyPath)
	if err != nil {
		return nil, fmt.Errorf("admin CA key: %w", err)
	}
	key, ok := k.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, fmt.Errorf("admin CA: %s is not a CA certificate with a signing key", certPath)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Pool is the trust pool the admin listener verifies clients against.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// Issue makes a client certificate for one person and role. The private
// key is returned to be written to that person's files; Signet keeps none.
func (ca *CA) Issue(role, name string, validity time.Duration) (*x509.Certificate, crypto.Signer, error) {
	if role != RoleAuditor && role != RoleOperator {
		return nil, nil, fmt.Errorf("role %q: use %s or %s", role, RoleAuditor, RoleOperator)
	}
	if !namePattern.MatchString(name) {
		return nil, nil, fmt.Errorf("name %q: use 1-64 letters, digits and . _ @ -", name)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{Organization: ca.Cert.Subject.Organization, OrganizationalUnit: []string{role}, CommonName: name},
		NotBefore:   now.Add(-time.Minute),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	cert, err := pemfile.Create(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// WriteIdentity writes <dir>/<base>.pem and <dir>/<base>_key.pem.
func WriteIdentity(dir, base string, cert *x509.Certificate, key crypto.Signer) (certPath, keyPath string, err error) {
	certPath, keyPath = filepath.Join(dir, base+".pem"), filepath.Join(dir, base+"_key.pem")
	if err := pemfile.WriteKey(keyPath, key); err != nil {
		return "", "", err
	}
	return certPath, keyPath, pemfile.WriteCerts(certPath, cert)
}

// Identity is who an admin client certificate names.
type Identity struct {
	Role, Name string
}

// Actor is how the audit log names the caller.
func (id Identity) Actor() string { return id.Role + ":" + id.Name }

// IdentityOf reads the role and name from a client certificate that the
// TLS layer already verified against the admin CA.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	if len(cert.Subject.OrganizationalUnit) != 1 {
		return Identity{}, errors.New("admin certificate names no single role")
	}
	role := cert.Subject.OrganizationalUnit[0]
	if role != RoleAuditor && role != RoleOperator {
		return Identity{}, fmt.Errorf("admin certificate role %q is unknown", role)
	}
	return Identity{Role: role, Name: cert.Subject.CommonName}, nil
}
