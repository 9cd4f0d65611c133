package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrRegisteredElsewhere is a race lost on registrations_one_active_per_cert:
// another request registered the same certificate first.
var ErrRegisteredElsewhere = errors.New("store: certificate already has an active registration")

// Registration is one other CA's certificate registered for one person.
type Registration struct {
	ID          string
	SubjectRef  string
	CertSHA256  []byte
	DER         []byte
	Serial      string
	IssuerDN    string
	IssuerSKI   []byte
	TrustCA     string
	SubjectDN   string
	NotBefore   time.Time
	NotAfter    time.Time
	Status      string // active, unregistered, revoked, expired, replaced
	Reason      string
	RevokedAt   *time.Time
	CheckedAt   time.Time
	CheckStatus string // good, revoked, unknown
	CheckSource string // ocsp, crl
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const registrationColumns = `id::text, subject_ref, cert_sha256, der, serial, issuer_dn, issuer_ski, trust_ca, subject_dn,
	not_before, not_after, status, coalesce(status_reason, ''), revoked_at, last_checked_at, last_check_status,
	last_check_source, created_at, updated_at`

func scanRegistration(row pgx.Row) (*Registration, error) {
	var r Registration
	err := row.Scan(&r.ID, &r.SubjectRef, &r.CertSHA256, &r.DER, &r.Serial, &r.IssuerDN, &r.IssuerSKI, &r.TrustCA, &r.SubjectDN,
		&r.NotBefore, &r.NotAfter, &r.Status, &r.Reason, &r.RevokedAt, &r.CheckedAt, &r.CheckStatus,
		&r.CheckSource, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &r, nil
}

// InsertRegistration stores a new active registration. A concurrent
// registration of the same certificate is ErrRegisteredElsewhere.
func (t *Tx) InsertRegistration(ctx context.Context, r *Registration) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO registrations (id, subject_ref, cert_sha256, der, serial, issuer_dn, issuer_ski,
		trust_ca, subject_dn, not_before, not_after, status, status_reason, revoked_at, last_checked_at, last_check_status,
		last_check_source, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, nullif($13, ''), $14, $15, $16, $17, $18, $19)`,
		r.ID, r.SubjectRef, r.CertSHA256, r.DER, r.Serial, r.IssuerDN, r.IssuerSKI, r.TrustCA, r.SubjectDN,
		r.NotBefore, r.NotAfter, r.Status, r.Reason, r.RevokedAt, r.CheckedAt, r.CheckStatus, r.CheckSource, r.CreatedAt, r.UpdatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "registrations_one_active_per_cert" {
		return ErrRegisteredElsewhere
	}
	return err
}

// ActiveRegistrationForUpdate reads and locks the active registration of a
// certificate, so that an unregistration and a recheck cannot both change it.
func (t *Tx) ActiveRegistrationForUpdate(ctx context.Context, certSHA256 []byte) (*Registration, error) {
	return scanRegistration(t.tx.QueryRow(ctx, `SELECT `+registrationColumns+` FROM registrations
		WHERE cert_sha256 = $1 AND status = 'active' FOR UPDATE`, certSHA256))
}

// RegistrationForUpdate reads and locks a registration by id.
func (t *Tx) RegistrationForUpdate(ctx context.Context, id string) (*Registration, error) {
	return scanRegistration(t.tx.QueryRow(ctx, `SELECT `+registrationColumns+` FROM registrations WHERE id = $1 FOR UPDATE`, id))
}

// LatestRegistration reads a certificate's active registration, or else its
// newest one: a sign-in that is refused says why (unregistered, revoked, ...).
func (db *DB) LatestRegistration(ctx context.Context, certSHA256 []byte) (*Registration, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	return scanRegistration(db.pool.QueryRow(ctx, `SELECT `+registrationColumns+` FROM registrations
		WHERE cert_sha256 = $1 ORDER BY status = 'active' DESC, created_at DESC, updated_at DESC LIMIT 1`, certSHA256))
}

// SetRegistrationStatus ends (or re-dates) a registration: status and reason,
// the CA's revocation time if any, and the last status check.
func (t *Tx) SetRegistrationStatus(ctx context.Context, r *Registration) error {
	_, err := t.tx.Exec(ctx, `UPDATE registrations SET status = $2, status_reason = nullif($3, ''), revoked_at = $4,
		last_checked_at = $5, last_check_status = $6, last_check_source = $7, updated_at = $8 WHERE id = $1`,
		r.ID, r.Status, r.Reason, r.RevokedAt, r.CheckedAt, r.CheckStatus, r.CheckSource, r.UpdatedAt)
	return err
}

// RegistrationsOf lists a person's registrations, newest first, at most limit.
func (db *DB) RegistrationsOf(ctx context.Context, subjectRef string, limit int) ([]*Registration, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+registrationColumns+` FROM registrations
		WHERE subject_ref = $1 ORDER BY created_at DESC LIMIT $2`, subjectRef, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Registration, error) { return scanRegistration(r) })
}

// RegistrationsToCheck returns up to limit active registrations last checked
// before cutoff, least recently checked first.
func (db *DB) RegistrationsToCheck(ctx context.Context, cutoff time.Time, limit int) ([]*Registration, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+registrationColumns+` FROM registrations
		WHERE status = 'active' AND last_checked_at < $1 ORDER BY last_checked_at, id LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Registration, error) { return scanRegistration(r) })
}

// CertificatesOfSubject lists the certificates Signet issued to a person,
// newest first, at most limit: they count as registered for their holder.
func (db *DB) CertificatesOfSubject(ctx context.Context, subjectRef string, limit int) ([]*Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+certificateColumns+` FROM certificates
		WHERE subject_ref = $1 ORDER BY created_at DESC LIMIT $2`, subjectRef, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Certificate, error) { return scanCertificate(r) })
}

// registrationRecheckLock is the session-level lock of the one replica that
// re-checks registered certificates' status at their CAs.
const registrationRecheckLock = "registration-recheck:"

// TryRegistrationRecheck tries to become the one replica that re-checks
// registrations, like TryHourlyJobs: nil, nil when another session holds it.
func (db *DB) TryRegistrationRecheck(ctx context.Context, check time.Duration) (*LeaderLock, error) {
	return db.tryLeader(ctx, registrationRecheckLock, check)
}
