package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// riverMigrateLock serializes River's migrations among replicas starting
// at once: rivermigrate takes no lock of its own, unlike golang-migrate.
const riverMigrateLock = "signet:river-migrate"

// MigrateRiver brings River's own schema (river_job and its companions,
// versioned in river_migration) up to date, as the role of url, under an
// advisory lock. It runs wherever Signet's migrations run, right after
// them (Migrator.Up).
func MigrateRiver(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(pgx5URLToConn(url))
	if err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	// One connection holds the lock; River migrates on the other, one
	// transaction per version (a version that adds an enum value cannot
	// share a transaction with one that uses it).
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	defer pool.Close()
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	lock, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	defer lock.Release()
	if _, err := lock.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, riverMigrateLock); err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	defer func() {
		_, _ = lock.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, riverMigrateLock)
	}()
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	return nil
}

// RiverSchemaCurrent checks, as the connected role (it only reads
// river_migration), that River's migrations have all run: reminders are
// enqueued inside deliveries, so a missing job table would fail every
// issuance rather than the start.
func (db *DB) RiverSchemaCurrent(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	m, err := rivermigrate.New(riverpgxv5.New(db.pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("read River's schema version (has `signetd migrate up` run?): %w", err)
	}
	if !res.OK {
		return fmt.Errorf("River's schema is not current (%s): run `signetd migrate up` as the migration role first", strings.Join(res.Messages, "; "))
	}
	return nil
}
