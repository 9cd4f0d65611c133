package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// StoredResponse is the first answer to a request id.
type StoredResponse struct {
	Method      string
	RequestHash []byte
	Response    []byte
}

// StoredResponse returns the recorded answer for requestID, or ErrNotFound.
func (db *DB) StoredResponse(ctx context.Context, requestID string) (*StoredResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	return scanStoredResponse(db.pool.QueryRow(ctx, storedResponseQuery, requestID))
}

// StoredResponse is the same read inside a transaction, after the caller
// took the lock that serializes competing requests.
func (t *Tx) StoredResponse(ctx context.Context, requestID string) (*StoredResponse, error) {
	return scanStoredResponse(t.tx.QueryRow(ctx, storedResponseQuery, requestID))
}

const storedResponseQuery = `SELECT method, request_hash, response FROM idempotency_keys WHERE request_id = $1`

func scanStoredResponse(row pgx.Row) (*StoredResponse, error) {
	var r StoredResponse
	if err := row.Scan(&r.Method, &r.RequestHash, &r.Response); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return &r, nil
}

// SaveResponse records the answer to requestID in the same transaction as
// the change it describes (DESIGN.md invariant 6).
func (t *Tx) SaveResponse(ctx context.Context, requestID string, r *StoredResponse) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO idempotency_keys (request_id, method, request_hash, response)
		VALUES ($1, $2, $3, $4)`, requestID, r.Method, r.RequestHash, r.Response)
	return uniqueViolation(err)
}

// LockKey takes a transaction-scoped advisory lock on key, serializing
// every change to one (subject, profile) or one request id.
func (t *Tx) LockKey(ctx context.Context, key string) error {
	_, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key)
	return err
}

// PurgeRequestIDs deletes up to limit stored answers recorded before
// before, oldest first, and returns how many it deleted. SKIP LOCKED lets
// a purge pass over a row a retry is reading.
func (t *Tx) PurgeRequestIDs(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE request_id IN (
		SELECT request_id FROM idempotency_keys WHERE created_at < $1
		ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
