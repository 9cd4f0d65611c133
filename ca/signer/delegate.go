package signer

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	"github.com/signet-ca/signet/store"
)

// DelegateStore is what Delegates needs of the database.
type DelegateStore interface {
	Recorder
	CurrentDelegatedKey(ctx context.Context, issuerID, purpose string, now time.Time) (*store.DelegatedKey, error)
	// IssueDelegatedKey stores the key and settles its ledger row as issued,
	// in one transaction.
	IssueDelegatedKey(ctx context.Context, k *store.DelegatedKey, ledgerID int64, at time.Time) error
	SettleSignature(ctx context.Context, id int64, state string, der []byte, outcome string, at time.Time) error
}

// Delegates hands out the CA's delegated signing keys (the OCSP
// responder's, the audit signer's): a P-256 key and a short-lived
// certificate the CA issues through the recorded path. One key per purpose
// serves every replica and survives restarts until two thirds of its life,
// so the CA key signs one certificate per rotation, not one per start. The
// key is stored sealed with AES-256-GCM under a key derived from the
// server's secret.
type Delegates struct {
	s    *Signer
	db   DelegateStore
	aead cipher.AEAD
}

// NewDelegates derives the sealing key from secret (at least 32 bytes).
func NewDelegates(s *Signer, db DelegateStore, secret []byte) (*Delegates, error) {
	if len(secret) < 32 {
		return nil, errors.New("signer: the delegated-key secret must be at least 32 bytes")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "signet delegated keys v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Delegates{s: s, db: db, aead: aead}, nil
}

// Delegate is a delegated key with its certificate.
type Delegate struct {
	Key  *ecdsa.PrivateKey
	Cert *x509.Certificate
	// RotateAt is two thirds into the certificate's life. What the key signs
	// up to then stays verifiable for a third of the life.
	RotateAt time.Time
}

// Signer returns the CA the delegates are certified by.
func (d *Delegates) Signer() *Signer { return d.s }

// Get returns the current delegate of kind at now, issuing one when there is none
// or the stored one is due for rotation. shape sets what is particular to
// the purpose (subject CN and OU, key usage, extensions) on a template
// that already holds the key, validity and issuer-derived subject.
func (d *Delegates) Get(ctx context.Context, kind Kind, now time.Time, validity time.Duration, shape func(*x509.Certificate)) (*Delegate, error) {
	if kind != OCSPResponder && kind != AuditSigner {
		return nil, fmt.Errorf("signer: %s is not a delegated key", kind)
	}
	stored, err := d.db.CurrentDelegatedKey(ctx, d.s.id, string(kind), now)
	if err == nil {
		return d.open(stored)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return d.issue(ctx, kind, validity, shape, now)
}

func (d *Delegates) open(k *store.DelegatedKey) (*Delegate, error) {
	cert, err := x509.ParseCertificate(k.CertDER)
	if err != nil {
		return nil, fmt.Errorf("signer: stored %s certificate: %w", k.Purpose, err)
	}
	ns := d.aead.NonceSize()
	if len(k.KeySealed) < ns {
		return nil, fmt.Errorf("signer: stored %s key is truncated", k.Purpose)
	}
	der, err := d.aead.Open(nil, k.KeySealed[:ns], k.KeySealed[ns:], []byte(k.IssuerID+"/"+k.Purpose+"/"+k.Serial))
	if err != nil {
		return nil, fmt.Errorf("signer: stored %s key does not open with this server's secret (was the subject key changed?): %w", k.Purpose, err)
	}
	key, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("signer: stored %s key does not match its certificate", k.Purpose)
	}
	return &Delegate{Key: key, Cert: cert, RotateAt: k.RotateAt}, nil
}

func (d *Delegates) issue(ctx context.Context, kind Kind, validity time.Duration, shape func(*x509.Certificate), now time.Time) (*Delegate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	issuer := d.s.Issuer()
	// Backdated a little: relying parties whose clocks run behind ours
	// would refuse a certificate that is not yet valid.
	backdate := min(time.Hour, validity/10)
	notBefore := now.Add(-backdate).Truncate(time.Second)
	// Never past the issuer's own notAfter: a chain is valid only while
	// every certificate in it is.
	notAfter := notBefore.Add(validity)
	if notAfter.After(issuer.NotAfter) {
		notAfter = issuer.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("signer: the issuing CA certificate expired at %v", issuer.NotAfter)
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			Country:      issuer.Subject.Country,
			Organization: issuer.Subject.Organization,
		},
		NotBefore: notBefore, NotAfter: notAfter, PublicKey: key.Public(),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	shape(tmpl)
	p, err := d.s.Prepare(kind, tmpl, nil)
	if err != nil {
		return nil, err
	}
	if err := d.s.Reserve(ctx, d.db, p, Reason{Purpose: "rotation", Actor: "signet"}, now); err != nil {
		return nil, err
	}
	cert, err := d.s.Sign(p)
	if err != nil {
		d.undelivered(ctx, p, cert, err, now)
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		d.undelivered(ctx, p, cert, err, now)
		return nil, err
	}
	rotateAt := notBefore.Add(notAfter.Sub(notBefore) * 2 / 3)
	serial := p.Serial()
	nonce := make([]byte, d.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	sealed := d.aead.Seal(nonce, nonce, keyDER, []byte(d.s.id+"/"+string(kind)+"/"+serial))
	row := &store.DelegatedKey{IssuerID: d.s.id, Purpose: string(kind), Serial: serial, CertDER: cert.Raw,
		KeySealed: sealed, NotAfter: notAfter, RotateAt: rotateAt, CreatedAt: now}
	if err := d.db.IssueDelegatedKey(ctx, row, p.id, now); err != nil {
		d.undelivered(ctx, p, cert, err, now)
		return nil, err
	}
	return &Delegate{Key: key, Cert: cert, RotateAt: rotateAt}, nil
}

// undelivered records that a signed certificate was not put to use. If
// even that fails, the open reservation is left to recovery.
func (d *Delegates) undelivered(ctx context.Context, p *Pending, cert *x509.Certificate, cause error, now time.Time) {
	var der []byte
	if cert != nil {
		der = cert.Raw
	}
	state := store.SigUndelivered
	if der == nil {
		// Nothing was signed (the backend failed): still settle the row so
		// that it does not look like a crash.
		state = store.SigAbandoned
	}
	_ = d.db.SettleSignature(context.WithoutCancel(ctx), p.id, state, der, cause.Error(), now)
}

// Issuer returns the certifying CA's certificate.
func (d *Delegates) Issuer() *x509.Certificate { return d.s.Issuer() }

// ID returns the certifying CA's IssuerID.
func (d *Delegates) ID() string { return d.s.id }

// Chain returns the certifying CA's chain, intermediate first.
func (d *Delegates) Chain() []*x509.Certificate { return d.s.chain }
