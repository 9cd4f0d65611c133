package store

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SetTimeout shortens a test store's transaction deadline.
func SetTimeout(db *DB, d time.Duration) { db.timeout = d }

// PoolOf exposes the pool to look at what its connections carry.
func PoolOf(db *DB) *pgxpool.Pool { return db.pool }
