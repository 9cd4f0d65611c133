package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Reminders enqueues and voids the expiry reminders of certificates
// (package reminder, over River's job table) in the caller's transaction:
// the one that delivers a certificate schedules its reminders, and the one
// that revokes or supersedes it voids them, so that neither can commit
// without the other.
type Reminders interface {
	// Schedule enqueues c's reminders.
	Schedule(ctx context.Context, tx pgx.Tx, c *Certificate) error
	// Void drops the reminders of serial that have not run yet.
	Void(ctx context.Context, tx pgx.Tx, serial string) error
}

// SetReminders turns reminders on for every delivery and revocation made
// through db from now on. Call it before serving.
func (db *DB) SetReminders(r Reminders) { db.reminders = r }

// Pool is the connection pool, for River, whose client and migrator take
// a pgx pool of their own kind. Signet's own SQL never goes through it.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// PgxTx is the transaction itself, for River calls (a job completed or
// retried) that must commit or roll back with Signet's writes.
func (t *Tx) PgxTx() pgx.Tx { return t.tx }

// ReminderKind is the River job kind of an expiry reminder.
const ReminderKind = "expiry_reminder"

// Reminder is one expiry reminder job, as the admin API lists it.
type Reminder struct {
	JobID       int64
	Serial      string
	Stage       string
	State       string // River's job state
	Attempt     int
	MaxAttempts int
	ScheduledAt time.Time
	FinalizedAt *time.Time
	CreatedAt   time.Time
	// LastError is the newest attempt's error, if any.
	LastError string
	// Outcome is what the worker recorded on completion: delivered or
	// skipped (and why), as JSON; empty before.
	Outcome string
}

// Reminder states as the admin API filters them, each a set of River's.
var reminderStates = map[string][]string{
	"pending":   {"available", "scheduled", "retryable", "running", "pending"},
	"failed":    {"discarded", "cancelled"},
	"delivered": {"completed"},
}

// ReminderFilter selects reminders; State is pending, failed, delivered
// or empty for all.
type ReminderFilter struct {
	State     string
	Serial    string
	PageSize  int
	PageToken string
}

// ListReminders returns one page of reminders, newest job first, and the
// next page's token.
func (db *DB) ListReminders(ctx context.Context, f ReminderFilter) ([]*Reminder, string, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	size, err := pageSize(f.PageSize)
	if err != nil {
		return nil, "", err
	}
	b := &sqlArgs{}
	conds := []string{"kind = " + b.add(ReminderKind)}
	if f.State != "" {
		states, ok := reminderStates[f.State]
		if !ok {
			return nil, "", fmt.Errorf("%w: state %q (want pending, failed or delivered)", ErrBadFilter, f.State)
		}
		conds = append(conds, "state = ANY("+b.add(states)+"::river_job_state[])")
	}
	if f.Serial != "" {
		conds = append(conds, "args @> jsonb_build_object('serial', "+b.add(f.Serial)+"::text)")
	}
	if f.PageToken != "" {
		c, err := parseCursorAs("r1", f.PageToken)
		if err != nil {
			return nil, "", err
		}
		conds = append(conds, "id < "+b.add(c.id))
	}
	rows, err := query(ctx, db.pool, `SELECT id, coalesce(args->>'serial', ''), coalesce(args->>'stage', ''), state::text,
			attempt, max_attempts, scheduled_at, finalized_at, created_at,
			coalesce(errors[array_length(errors, 1)]->>'error', ''), coalesce(metadata->>'output', '')
		FROM river_job`+where(conds)+` ORDER BY id DESC LIMIT `+b.add(size+1), b.args...)
	if err != nil {
		return nil, "", err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Reminder, error) {
		var m Reminder
		err := r.Scan(&m.JobID, &m.Serial, &m.Stage, &m.State, &m.Attempt, &m.MaxAttempts, &m.ScheduledAt,
			&m.FinalizedAt, &m.CreatedAt, &m.LastError, &m.Outcome)
		return &m, err
	})
	if err != nil {
		return nil, "", err
	}
	out, next := onePage(out, size, func(last *Reminder) string { return eventCursor{at: last.CreatedAt, id: last.JobID}.tokenAs("r1") })
	return out, next, nil
}

// ReminderByID reads one reminder job, or ErrNotFound.
func (t *Tx) ReminderByID(ctx context.Context, id int64) (*Reminder, error) {
	var m Reminder
	err := t.tx.QueryRow(ctx, `SELECT id, coalesce(args->>'serial', ''), coalesce(args->>'stage', ''), state::text,
			attempt, max_attempts, scheduled_at, finalized_at, created_at
		FROM river_job WHERE id = $1 AND kind = $2 FOR UPDATE`, id, ReminderKind).Scan(&m.JobID, &m.Serial, &m.Stage,
		&m.State, &m.Attempt, &m.MaxAttempts, &m.ScheduledAt, &m.FinalizedAt, &m.CreatedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &m, nil
}

// ReminderStates are the filter values ListReminders takes.
func ReminderStates() []string {
	s := make([]string, 0, len(reminderStates))
	for k := range reminderStates {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}
