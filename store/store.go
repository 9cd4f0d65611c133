// Package store is Signet's PostgreSQL access layer: every SQL statement the
// service runs lives here. It holds no policy; the domain core in package ca
// decides, and the store records each decision in one transaction.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors the domain core acts on. Each maps a database constraint that
// enforces one of DESIGN.md's invariants.
var (
	ErrNotFound         = errors.New("store: not found")
	ErrLiveExists       = errors.New("store: a live certificate exists for this subject and profile")
	ErrKeyCertified     = errors.New("store: public key already certified")
	ErrEvidenceUsed     = errors.New("store: evidence already used")
	ErrDuplicateRequest = errors.New("store: request id already recorded")
)

// DB is a pool of connections to Signet's database.
type DB struct {
	pool *pgxpool.Pool
	// timeout bounds each transaction so that a stuck database fails the
	// call instead of piling up goroutines.
	timeout time.Duration
}

// Open connects to url and checks that the database answers.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: bad DATABASE_URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (4 on 2 cores) is too few: a transaction may
		// wait on a subject lock while holding its connection.
		cfg.MaxConns = 32
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: database at %s does not answer: %w", redact(cfg), err)
	}
	return &DB{pool: pool, timeout: 15 * time.Second}, nil
}

func redact(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// Close releases every connection.
func (db *DB) Close() { db.pool.Close() }

// Ping reports whether the database answers; used by the health service.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// InTx runs fn in one READ COMMITTED transaction and commits if fn returns
// nil. It is the only way the service writes: a state change and its audit
// event always share a transaction (DESIGN.md invariant 2).
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	t := &Tx{}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		t.tx = tx
		return fn(t)
	})
	if err != nil {
		return err
	}
	for _, f := range t.onCommit {
		f()
	}
	return nil
}

// Tx is one open transaction.
type Tx struct {
	tx       pgx.Tx
	onCommit []func()
}

// OnCommit runs f after the transaction commits, and never if it rolls
// back: for what may be believed only once the writes are durable.
func (t *Tx) OnCommit(f func()) { t.onCommit = append(t.onCommit, f) }

// uniqueViolation maps a unique-constraint failure to the invariant it
// protects, so that callers see ErrLiveExists rather than SQLSTATE 23505.
func uniqueViolation(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return err
	}
	switch pgErr.ConstraintName {
	case "certificates_one_live_per_subject_profile":
		return ErrLiveExists
	case "certificates_spki_sha256_key":
		return ErrKeyCertified
	case "used_evidence_pkey":
		return ErrEvidenceUsed
	case "idempotency_keys_pkey":
		return ErrDuplicateRequest
	}
	return err
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
