package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// The audit hash chain (migration 0004): the SQL behind package audit's
// sealer and verifier. The chain's rules (what is hashed, how, and why the
// sealer may seal what it seals) are documented there and in the
// migration; this file only reads and writes rows.

// AuditColumns names every column of audit_events, in the order in which
// the hash chain covers them. AuditRow.Values follows this order. A
// migration that adds a column to audit_events must add it here (and to
// auditColumnsSQL), or TestAuditColumns_CoverTable fails: an uncovered
// column could be edited without breaking the chain.
var AuditColumns = []string{
	"id", "at", "actor", "action", "outcome", "code", "reason",
	"serial", "subject_ref", "profile", "request_id", "details", "xid",
}

// auditColumnsSQL is each column of AuditColumns as canonical text, a
// form that does not depend on session settings (TimeZone, DateStyle,
// extra_float_digits):
//   - id and xid in decimal;
//   - at in UTC with microseconds, 2006-01-02T15:04:05.000000Z, with " BC"
//     appended before year 1, and infinity or -infinity as such;
//   - details as PostgreSQL's jsonb output, which is canonical (keys
//     sorted and unique, fixed whitespace);
//   - text columns as stored (UTF-8); NULL stays NULL.
const auditColumnsSQL = `e.id::text,
	CASE WHEN NOT isfinite(e.at) THEN e.at::text
	     ELSE to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') ||
	          CASE WHEN e.at < '0001-01-01 00:00:00+00' THEN ' BC' ELSE '' END END,
	e.actor, e.action, e.outcome, e.code, e.reason, e.serial, e.subject_ref, e.profile, e.request_id,
	e.details::text, e.xid::text`

// AuditRow is one audit_events row as the hash chain sees it.
type AuditRow struct {
	ID int64
	// Xid is the inserting transaction's id (xid8), in decimal.
	Xid string
	// Values holds each column of AuditColumns as canonical text; nil is
	// SQL NULL.
	Values [][]byte
}

// AuditCursor is a position in seal order: (xid, id). The zero value is
// before every event.
type AuditCursor struct {
	Xid string // decimal xid8; "" means 0
	ID  int64
}

func (c AuditCursor) xid() string {
	if c.Xid == "" {
		return "0"
	}
	return c.Xid
}

// Cursor returns the row's position in seal order.
func (r *AuditRow) Cursor() AuditCursor { return AuditCursor{Xid: r.Xid, ID: r.ID} }

// AuditLink is one audit_chain row, with its event when the event row
// still exists (Event is nil when it was deleted).
type AuditLink struct {
	Seq     int64
	EventID int64
	Hash    []byte
	Event   *AuditRow
}

// AuditCheckpoint is one signed checkpoint of the chain.
type AuditCheckpoint struct {
	Seq       int64
	Hash      []byte
	SignedAt  time.Time
	Signature []byte
	// SignerDER is the signer's certificate followed by its issuing chain,
	// concatenated DER (x509.ParseCertificates reads it).
	SignerDER []byte
}

func newAuditRow() (*AuditRow, []any) {
	r := &AuditRow{Values: make([][]byte, len(AuditColumns))}
	dst := make([]any, len(AuditColumns))
	for i := range r.Values {
		dst[i] = &r.Values[i]
	}
	return r, dst
}

// fill sets ID and Xid from the scanned canonical text.
func (r *AuditRow) fill() error {
	id, err := strconv.ParseInt(string(r.Values[0]), 10, 64)
	if err != nil {
		return fmt.Errorf("store: audit event id %q: %w", r.Values[0], err)
	}
	r.ID = id
	r.Xid = string(r.Values[len(r.Values)-1])
	return nil
}

// auditSealLock is the advisory lock key that serializes seal
// transactions; advisory lock keys share one space (see leader.go).
const auditSealLock = "audit-seal:"

// LockAuditSeal serializes seal transactions (on any replica) until the
// transaction ends, so that two sealers never extend the chain from the
// same head. Call it first in the transaction: the reads after it, each in
// a fresh READ COMMITTED snapshot, see the previous sealer's commit.
func (t *Tx) LockAuditSeal(ctx context.Context) error {
	_, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, auditSealLock)
	return err
}

// ErrAuditHeadMissing means the chain's last entry points at an event row
// that no longer exists: the log was tampered with, and sealing stops.
var ErrAuditHeadMissing = errors.New("store: the audit chain's last event row is missing")

// AuditChainHead returns the chain's last entry, with its event, or nil
// when the chain is empty.
func (t *Tx) AuditChainHead(ctx context.Context) (*AuditLink, error) {
	return scanHead(t.tx.QueryRow(ctx, auditHeadQuery))
}

