package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
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

// AppendAudit writes ev in the caller's transaction. Every text it
// quotes goes through AuditText first, so that no value a caller sent
// (a NUL, invalid UTF-8) can make the insert fail and leave a refusal
// unrecorded.
func (t *Tx) AppendAudit(ctx context.Context, ev *AuditEvent) error {
	details := []byte("{}")
	if ev.Details != nil {
		var err error
		if details, err = json.Marshal(auditValue(ev.Details)); err != nil {
			return err
		}
	}
	return t.tx.QueryRow(ctx, insertAudit,
		ev.At, AuditText(ev.Actor), AuditText(ev.Action), AuditText(ev.Outcome), AuditText(ev.Code), AuditText(ev.Reason),
		AuditText(ev.Serial), AuditText(ev.SubjectRef), AuditText(ev.Profile), AuditText(ev.RequestID), details).Scan(&ev.ID)
}

// AuditText is s as the audit log stores it: unchanged if it is valid
// UTF-8 without control characters, otherwise Go-quoted ("a\x00b"), so
// that every byte stays visible and PostgreSQL, which refuses 0x00 in
// text and jsonb, always accepts it. A quoted value begins with '"'.
func AuditText(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// auditValue applies AuditText to every string inside v (details are
// built from maps, slices and scalars), keys included.
func auditValue(v any) any {
	switch v := v.(type) {
	case string:
		return AuditText(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[AuditText(k)] = auditValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = auditValue(x)
		}
		return out
	case []string:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = AuditText(x)
		}
		return out
	}
	return v
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
