// Package adminca is the CA that Signet runs for its own staff: it issues
// the client certificates that authenticate auditors and operators on the
// admin listener (mutual TLS). It is separate from the subscriber CA so
// that no subscriber certificate can ever open the admin API.
package adminca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/signet-ca/signet/ca/internal/pemfile"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
)

// Roles an admin certificate can carry, in its subject OU.
const (
	RoleAuditor  = "auditor"  // reads
	RoleOperator = "operator" // reads, and revokes, suspends and resumes any certificate
)

// CA is the admin CA. Its key is reached only through package signer, so
// that every staff certificate it signs is recorded in the signature
// ledger before it is signed, like every other signature.
type CA struct {
	Cert   *x509.Certificate
	signer *signer.Signer
}

// Ledger is where staff certificates are recorded (a *store.DB).
type Ledger interface {
	signer.Recorder
	SettleSignature(ctx context.Context, id int64, state string, der []byte, outcome string, at time.Time) error
}

// Files names the admin CA's PEM files in a directory.
func Files(dir string) (cert, key string) {
	return filepath.Join(dir, "admin_ca.pem"), filepath.Join(dir, "admin_ca_key.pem")
}

// Ensure creates the admin CA's files in dir on first use. The admin CA's
// self-signature is its key ceremony: it happens once, before any
// database exists, and is the only signature of its key outside the
// ledger.
func Ensure(dir, org string) error {
	certPath, keyPath := Files(dir)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
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
			return err
		}
		if err := pemfile.WriteKey(keyPath, key); err != nil {
			return err
		}
		if err := pemfile.WriteCerts(certPath, cert); err != nil {
			return err
		}
	}
	return nil
}

// Load opens the admin CA through KMS (a softkms PEM path, or a PKCS#11 or
// cloud KMS URI as for the issuing CA).
func Load(ctx context.Context, cfg signer.Config, lint signer.Linter) (*CA, error) {
	s, err := signer.New(ctx, cfg, lint)
	if err != nil {
		return nil, fmt.Errorf("admin CA: %w", err)
	}
	return &CA{Cert: s.Issuer(), signer: s}, nil
}

// Close releases the admin CA's key manager.
func (ca *CA) Close() error { return ca.signer.Close() }

