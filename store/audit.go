package store

import (
	"context"
	"encoding/json"
	"time"
)

// AuditEvent is one append-only record of a change or a refused attempt.
type AuditEvent struct {
	ID         int64
	At         time.Time
	Actor      string
	Action     string
	Outcome    string // ok or refused
	Code       string // gRPC code name for refusals
	Reason     string
	Serial     string
	SubjectRef string
	Profile    string
	RequestID  string
	Details    map[string]any
}

const insertAudit = `INSERT INTO audit_events (at, actor, action, outcome, code, reason, serial,
	subject_ref, profile, request_id, details)
	VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), nullif($8, ''), nullif($9, ''), nullif($10, ''), $11)
	RETURNING id`

// AppendAudit writes ev in the caller's transaction.
func (t *Tx) AppendAudit(ctx context.Context, ev *AuditEvent) error {
	details, err := json.Marshal(ev.Details)
	if err != nil {
		return err
	}
	if ev.Details == nil {
		details = []byte("{}")
	}
	return t.tx.QueryRow(ctx, insertAudit,
		ev.At, ev.Actor, ev.Action, ev.Outcome, ev.Code, ev.Reason, ev.Serial, ev.SubjectRef, ev.Profile,
		ev.RequestID, details).Scan(&ev.ID)
}

// AuditEvents returns events after id afterID in order, at most limit.
func (db *DB) AuditEvents(ctx context.Context, afterID int64, limit int) ([]*AuditEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := db.pool.Query(ctx, `SELECT id, at, actor, action, outcome, code, reason,
		coalesce(serial, ''), coalesce(subject_ref, ''), coalesce(profile, ''), coalesce(request_id, ''), details
		FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*AuditEvent
	for rows.Next() {
		var ev AuditEvent
		var details []byte
		if err := rows.Scan(&ev.ID, &ev.At, &ev.Actor, &ev.Action, &ev.Outcome, &ev.Code, &ev.Reason,
			&ev.Serial, &ev.SubjectRef, &ev.Profile, &ev.RequestID, &details); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(details, &ev.Details); err != nil {
			return nil, err
		}
		out = append(out, &ev)
	}
	return out, rows.Err()
}
