package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolStat is a snapshot of the connection pool (metrics read it at each
// scrape).
func (db *DB) PoolStat() *pgxpool.Stat { return db.pool.Stat() }

// Backlog is what the background jobs have left to do, as the database
// shows it to every replica alike, leader or not.
type Backlog struct {
	// CRL is the issuer's latest CRL; zero ThisUpdate when there is none.
	CRLNumber            int64
	CRLThisUpdate        time.Time
	CRLNextUpdate        time.Time
	CRLBytes, CRLEntries int64
	// UnsealedAuditEvents counts the events after the chain's head in seal
	// order: what the sealer has yet to chain.
	UnsealedAuditEvents int64
	// LastCheckpoint is when the latest audit checkpoint was signed; zero
	// when there is none.
	LastCheckpoint time.Time
}

// Backlog reads the CRL's and the audit sealer's state in one round trip.
// Each part reads an index's end, except the unsealed count, which scans
// only the events the sealer has not reached.
func (db *DB) Backlog(ctx context.Context, issuerID string) (*Backlog, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var (
		b                      Backlog
		number, bytes, entries *int64
		this, next, checkpoint *time.Time
	)
	err := db.pool.QueryRow(ctx, `
		WITH crl AS (SELECT number, this_update, next_update, octet_length(der)::bigint AS bytes, entries::bigint AS entries
			FROM crls WHERE issuer_id = $1 ORDER BY number DESC LIMIT 1),
		head AS (SELECT e.xid, e.id FROM audit_chain c JOIN audit_events e ON e.id = c.event_id ORDER BY c.seq DESC LIMIT 1)
		SELECT (SELECT number FROM crl), (SELECT this_update FROM crl), (SELECT next_update FROM crl),
			(SELECT bytes FROM crl), (SELECT entries FROM crl),
			(SELECT count(*) FROM audit_events a WHERE NOT EXISTS (SELECT 1 FROM head) OR (a.xid, a.id) > (SELECT h.xid, h.id FROM head h)),
			(SELECT signed_at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1)`, issuerID).
		Scan(&number, &this, &next, &bytes, &entries, &b.UnsealedAuditEvents, &checkpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return &b, nil
	}
	if err != nil {
		return nil, err
	}
	if number != nil {
		b.CRLNumber, b.CRLThisUpdate, b.CRLNextUpdate, b.CRLBytes, b.CRLEntries = *number, *this, *next, *bytes, *entries
	}
	if checkpoint != nil {
		b.LastCheckpoint = *checkpoint
	}
	return &b, nil
}
