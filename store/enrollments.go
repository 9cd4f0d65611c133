package store

import (
	"context"
	"time"
)

// Enrollment is a nonce handed to a client for one operation.
type Enrollment struct {
	ID        string
	Nonce     string
	Purpose   string
	Profile   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// CreateEnrollment stores a new enrollment.
func (db *DB) CreateEnrollment(ctx context.Context, e *Enrollment) error {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO enrollments (id, nonce, purpose, profile, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.ID, e.Nonce, e.Purpose, e.Profile, e.CreatedAt, e.ExpiresAt)
	return err
}

// Enrollment reads and locks an enrollment so that two calls cannot both
// consume it.
func (t *Tx) Enrollment(ctx context.Context, id string) (*Enrollment, error) {
	var e Enrollment
	err := t.tx.QueryRow(ctx, `SELECT id::text, nonce, purpose, profile, created_at, expires_at, used_at
		FROM enrollments WHERE id = $1 FOR UPDATE`, id).
		Scan(&e.ID, &e.Nonce, &e.Purpose, &e.Profile, &e.CreatedAt, &e.ExpiresAt, &e.UsedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &e, nil
}

// Enrollment reads an enrollment without locking it, for checks made
// before a transaction starts (the evidence must carry its nonce).
func (db *DB) Enrollment(ctx context.Context, id string) (*Enrollment, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var e Enrollment
	err := db.pool.QueryRow(ctx, `SELECT id::text, nonce, purpose, profile, created_at, expires_at, used_at
		FROM enrollments WHERE id = $1`, id).
		Scan(&e.ID, &e.Nonce, &e.Purpose, &e.Profile, &e.CreatedAt, &e.ExpiresAt, &e.UsedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &e, nil
}

// UseEnrollmentOnce marks an unused enrollment consumed; used reports that
// it had been consumed already.
func (t *Tx) UseEnrollmentOnce(ctx context.Context, id string, at time.Time) (used bool, err error) {
	tag, err := t.tx.Exec(ctx, `UPDATE enrollments SET used_at = $2 WHERE id = $1 AND used_at IS NULL`, id, at)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 0, nil
}

// UseEvidence records evidence ids ("<issuer>/<jti>") as spent; a second
// use of any of them returns ErrEvidenceUsed (DESIGN.md invariant 4).
func (t *Tx) UseEvidence(ctx context.Context, enrollmentID string, at time.Time, ids map[string]string) error {
	for id, kind := range ids {
		_, err := t.tx.Exec(ctx, `INSERT INTO used_evidence (id, kind, enrollment_id, used_at)
			VALUES ($1, $2, nullif($3, '')::uuid, $4)`, id, kind, enrollmentID, at)
		if err != nil {
			return uniqueViolation(err)
		}
	}
	return nil
}

// EvidenceUsed reports whether any of the ids was spent before.
func (t *Tx) EvidenceUsed(ctx context.Context, ids []string) (bool, error) {
	var used bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM used_evidence WHERE id = ANY($1))`, ids).Scan(&used)
	return used, err
}

// PurgeSpent deletes up to limit spent evidence ids used before cutoff,
// then up to limit enrollments that expired before cutoff and that no
// remaining evidence row names, and returns how many of each it deleted.
// Without it both tables grow by a few rows with every operation, forever;
// the caller picks a cutoff at which no evidence or proof is fresh enough
// to be accepted again (ca.SpentRetention).
func (t *Tx) PurgeSpent(ctx context.Context, cutoff time.Time, limit int) (evidence, enrollments int64, err error) {
	ev, err := t.tx.Exec(ctx, `DELETE FROM used_evidence WHERE id IN (
		SELECT id FROM used_evidence WHERE used_at < $1 LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, 0, err
	}
	en, err := t.tx.Exec(ctx, `DELETE FROM enrollments WHERE id IN (
		SELECT e.id FROM enrollments e WHERE e.expires_at < $1
		  AND NOT EXISTS (SELECT 1 FROM used_evidence u WHERE u.enrollment_id = e.id)
		LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, 0, err
	}
	return ev.RowsAffected(), en.RowsAffected(), nil
}
