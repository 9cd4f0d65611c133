package signer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	casapi "github.com/smallstep/certificates/cas/apiv1"
	"go.step.sm/crypto/x509util"

	"github.com/signet-ca/signet/store"
)

// Kind says what a signature is for.
type Kind string

// The kinds of signature a CA key makes. They are the ledger's kind column.
const (
	Subscriber    Kind = "subscriber"
	OCSPResponder Kind = "ocsp_responder"
	AuditSigner   Kind = "audit_signer"
	Staff         Kind = "staff"
	CRL           Kind = "crl"
)

// ErrLint is wrapped by Prepare's error when the linter refused the
// to-be-signed certificate: a bug in a profile or template, never the
// caller's fault, and never signed.
var ErrLint = errors.New("signer: pre-issuance lint refused the certificate")

// Pending is a certificate prepared and linted but not yet signed by the
// CA key.
type Pending struct {
	Kind Kind
	// TBS is the to-be-signed certificate (RawTBSCertificate) that was
	// linted and is recorded; the signed certificate must carry exactly it.
	TBS  []byte
	tmpl *x509.Certificate
	csr  *x509.CertificateRequest
	// id is the ledger row, set once the reservation has committed: Sign
	// refuses without one.
	id int64
	// signed makes a Pending single use: one ledger row, one signature.
	signed bool
}

// Serial is the certificate's serial as stored: lower-case hex.
func (p *Pending) Serial() string { return p.tmpl.SerialNumber.Text(16) }

// LedgerID is the ledger row of a reserved Pending (0 before Reserve).
func (p *Pending) LedgerID() int64 { return p.id }

// NotAfter is the prepared end of validity.
func (p *Pending) NotAfter() time.Time { return p.tmpl.NotAfter }

// Prepare completes tmpl with a fresh serial and the subject key id, builds
// the TBS the CA would sign and lints it (lint.go). tmpl must carry its public key
// and validity; csr (subscriber certificates) is passed to the CAS backend
// as smallstep expects. Prepare touches neither the database nor the CA key.
func (s *Signer) Prepare(kind Kind, tmpl *x509.Certificate, csr *x509.CertificateRequest) (*Pending, error) {
	// A zero notBefore would be filled in by the backend with "now", after
	// the twin was linted with year 1: the signed TBS would differ.
	if tmpl.PublicKey == nil || tmpl.NotBefore.IsZero() || !tmpl.NotAfter.After(tmpl.NotBefore) {
		return nil, fmt.Errorf("signer: a template needs a public key and a validity (notBefore and notAfter)")
	}
	if tmpl.NotAfter.After(s.Issuer().NotAfter) {
		return nil, fmt.Errorf("signer: notAfter %s is past the issuing CA's own notAfter %s", tmpl.NotAfter.Format(time.RFC3339), s.Issuer().NotAfter.Format(time.RFC3339))
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	// Set here, not by x509util in the backend, so that the linted TBS and
	// the signed one carry the same value.
	if tmpl.SubjectKeyId == nil {
		if tmpl.SubjectKeyId, err = x509util.GenerateSubjectKeyID(tmpl.PublicKey); err != nil {
			return nil, err
		}
	}
	tbs, der, err := s.tbsOf(tmpl)
	if err != nil {
		return nil, err
	}
	lint := s.lint.Infrastructure
	if kind == Subscriber {
		lint = s.lint.Subscriber
	}
	if err := lint(der); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLint, err)
	}
	return &Pending{Kind: kind, TBS: tbs, tmpl: tmpl, csr: csr}, nil
}

// Reason says why a signature is made: it goes into the ledger and its
// audit event.
type Reason struct {
	Purpose    string // issue, renew, reissue, rotation, admin-cert, ...
	RequestID  string
	SubjectRef string
	Actor      string
}

// Recorder writes a reservation (the ledger row and its audit event). A
// *store.Tx records inside the caller's transaction; a *store.DB records
// in a transaction of its own.
type Recorder interface {
	ReserveSignature(ctx context.Context, r *store.Signature) error
}

// committer is a Recorder whose writes take effect only when its
// transaction commits (a *store.Tx).
type committer interface {
	OnCommit(func())
}

// Reserve records p as about to be signed.
func (s *Signer) Reserve(ctx context.Context, rec Recorder, p *Pending, why Reason, now time.Time) error {
	sum := sha256.Sum256(p.TBS)
	row := &store.Signature{
		IssuerID: s.id, Kind: string(p.Kind), Serial: p.Serial(), Purpose: why.Purpose,
		RequestID: why.RequestID, SubjectRef: why.SubjectRef, Actor: why.Actor,
		TBS: p.TBS, TBSSHA256: sum[:], ReservedAt: now,
	}
	if err := rec.ReserveSignature(ctx, row); err != nil {
		return err
	}
	// Inside a transaction the reservation exists only once it commits: a
	// rolled-back reservation must leave p unsignable.
	if tx, ok := rec.(committer); ok {
		tx.OnCommit(func() { p.id = row.ID })
	} else {
		p.id = row.ID
	}
	return nil
}

// Sign makes the CA signature over a reserved Pending. Call it after the
// reservation has committed and outside any transaction: an HSM or cloud
// KMS takes milliseconds, and no lock or pooled connection waits on it.
func (s *Signer) Sign(p *Pending) (*x509.Certificate, error) {
	if p.id == 0 {
		return nil, errors.New("signer: refusing to sign a certificate that was not reserved in the ledger")
	}
	if p.signed {
		return nil, fmt.Errorf("signer: certificate %s was already signed: one reservation, one signature", p.Serial())
	}
	p.signed = true
	resp, err := s.cas.CreateCertificate(&casapi.CreateCertificateRequest{
		Template: p.tmpl,
		CSR:      p.csr,
		Lifetime: p.tmpl.NotAfter.Sub(p.tmpl.NotBefore),
	})
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	cert := resp.Certificate
	// Boulder checks the same: what was signed is what was linted and
	// recorded, byte for byte.
	if !bytes.Equal(cert.RawTBSCertificate, p.TBS) {
		return cert, fmt.Errorf("signer: the signed certificate %s differs from the linted and recorded one", p.Serial())
	}
	return cert, nil
}

// SignCRL signs a revocation list through the CAS backend. The caller
// records the CRL's number and inputs in the ledger first (store.Signature
// with CRLNumber) and stores the DER after.
func (s *Signer) SignCRL(reserved int64, rl *x509.RevocationList) ([]byte, error) {
	if reserved == 0 {
		return nil, errors.New("signer: refusing to sign a CRL that was not reserved in the ledger")
	}
	crlCAS, ok := s.cas.(casapi.CertificateAuthorityCRLGenerator)
	if !ok {
		return nil, fmt.Errorf("signer: CAS backend %T cannot sign CRLs", s.cas)
	}
	resp, err := crlCAS.CreateCRL(&casapi.CreateCRLRequest{RevocationList: rl})
	if err != nil {
		return nil, fmt.Errorf("signer: create CRL: %w", err)
	}
	return resp.CRL, nil
}

// NewSerial returns 20 random bytes as a positive integer with the top bit
// clear and the first byte non-zero, so the DER INTEGER is exactly 20
// octets (RFC 5280 4.1.2.2 allows at most 20). It is the one serial
// generator: certificates of every kind take theirs from here.
func NewSerial() (*big.Int, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	if b[0] == 0 {
		b[0] = 0x01
	}
	return new(big.Int).SetBytes(b[:]), nil
}
