package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Certificate is one row of the certificates table.
type Certificate struct {
	Serial           string // lower-case hex
	SubjectRef       string
	Profile          string
	Status           string // active, suspended, revoked, expired
	SubjectDN        string
	NotBefore        time.Time
	NotAfter         time.Time
	SPKISHA256       []byte
	KeyType          string
	DER              []byte
	IssuerID         string
	Operation        string // issue, reissue, renew
	Replaces         string
	ReplacedBy       string
	RevokedAt        *time.Time
	RevocationReason *int
	RequestID        string
	PhoneMasked      string
	AccountMasked    string
	Bank             string
	CreatedAt        time.Time
}

const certificateColumns = `serial, subject_ref, profile, status, subject_dn, not_before, not_after,
	spki_sha256, key_type, der, issuer_id, operation, coalesce(replaces, ''), coalesce(replaced_by, ''),
	revoked_at, revocation_reason, request_id, coalesce(phone_masked, ''), coalesce(account_masked, ''),
	coalesce(bank, ''), created_at`

func scanCertificate(row pgx.Row) (*Certificate, error) {
	var c Certificate
	var reason *int16
	err := row.Scan(&c.Serial, &c.SubjectRef, &c.Profile, &c.Status, &c.SubjectDN, &c.NotBefore, &c.NotAfter,
		&c.SPKISHA256, &c.KeyType, &c.DER, &c.IssuerID, &c.Operation, &c.Replaces, &c.ReplacedBy,
		&c.RevokedAt, &reason, &c.RequestID, &c.PhoneMasked, &c.AccountMasked, &c.Bank, &c.CreatedAt)
	if err != nil {
		return nil, notFound(err)
	}
	if reason != nil {
		r := int(*reason)
		c.RevocationReason = &r
	}
	return &c, nil
}

// CertificateBySerial reads one certificate and locks its row for the rest
// of the transaction, so that two revocations cannot race.
func (t *Tx) CertificateBySerial(ctx context.Context, serial string) (*Certificate, error) {
	return scanCertificate(t.tx.QueryRow(ctx,
		`SELECT `+certificateColumns+` FROM certificates WHERE serial = $1 FOR UPDATE`, serial))
}

// LiveCertificate returns the active or suspended certificate of a subject
// for a profile, locked, or ErrNotFound.
func (t *Tx) LiveCertificate(ctx context.Context, subjectRef, profile string) (*Certificate, error) {
	return scanCertificate(t.tx.QueryRow(ctx,
		`SELECT `+certificateColumns+` FROM certificates
		 WHERE subject_ref = $1 AND profile = $2 AND status IN ('active', 'suspended') FOR UPDATE`,
		subjectRef, profile))
}

// CertificateBySerial reads one certificate outside any transaction.
func (db *DB) CertificateBySerial(ctx context.Context, serial string) (*Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	return scanCertificate(db.pool.QueryRow(ctx,
		`SELECT `+certificateColumns+` FROM certificates WHERE serial = $1`, serial))
}

// KeyStatus tells whether a public key was ever certified and whether it
// was reported compromised (DESIGN.md invariant 5).
func (t *Tx) KeyStatus(ctx context.Context, spki []byte) (certified, compromised bool, err error) {
	err = t.tx.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM certificates WHERE spki_sha256 = $1),
		EXISTS (SELECT 1 FROM compromised_keys WHERE spki_sha256 = $1)`, spki).Scan(&certified, &compromised)
	return certified, compromised, err
}

const insertCertificate = `INSERT INTO certificates (serial, subject_ref, profile, status, subject_dn,
	not_before, not_after, spki_sha256, key_type, der, issuer_id, operation, replaces, request_id,
	phone_masked, account_masked, bank, created_at, updated_at)
	VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8, $9, $10, $11, nullif($12, ''), $13,
	nullif($14, ''), nullif($15, ''), nullif($16, ''), $17, $17)`

func certificateArgs(c *Certificate) []any {
	return []any{c.Serial, c.SubjectRef, c.Profile, c.SubjectDN, c.NotBefore, c.NotAfter, c.SPKISHA256, c.KeyType,
		c.DER, c.IssuerID, c.Operation, c.Replaces, c.RequestID, c.PhoneMasked, c.AccountMasked, c.Bank,
		c.CreatedAt}
}

// InsertCertificate records a newly signed certificate.
func (t *Tx) InsertCertificate(ctx context.Context, c *Certificate) error {
	_, err := t.tx.Exec(ctx, insertCertificate, certificateArgs(c)...)
	if err != nil {
		return uniqueViolation(err)
	}
	c.Status = "active"
	return nil
}

// Revoke marks a certificate revoked at the given time; replacedBy names
// its successor when the reason is superseded.
func (t *Tx) Revoke(ctx context.Context, serial string, at time.Time, reason int, replacedBy string) error {
	_, err := t.tx.Exec(ctx, `UPDATE certificates SET status = 'revoked', revoked_at = $2,
		revocation_reason = $3, replaced_by = nullif($4, ''), updated_at = $2 WHERE serial = $1`,
		serial, at, reason, replacedBy)
	if err != nil || t.reminders == nil {
		return err
	}
	// A revoked certificate is owed no reminder: void them with it.
	return t.reminders.Void(ctx, t.tx, serial)
}

// BlockKey records that a key was reported compromised so that it can
// never be certified again.
func (t *Tx) BlockKey(ctx context.Context, spki []byte, serial string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO compromised_keys (spki_sha256, serial, reported_at)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, spki, serial, at)
	return err
}

// ExpireLive marks the subject's live certificates whose notAfter has
// passed as expired, returning their serials. An expired certificate must
// not block a new issue through the one-live-certificate index.
func (t *Tx) ExpireLive(ctx context.Context, subjectRef, profile string, now time.Time) ([]string, error) {
	rows, err := t.tx.Query(ctx, `UPDATE certificates SET status = 'expired', updated_at = $3
		WHERE subject_ref = $1 AND profile = $2 AND status = 'active' AND not_after < $3
		RETURNING serial`, subjectRef, profile, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ListCertificates returns a subject's certificates, newest first.
func (db *DB) ListCertificates(ctx context.Context, subjectRef string) ([]*Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+certificateColumns+` FROM certificates
		WHERE subject_ref = $1 ORDER BY created_at DESC, serial`, subjectRef)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Certificate
	for rows.Next() {
		c, err := scanCertificate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpsertIssuer records an issuing CA certificate so that certificates can
// reference it.
func (db *DB) UpsertIssuer(ctx context.Context, id, subject string, der []byte) error {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO issuers (id, subject, der) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, id, subject, der)
	return err
}