// AuditChainHead is the same read outside a transaction.
func (db *DB) AuditChainHead(ctx context.Context) (*AuditLink, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	return scanHead(db.pool.QueryRow(ctx, auditHeadQuery))
}

const auditHeadQuery = `SELECT c.seq, c.event_id, c.hash, e.id IS NOT NULL, ` + auditColumnsSQL + `
	FROM (SELECT * FROM audit_chain ORDER BY seq DESC LIMIT 1) c
	LEFT JOIN audit_events e ON e.id = c.event_id`

func scanHead(row pgx.Row) (*AuditLink, error) {
	l, err := scanLink(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return l, err
}

func scanLink(row pgx.Row) (*AuditLink, error) {
	var (
		l      AuditLink
		exists bool
	)
	r, dst := newAuditRow()
	if err := row.Scan(append([]any{&l.Seq, &l.EventID, &l.Hash, &exists}, dst...)...); err != nil {
		return nil, err
	}
	if exists {
		if err := r.fill(); err != nil {
			return nil, err
		}
		l.Event = r
	}
	return &l, nil
}

// AuditXidsBehind reports whether the cluster's transaction id counter is
// not past the cursor's xid. That never happens in the cluster that
// inserted the event; it does after a logical restore into another
// cluster, where new events would sort before the sealed ones.
func (t *Tx) AuditXidsBehind(ctx context.Context, c AuditCursor) (bool, error) {
	var behind bool
	err := t.tx.QueryRow(ctx, `SELECT $1::text::xid8 >= pg_snapshot_xmax(pg_current_snapshot())`, c.xid()).Scan(&behind)
	return behind, err
}

// SealableAuditEvents passes to fn, in seal order, up to limit events after
// the cursor whose inserting transactions had all ended when the
// statement's snapshot was taken: xid < pg_snapshot_xmin(pg_current_snapshot()).
// Migration 0004 explains why no event can appear before such an event
// later. The snapshot of the one statement is the one that both filters
// and reads the rows, whatever the transaction's isolation level.
func (t *Tx) SealableAuditEvents(ctx context.Context, after AuditCursor, limit int, fn func(*AuditRow) error) error {
	rows, err := t.tx.Query(ctx, `SELECT `+auditColumnsSQL+` FROM audit_events e
		WHERE (e.xid, e.id) > ($1::text::xid8, $2) AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY e.xid, e.id LIMIT $3`, after.xid(), after.ID, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, dst := newAuditRow()
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		if err := r.fill(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AppendAuditChain inserts chain entries (Seq, EventID and Hash of each
// link) in one statement.
func (t *Tx) AppendAuditChain(ctx context.Context, links []AuditLink) error {
	if len(links) == 0 {
		return nil
	}
	seqs := make([]int64, len(links))
	ids := make([]int64, len(links))
	hashes := make([][]byte, len(links))
	for i, l := range links {
		seqs[i], ids[i], hashes[i] = l.Seq, l.EventID, l.Hash
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO audit_chain (seq, event_id, hash)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])`, seqs, ids, hashes)
	return err
}

const auditCheckpointColumns = `seq, hash, signed_at, signature, signer_der`

func scanCheckpoint(row pgx.Row) (*AuditCheckpoint, error) {
	var c AuditCheckpoint
	if err := row.Scan(&c.Seq, &c.Hash, &c.SignedAt, &c.Signature, &c.SignerDER); err != nil {
		return nil, err
	}
	return &c, nil
}

// LatestAuditCheckpoint returns the checkpoint with the highest seq, or
// nil when there is none.
func (t *Tx) LatestAuditCheckpoint(ctx context.Context) (*AuditCheckpoint, error) {
	c, err := scanCheckpoint(t.tx.QueryRow(ctx, `SELECT `+auditCheckpointColumns+`
		FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

// InsertAuditCheckpoint stores a signed checkpoint.
func (t *Tx) InsertAuditCheckpoint(ctx context.Context, c *AuditCheckpoint) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO audit_checkpoints (`+auditCheckpointColumns+`)
		VALUES ($1, $2, $3, $4, $5)`, c.Seq, c.Hash, c.SignedAt, c.Signature, c.SignerDER)
	return err
}

// AuditChainEntry returns the chain entry at seq with its event, or
// ErrNotFound.
func (db *DB) AuditChainEntry(ctx context.Context, seq int64) (*AuditLink, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	l, err := scanLink(db.pool.QueryRow(ctx, `SELECT c.seq, c.event_id, c.hash, e.id IS NOT NULL, `+auditColumnsSQL+`
		FROM audit_chain c LEFT JOIN audit_events e ON e.id = c.event_id WHERE c.seq = $1`, seq))
	if err != nil {
		return nil, notFound(err)
	}
	return l, nil
}

// auditPage is how many rows each query of a streamed read returns. Every
// page is its own query under the store's timeout, so that a read of
// millions of rows holds neither one long snapshot nor the rows in memory.
const auditPage = 5000

// AuditChain passes the chain entries with fromSeq ≤ seq ≤ toSeq to fn in
// seq order, each with its event (nil if the row is gone). A missing seq
// is simply absent. An error from fn stops the read and is returned.
func (db *DB) AuditChain(ctx context.Context, fromSeq, toSeq int64, fn func(*AuditLink) error) error {
	after := fromSeq - 1
	for {
		n, last, err := db.auditChainPage(ctx, after, toSeq, fn)
		if err != nil || n < auditPage {
			return err
		}
		after = last
	}
}

func (db *DB) auditChainPage(ctx context.Context, after, toSeq int64, fn func(*AuditLink) error) (n int, last int64, err error) {
	qctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := db.pool.Query(qctx, `SELECT c.seq, c.event_id, c.hash, e.id IS NOT NULL, `+auditColumnsSQL+`
		FROM audit_chain c LEFT JOIN audit_events e ON e.id = c.event_id
		WHERE c.seq > $1 AND c.seq <= $2 ORDER BY c.seq LIMIT $3`, after, toSeq, auditPage)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return n, last, err
		}
		n++
		last = l.Seq
		if err := fn(l); err != nil {
			return n, last, err
		}
	}
	return n, last, rows.Err()
}

// AuditCheckpointPage returns up to limit checkpoints with
// afterSeq < seq ≤ toSeq, in seq order.
func (db *DB) AuditCheckpointPage(ctx context.Context, afterSeq, toSeq int64, limit int) ([]*AuditCheckpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT `+auditCheckpointColumns+` FROM audit_checkpoints
		WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, afterSeq, toSeq, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*AuditCheckpoint, error) { return scanCheckpoint(r) })
}

// OrphanAuditCheckpoint returns the first checkpoint after afterSeq whose
// chain entry does not exist, or nil. A sealer commits a checkpoint with
// its chain entries, so one appended meanwhile is never an orphan.
func (db *DB) OrphanAuditCheckpoint(ctx context.Context, afterSeq int64) (*AuditCheckpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	c, err := scanCheckpoint(db.pool.QueryRow(ctx, `SELECT `+auditCheckpointColumns+` FROM audit_checkpoints k
		WHERE seq > $1 AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.seq = k.seq)
		ORDER BY seq LIMIT 1`, afterSeq))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

// AuditEventsBetween counts the events with lo < (xid, id) ≤ hi in seal
// order, which is how many chain entries sealing them took if none was
// left out.
func (db *DB) AuditEventsBetween(ctx context.Context, lo, hi AuditCursor) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*db.timeout)
	defer cancel()
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events
		WHERE (xid, id) > ($1::text::xid8, $2) AND (xid, id) <= ($3::text::xid8, $4)`,
		lo.xid(), lo.ID, hi.xid(), hi.ID).Scan(&n)
	return n, err
}

// FirstUnsealedAuditEvent returns, in seal order, the first event with
// lo < (xid, id) ≤ hi that has no chain entry, and the seq of the first
// chain entry whose event comes after it in seal order (0 if none); nil
// when every such event is sealed.
func (db *DB) FirstUnsealedAuditEvent(ctx context.Context, lo, hi AuditCursor) (ev *AuditRow, nextSeq int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 4*db.timeout)
	defer cancel()
	r, dst := newAuditRow()
	err = db.pool.QueryRow(ctx, `SELECT `+auditColumnsSQL+` FROM audit_events e
		WHERE (e.xid, e.id) > ($1::text::xid8, $2) AND (e.xid, e.id) <= ($3::text::xid8, $4)
		  AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)
		ORDER BY e.xid, e.id LIMIT 1`, lo.xid(), lo.ID, hi.xid(), hi.ID).Scan(dst...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if err := r.fill(); err != nil {
		return nil, 0, err
	}
	err = db.pool.QueryRow(ctx, `SELECT coalesce(min(c.seq), 0) FROM audit_chain c
		JOIN audit_events e ON e.id = c.event_id WHERE (e.xid, e.id) > ($1::text::xid8, $2)`,
		r.Xid, r.ID).Scan(&nextSeq)
	return r, nextSeq, err
}
