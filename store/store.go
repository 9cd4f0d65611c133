// Package store is Signet's PostgreSQL access layer: every SQL statement the
// service runs lives here. It holds no policy; the domain core in package ca
// decides, and the store records each decision in one transaction.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	// timeout bounds each transaction, and every statement in it, so that
	// a stuck database fails the call instead of piling up goroutines.
	timeout time.Duration
	// observeTx is told each transaction's duration and result.
	observeTx func(took time.Duration, err error)
	// reminders enqueues and voids expiry reminders in the transaction of
	// the change that makes them due or void; nil: reminders are off.
	reminders Reminders
}

// Options are what Open adds to a connection string: instrumentation.
type Options struct {
	// Tracer sees every statement (an OpenTelemetry span per query);
	// nil: none.
	Tracer pgx.QueryTracer
	// ObserveTx is told how long each InTx took and how it ended; nil:
	// nobody.
	ObserveTx func(took time.Duration, err error)
}

// Timeout is how long one transaction, and every statement in it, may
// take. Every pool call outside a transaction has the same deadline,
// except the audit verification's counts, which have four.
const Timeout = 15 * time.Second

// serverStatementLimit is the statement_timeout and
// idle_in_transaction_session_timeout every connection starts with: the
// database itself ends a statement, or an idle open transaction and its
// locks, that outlived the longest deadline Signet gives one (4 ×
// Timeout). It covers what the client's deadline cannot: a signetd killed
// or frozen in the middle of a statement or a transaction. They are
// startup parameters, so they cost no round trip.
const serverStatementLimit = 4 * Timeout

// Open connects to url and checks that the database answers.
func Open(ctx context.Context, url string) (*DB, error) { return OpenWith(ctx, url, Options{}) }

// OpenWith is Open with instrumentation.
func OpenWith(ctx context.Context, url string, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: bad DATABASE_URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (4 on 2 cores) is too few: a transaction may
		// wait on a subject lock while holding its connection.
		cfg.MaxConns = 32
	}
	for _, p := range []string{"statement_timeout", "idle_in_transaction_session_timeout"} {
		if _, set := cfg.ConnConfig.RuntimeParams[p]; !set {
			cfg.ConnConfig.RuntimeParams[p] = strconv.FormatInt(serverStatementLimit.Milliseconds(), 10)
		}
	}
	if o.Tracer != nil {
		cfg.ConnConfig.Tracer = o.Tracer
	}
	if o.ObserveTx == nil {
		o.ObserveTx = func(time.Duration, error) {}
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
	return &DB{pool: pool, timeout: Timeout, observeTx: o.ObserveTx}, nil
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
// event always share a transaction (DESIGN.md invariant 2). The whole
// transaction, every statement in it included, must end within the
// store's timeout: a statement still running then is cancelled and the
// transaction rolls back.
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) (err error) {
	if db.observeTx != nil {
		start := time.Now()
		defer func() { db.observeTx(time.Since(start), err) }()
	}
	txCtx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	t := &Tx{reminders: db.reminders}
	b := &boundTx{parent: ctx, ctx: txCtx}
	defer b.release()
	err = pgx.BeginFunc(txCtx, db.pool, func(tx pgx.Tx) error {
		b.Tx = tx
		t.tx = b
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
	tx        pgx.Tx
	onCommit  []func()
	reminders Reminders
}

// boundTx gives every statement of a transaction the transaction's
// deadline. The Tx methods take the caller's context, which is usually
// the one InTx was given and has no deadline of its own (a job's, or a
// request's with a generous client deadline); without this only BEGIN and
// COMMIT would be bounded, and a statement could run, holding its locks,
// for as long as the database cared to take.
type boundTx struct {
	pgx.Tx
	parent, ctx context.Context
	cancels     []context.CancelFunc
}

// within returns the context a statement runs under: the transaction's
// when the caller passed InTx's own context (no allocation on the hot
// path), else the caller's bounded by the transaction's deadline.
func (b *boundTx) within(ctx context.Context) context.Context {
	if ctx == b.parent || ctx == b.ctx {
		return b.ctx
	}
	deadline, _ := b.ctx.Deadline()
	bounded, cancel := context.WithDeadline(ctx, deadline)
	b.cancels = append(b.cancels, cancel)
	return bounded
}

func (b *boundTx) release() {
	for _, cancel := range b.cancels {
		cancel()
	}
}

func (b *boundTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return b.Tx.Exec(b.within(ctx), sql, args...)
}

func (b *boundTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return b.Tx.Query(b.within(ctx), sql, args...)
}

func (b *boundTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return b.Tx.QueryRow(b.within(ctx), sql, args...)
}

func (b *boundTx) SendBatch(ctx context.Context, batch *pgx.Batch) pgx.BatchResults {
	return b.Tx.SendBatch(b.within(ctx), batch)
}

func (b *boundTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return b.Tx.CopyFrom(b.within(ctx), table, columns, src)
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
