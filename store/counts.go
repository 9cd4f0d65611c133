package store

import (
	"context"
	"time"
)

// FoldCounts moves the counter deltas that migration 0006's triggers
// append into the rollups, so that Stats reads one row per group instead
// of one per change. It is safe with any number of replicas: a delta row
// is deleted by exactly one fold, and each table's move is one statement.
// Among replicas one folds at a time; the others skip. It returns how
// many delta rows it folded. now is the clock Stats is read with.
func (db *DB) FoldCounts(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *Tx) error {
		ok, err := tx.TryJobLock(ctx, "fold-counts")
		if err != nil || !ok {
			return err
		}
		for _, sql := range []string{
			`WITH d AS (DELETE FROM certificate_count_deltas RETURNING profile, status, expires_day, n),
				g AS (SELECT profile, status, expires_day, sum(n) AS n, count(*) AS rows FROM d GROUP BY 1, 2, 3),
				up AS (INSERT INTO certificate_counts (profile, status, expires_day, n)
					SELECT profile, status, expires_day, n FROM g
					ON CONFLICT (profile, status, expires_day) DO UPDATE SET n = certificate_counts.n + excluded.n)
			SELECT coalesce(sum(rows), 0)::bigint FROM g`,
			`WITH d AS (DELETE FROM operation_count_deltas RETURNING day, action, n),
				g AS (SELECT day, action, sum(n) AS n, count(*) AS rows FROM d GROUP BY 1, 2),
				up AS (INSERT INTO operation_counts (day, action, n)
					SELECT day, action, n FROM g
					ON CONFLICT (day, action) DO UPDATE SET n = operation_counts.n + excluded.n)
			SELECT coalesce(sum(rows), 0)::bigint FROM g`,
		} {
			var moved int64
			if err := tx.tx.QueryRow(ctx, sql).Scan(&moved); err != nil {
				return err
			}
			n += moved
		}
		// Stats counts every certificate whose notAfter day ended before
		// today as lapsed, whatever the day, so past days can share one
		// group per (profile, status): the rollup stays about a validity
		// period of days long instead of growing forever. A day of margin
		// covers replicas whose clocks differ.
		_, err = tx.tx.Exec(ctx, `WITH old AS (
				DELETE FROM certificate_counts WHERE expires_day < $1 AND expires_day <> '-infinity'
				RETURNING profile, status, n)
			INSERT INTO certificate_counts (profile, status, expires_day, n)
			SELECT profile, status, '-infinity', sum(n) FROM old GROUP BY 1, 2
			ON CONFLICT (profile, status, expires_day) DO UPDATE SET n = certificate_counts.n + excluded.n`,
			kstMidnight(now).AddDate(0, 0, -1))
		if err != nil {
			return err
		}
		// A group whose certificates all moved on folds to zero; reading
		// it is waste.
		_, err = tx.tx.Exec(ctx, `DELETE FROM certificate_counts WHERE n = 0`)
		return err
	})
	return n, err
}
