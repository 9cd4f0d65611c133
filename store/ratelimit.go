package store

import (
	"context"
	"time"
)

// CountSubjectAttempt counts one attempt of subjectRef in the window that
// starts at windowStart and returns the window's count so far, this one
// included. A row left from an earlier window starts over at 1; a replica
// whose clock lags counts into the later window. It is one
// statement outside any transaction: the row lock lasts only as long as
// the upsert, so that a burst for one subject serializes only here.
func (db *DB) CountSubjectAttempt(ctx context.Context, subjectRef string, windowStart time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var n int
	err := db.pool.QueryRow(ctx, `INSERT INTO subject_attempts AS s (subject_ref, window_start, attempts)
		VALUES ($1, $2, 1)
		ON CONFLICT (subject_ref) DO UPDATE SET
			attempts = CASE WHEN s.window_start >= EXCLUDED.window_start THEN s.attempts + 1 ELSE 1 END,
			window_start = GREATEST(s.window_start, EXCLUDED.window_start)
		RETURNING attempts`, subjectRef, windowStart.UTC()).Scan(&n)
	return n, err
}