// Pool is the trust pool the admin listener verifies clients against.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// Issue makes a client certificate for one person and role, recorded in
// the ledger before the admin CA key signs it. The private key is returned
// to be written to that person's files; Signet keeps none.
func (ca *CA) Issue(ctx context.Context, ledger Ledger, actor, role, name string, validity time.Duration) (*x509.Certificate, crypto.Signer, error) {
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
	tmpl.PublicKey = key.Public()
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	p, err := ca.signer.Prepare(signer.Staff, tmpl, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := ca.signer.Reserve(ctx, ledger, p, signer.Reason{Purpose: "admin-cert:" + role, Actor: actor}, now); err != nil {
		return nil, nil, err
	}
	cert, err := ca.signer.Sign(p)
	state, der, outcome := store.SigIssued, []byte(nil), ""
	if cert != nil {
		der = cert.Raw
	}
	if err != nil {
		state, outcome = store.SigAbandoned, err.Error()
		if der != nil {
			state = store.SigUndelivered
		}
	}
	if serr := ledger.SettleSignature(context.WithoutCancel(ctx), p.LedgerID(), state, der, outcome, time.Now()); serr != nil && err == nil {
		// Not recorded as issued: do not hand it out.
		return nil, nil, fmt.Errorf("admin CA: record staff certificate %s: %w", p.Serial(), serr)
	}
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

// StaffCheckTTL is how long the admin listener trusts its last look at a
// staff certificate in the ledger: a revoked certificate is refused at
// most this long after `signetd admin-cert --revoke`, on every replica.
const StaffCheckTTL = 30 * time.Second

// Staff is what the admin listener reads of staff certificates (a *store.DB).
type Staff interface {
	StaffCertificate(ctx context.Context, issuerID, serial string, der []byte) (*store.StaffCertificate, error)
}

// ErrStaffRefused is the refusal of a client certificate that the ledger
// does not hold as an issued, unrevoked staff certificate of its role.
var ErrStaffRefused = errors.New("staff certificate refused")

// Checker decides, on every admin call, whether a client certificate that
// TLS verified against the admin CA is still a staff member's: issued
// through the ledger with this role (a certificate made with the admin CA
// key outside Signet, with any OU, is refused) and not revoked. Answers are
// cached for StaffCheckTTL by the given clock.
type Checker struct {
	staff  Staff
	issuer string
	now    func() time.Time
	mu     sync.Mutex
	seen   map[[32]byte]checked
}

type checked struct {
	err error
	at  time.Time
}

// NewChecker checks staff certificates of admin in staff.
func NewChecker(staff Staff, admin *CA, now func() time.Time) *Checker {
	return &Checker{staff: staff, issuer: admin.signer.ID(), now: now, seen: map[[32]byte]checked{}}
}

// Check returns nil for a live staff certificate of id's role, an error
// wrapping ErrStaffRefused if it is revoked or unknown, or another error if
// the ledger cannot be read (then the call is refused too: fail closed).
func (c *Checker) Check(ctx context.Context, cert *x509.Certificate, id Identity) error {
	key := sha256.Sum256(cert.Raw)
	now := c.now()
	c.mu.Lock()
	got, ok := c.seen[key]
	c.mu.Unlock()
	if ok && now.Sub(got.at) < StaffCheckTTL && now.Sub(got.at) >= 0 {
		return got.err
	}
	serial := cert.SerialNumber.Text(16)
	sc, err := c.staff.StaffCertificate(ctx, c.issuer, serial, cert.Raw)
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = fmt.Errorf("%w: certificate %s was not issued by `signetd admin-cert` (it is not in the signature ledger)", ErrStaffRefused, serial)
	case err != nil:
		return err // not cached: the next call asks again
	case sc.RevokedAt != nil:
		err = fmt.Errorf("%w: certificate %s of %s was revoked at %s", ErrStaffRefused, serial, id.Actor(), sc.RevokedAt.UTC().Format(time.RFC3339))
	case sc.Purpose != "admin-cert:"+id.Role:
		err = fmt.Errorf("%w: certificate %s names role %s, but was issued as %q", ErrStaffRefused, serial, id.Role, sc.Purpose)
	}
	c.mu.Lock()
	if len(c.seen) > 10000 {
		clear(c.seen)
	}
	c.seen[key] = checked{err: err, at: now}
	c.mu.Unlock()
	return err
}

// Revoker withdraws staff certificates (a *store.DB).
type Revoker interface {
	RevokeStaff(ctx context.Context, serial, by, reason string, at time.Time, ev *store.AuditEvent) error
}

// Revoke withdraws the staff certificate serial, with its audit event, in
// one transaction. Every admin listener refuses it within StaffCheckTTL.
func Revoke(ctx context.Context, db Revoker, serial, actor, reason string, now time.Time) error {
	serial = strings.TrimLeft(strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(serial), "0x"), ":", "")), "0")
	if !serialPattern.MatchString(serial) {
		return fmt.Errorf("serial %q is not hex: give the serial `openssl x509 -noout -serial` prints", serial)
	}
	ev := &store.AuditEvent{At: now.UTC(), Actor: actor, Action: "revoke-staff", Outcome: "ok", Serial: serial,
		Details: map[string]any{"reason": reason}}
	err := db.RevokeStaff(ctx, serial, actor, reason, now.UTC(), ev)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no staff certificate with serial %s was issued by this Signet", serial)
	case errors.Is(err, store.ErrStaffRevoked):
		return fmt.Errorf("staff certificate %s was already revoked", serial)
	}
	return err
}

var serialPattern = regexp.MustCompile(`^[0-9a-f]{1,64}$`)
