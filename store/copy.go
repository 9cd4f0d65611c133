package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Copy session states (migrations/0010_copy_sessions.up.sql).
const (
	CopyOpen      = "open"
	CopyJoined    = "joined"
	CopyCompleted = "completed"
	CopyExpired   = "expired"
	CopyBurned    = "burned"
	CopyCancelled = "cancelled"
)

// Copy message columns, one per message of an attempt.
const (
	CopyOffer  = "offer"
	CopyReply  = "reply"
	CopySealed = "sealed"
)

// ErrSlotTaken is a second live session on one slot: two relays chose the
// same free slot at once, and one of them draws again.
var ErrSlotTaken = errors.New("store: copy slot taken")

// CopySession is one row of copy_sessions. Offer, Reply and Sealed are the
// devices' opaque messages for the current attempt.
type CopySession struct {
	ID                string
	Slot              string // "" once ended
	State             string
	SenderTokenHash   []byte
	ReceiverTokenHash []byte
	Attempt           int
	Failures          int
	MaxFailures       int
	Offer             []byte
	Reply             []byte
	Sealed            []byte
	CreatedAt         time.Time
	ExpiresAt         time.Time
	EndedAt           *time.Time
}

// Live reports whether the session has not ended.
func (s *CopySession) Live() bool { return s.State == CopyOpen || s.State == CopyJoined }

const copyColumns = `id::text, coalesce(slot, ''), state, sender_token_hash, receiver_token_hash,
	attempt, failures, max_failures, offer, reply, sealed, created_at, expires_at, ended_at`

func scanCopySession(row pgx.Row) (*CopySession, error) {
	var s CopySession
	err := row.Scan(&s.ID, &s.Slot, &s.State, &s.SenderTokenHash, &s.ReceiverTokenHash,
		&s.Attempt, &s.Failures, &s.MaxFailures, &s.Offer, &s.Reply, &s.Sealed, &s.CreatedAt, &s.ExpiresAt, &s.EndedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &s, nil
}

// CreateCopySession inserts a new open session. A slot another live
// session holds returns ErrSlotTaken.
func (t *Tx) CreateCopySession(ctx context.Context, s *CopySession) error {
	// A savepoint, so that the caller may draw another slot in the same
	// transaction after a unique violation.
	_, err := t.tx.Exec(ctx, `SAVEPOINT copy_slot`)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `INSERT INTO copy_sessions (id, slot, state, sender_token_hash, max_failures, created_at, expires_at)
		VALUES ($1, $2, 'open', $3, $4, $5, $6)`, s.ID, s.Slot, s.SenderTokenHash, s.MaxFailures, s.CreatedAt, s.ExpiresAt)
	if err != nil {
		if _, rerr := t.tx.Exec(ctx, `ROLLBACK TO SAVEPOINT copy_slot`); rerr != nil {
			return rerr
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "copy_sessions_live_slot" {
			return ErrSlotTaken
		}
		return err
	}
	s.State, s.Attempt = CopyOpen, 1
	return nil
}

// LiveCopySlots returns the slots live sessions hold.
func (t *Tx) LiveCopySlots(ctx context.Context) ([]string, error) {
	rows, err := t.tx.Query(ctx, `SELECT slot FROM copy_sessions WHERE slot IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// CopySession reads and locks a session by id.
func (t *Tx) CopySession(ctx context.Context, id string) (*CopySession, error) {
	return scanCopySession(t.tx.QueryRow(ctx, `SELECT `+copyColumns+` FROM copy_sessions WHERE id = $1 FOR UPDATE`, id))
}

// LiveCopySessionBySlot reads and locks the live session on slot.
func (t *Tx) LiveCopySessionBySlot(ctx context.Context, slot string) (*CopySession, error) {
	return scanCopySession(t.tx.QueryRow(ctx, `SELECT `+copyColumns+` FROM copy_sessions WHERE slot = $1 FOR UPDATE`, slot))
}

// CopySession reads a session without locking it, for a device waiting on
// the other one's message.
func (db *DB) CopySession(ctx context.Context, id string) (*CopySession, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	return scanCopySession(db.pool.QueryRow(ctx, `SELECT `+copyColumns+` FROM copy_sessions WHERE id = $1`, id))
}

// JoinCopySession records the receiving device of an open session.
func (t *Tx) JoinCopySession(ctx context.Context, id string, receiverTokenHash []byte) error {
	return oneRow(t.tx.Exec(ctx, `UPDATE copy_sessions SET state = 'joined', receiver_token_hash = $2
		WHERE id = $1 AND state = 'open'`, id, receiverTokenHash))
}

// PutCopyMessage stores one message of attempt into its column, which must
// be empty: a message is posted once.
func (t *Tx) PutCopyMessage(ctx context.Context, id string, attempt int, column string, payload []byte) error {
	switch column {
	case CopyOffer, CopyReply, CopySealed:
	default:
		return fmt.Errorf("store: no copy message %q", column)
	}
	return oneRow(t.tx.Exec(ctx, `UPDATE copy_sessions SET `+column+` = $3
		WHERE id = $1 AND attempt = $2 AND ended_at IS NULL AND `+column+` IS NULL`, id, attempt, payload))
}

// RetryCopySession counts a failed attempt and opens the session again for
// the next one, without the messages of the failed one.
func (t *Tx) RetryCopySession(ctx context.Context, id string, attempt int) error {
	return oneRow(t.tx.Exec(ctx, `UPDATE copy_sessions SET state = 'open', attempt = attempt + 1, failures = failures + 1,
		offer = NULL, reply = NULL, sealed = NULL
		WHERE id = $1 AND attempt = $2 AND ended_at IS NULL`, id, attempt))
}

// EndCopySession moves a live session to a final state and drops its slot
// and every message; failed says whether the end counts a failure (burned).
func (t *Tx) EndCopySession(ctx context.Context, id, state string, at time.Time, failed bool) error {
	switch state {
	case CopyCompleted, CopyExpired, CopyBurned, CopyCancelled:
	default:
		return fmt.Errorf("store: %q is not a final copy state", state)
	}
	inc := 0
	if failed {
		inc = 1
	}
	return oneRow(t.tx.Exec(ctx, `UPDATE copy_sessions SET state = $2, ended_at = $3, failures = failures + $4,
		slot = NULL, offer = NULL, reply = NULL, sealed = NULL
		WHERE id = $1 AND ended_at IS NULL`, id, state, at, inc))
}

// OverdueCopySessions locks up to limit live sessions whose deadline is at
// or before now; sessions another transaction holds are skipped.
func (t *Tx) OverdueCopySessions(ctx context.Context, now time.Time, limit int) ([]*CopySession, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+copyColumns+` FROM copy_sessions
		WHERE ended_at IS NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*CopySession
	for rows.Next() {
		s, err := scanCopySession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// PurgeCopySessions deletes up to limit sessions that ended before cutoff.
func (t *Tx) PurgeCopySessions(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := t.tx.Exec(ctx, `DELETE FROM copy_sessions WHERE id IN (
		SELECT id FROM copy_sessions WHERE ended_at < $1 LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// oneRow turns an UPDATE that matched no row into ErrNotFound: the row is
// gone or no longer in the state the statement required.
func oneRow(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return ErrNotFound
	}
	return nil
}
