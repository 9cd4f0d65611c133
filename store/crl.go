package store

import (
	"context"
	"crypto/sha256"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// CRL is one signed certificate revocation list as stored in the crls
// table.
type CRL struct {
	IssuerID   string
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	DER        []byte
	Entries    int
	CreatedAt  time.Time
}

// CRLEntry is one certificate that belongs on its issuer's CRL.
type CRLEntry struct {
	Serial    string // lower-case hex, as in certificates.serial
	RevokedAt time.Time
	// Status is the stored status, revoked or suspended, and Reason the
	// recorded RFC 5280 reason; what a CRL lists for them is
	// crlreason.ForStatus's to say.
	Status string
	Reason *int
}

// crlNumberLockPrefix starts the advisory lock key that serializes CRL
// numbers; advisory lock keys share one space (see leader.go).
const crlNumberLockPrefix = "crl-number:"

// LockCRLIssuer takes the transaction-scoped advisory lock that serializes
// CRL number allocation for one issuer. Two generators (on one replica or
// on two) queue here, and the second one reads the first one's row once
// it is committed, so numbers never repeat or go down (RFC 5280 5.2.3).
func (t *Tx) LockCRLIssuer(ctx context.Context, issuerID string) error {
	_, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, crlNumberLockPrefix+issuerID)
	return err
}

// NextCRLNumber returns one more than the highest number the issuer has
// stored or reserved in the signature ledger (1 for the first CRL), so a
// number whose CRL failed after its reservation is never reused, and the
// thisUpdate of the latest stored CRL (zero if there is none). Call it
// after LockCRLIssuer.
func (t *Tx) NextCRLNumber(ctx context.Context, issuerID string) (next int64, lastThisUpdate time.Time, err error) {
	// ORDER BY number DESC LIMIT 1 is max(number), read backwards on the
	// primary key, and gives the row's thisUpdate in the same read.
	var stored *int64
	var last *time.Time
	err = t.tx.QueryRow(ctx, `SELECT
		(SELECT number FROM crls WHERE issuer_id = $1 ORDER BY number DESC LIMIT 1),
		(SELECT this_update FROM crls WHERE issuer_id = $1 ORDER BY number DESC LIMIT 1),
		coalesce((SELECT max(crl_number) FROM signatures WHERE issuer_id = $1 AND crl_number IS NOT NULL), 0)`,
		issuerID).Scan(&stored, &last, &next)
	if err != nil {
		return 0, time.Time{}, err
	}
	if stored != nil && *stored > next {
		next = *stored
	}
	if last != nil {
		lastThisUpdate = *last
	}
	return next + 1, lastThisUpdate, nil
}

// crlEntriesQuery selects what a complete CRL must list: every revoked or
// suspended certificate of the issuer that has not expired. An entry may
// leave the CRL after the certificate's notAfter (RFC 5280 5.1.2.6).
const crlEntriesQuery = `SELECT serial, revoked_at, status, revocation_reason
	FROM certificates
	WHERE issuer_id = $1 AND status IN ('revoked', 'suspended') AND not_after > $2`

// CRLEntries streams the CRL entries of an issuer at time now to fn, row by
// row as they arrive, so that a CRL with many entries is never held twice
// in memory. An error from fn stops the read and is returned.
func (t *Tx) CRLEntries(ctx context.Context, issuerID string, now time.Time, fn func(CRLEntry) error) error {
	rows, err := t.tx.Query(ctx, crlEntriesQuery, issuerID, now)
	if err != nil {
		return err
	}
	return scanCRLEntries(rows, fn)
}

// CRLEntries is the same read outside a transaction, used to check whether
// the latest stored CRL is still current.
func (db *DB) CRLEntries(ctx context.Context, issuerID string, now time.Time, fn func(CRLEntry) error) error {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := db.pool.Query(ctx, crlEntriesQuery, issuerID, now)
	if err != nil {
		return err
	}
	return scanCRLEntries(rows, fn)
}

func scanCRLEntries(rows pgx.Rows, fn func(CRLEntry) error) error {
	defer rows.Close()
	for rows.Next() {
		var e CRLEntry
		var reason *int16
		if err := rows.Scan(&e.Serial, &e.RevokedAt, &e.Status, &reason); err != nil {
			return err
		}
		if reason != nil {
			r := int(*reason)
			e.Reason = &r
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// InsertCRL stores a signed CRL with its SHA-256, which outlives the DER
// (PruneCRLs). A second CRL with the same number for the same issuer fails
// on the primary key.
func (t *Tx) InsertCRL(ctx context.Context, c *CRL) error {
	sum := sha256.Sum256(c.DER)
	return t.tx.QueryRow(ctx, `INSERT INTO crls (issuer_id, number, this_update, next_update, der, der_sha256, entries)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
		c.IssuerID, c.Number, c.ThisUpdate, c.NextUpdate, c.DER, sum[:], c.Entries).Scan(&c.CreatedAt)
}

// PruneCRLs drops the DER of up to limit of the issuer's CRLs whose
// nextUpdate is before cutoff, oldest first, never the latest, and returns
// the numbers it pruned. Their number, times, entry count and SHA-256 stay
// (migration 0008).
func (t *Tx) PruneCRLs(ctx context.Context, issuerID string, cutoff, now time.Time, limit int) ([]int64, error) {
	rows, err := t.tx.Query(ctx, `UPDATE crls SET der = NULL, pruned_at = $3
		WHERE (issuer_id, number) IN (
			SELECT issuer_id, number FROM crls
			WHERE issuer_id = $1 AND der IS NOT NULL AND next_update < $2
			  AND number < (SELECT max(number) FROM crls WHERE issuer_id = $1)
			ORDER BY number LIMIT $4)
		RETURNING number`, issuerID, cutoff, now, limit)
	if err != nil {
		return nil, err
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	slices.Sort(numbers)
	return numbers, err
}

// LatestCRL returns the issuer's CRL with the highest number, or
// ErrNotFound if none was generated yet.
func (db *DB) LatestCRL(ctx context.Context, issuerID string) (*CRL, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var c CRL
	err := db.pool.QueryRow(ctx, `SELECT issuer_id, number, this_update, next_update, der, entries, created_at
		FROM crls WHERE issuer_id = $1 ORDER BY number DESC LIMIT 1`, issuerID).
		Scan(&c.IssuerID, &c.Number, &c.ThisUpdate, &c.NextUpdate, &c.DER, &c.Entries, &c.CreatedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &c, nil
}

// LatestCRLNumber returns the issuer's highest CRL number, or ErrNotFound.
// It reads one index entry, so that an HTTP cache can ask often whether
// it still holds the latest CRL without fetching megabytes of DER.
func (db *DB) LatestCRLNumber(ctx context.Context, issuerID string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT number FROM crls WHERE issuer_id = $1
		ORDER BY number DESC LIMIT 1`, issuerID).Scan(&n)
	if err != nil {
		return 0, notFound(err)
	}
	return n, nil
}
