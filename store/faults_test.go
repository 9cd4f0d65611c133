package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// A database that is away is told apart from one that refused the
// request: the first is worth a retry (UNAVAILABLE), the second is not.
func TestIsUnavailable_ClassifiesDatabaseFaults(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{}}
	for name, c := range map[string]struct {
		err  error
		want bool
	}{
		"admin shutdown 57P01":        {&pgconn.PgError{Code: "57P01"}, true},
		"crash shutdown 57P02":        {&pgconn.PgError{Code: "57P02"}, true},
		"cannot connect now 57P03":    {&pgconn.PgError{Code: "57P03"}, true},
		"statement timeout 57014":     {&pgconn.PgError{Code: "57014"}, true},
		"too many connections 53300":  {&pgconn.PgError{Code: "53300"}, true},
		"connection failure 08006":    {&pgconn.PgError{Code: "08006"}, true},
		"wrapped admin shutdown":      {fmt.Errorf("store: x: %w", &pgconn.PgError{Code: "57P01"}), true},
		"connection refused":          {&pgconn.ConnectError{}, true},
		"network error":               {refused, true},
		"reset by peer":               {fmt.Errorf("read: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), true},
		"closed connection":           {pgconn.ErrConnClosed, true},
		"closed pool":                 {puddle.ErrClosedPool, true},
		"unexpected EOF":              {fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		"unique violation":            {&pgconn.PgError{Code: "23505"}, false},
		"check violation":             {&pgconn.PgError{Code: "23514"}, false},
		"syntax error":                {&pgconn.PgError{Code: "42601"}, false},
		"no rows":                     {pgx.ErrNoRows, false},
		"not found":                   {store.ErrNotFound, false},
		"caller's deadline":           {context.DeadlineExceeded, false},
		"caller cancelled":            {context.Canceled, false},
		"deadline inside a net error": {&net.OpError{Op: "read", Err: context.DeadlineExceeded}, false},
		"plain error":                 {errors.New("boom"), false},
		"nil":                         {nil, false},
	} {
		if got := store.IsUnavailable(c.err); got != c.want {
			t.Errorf("%s: IsUnavailable(%v) = %v, want %v", name, c.err, got, c.want)
		}
	}
}

// An operator's pg_terminate_backend (and a fast shutdown, which sends
// the same 57P01) ends the statement with an error that reads as
// "database unavailable", not as a fault in Signet.
func TestIsUnavailable_TerminatedBackend(t *testing.T) {
	db, u := storetest.Open(t)
	ctx := context.Background()
	holder := lockHolder(t, u, "terminate")
	done := make(chan error, 1)
	go func() {
		done <- db.InTx(ctx, func(tx *store.Tx) error { return tx.LockKey(ctx, "terminate") })
	}()
	waitForLockWaiter(t, holder)
	if _, err := holder.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if !store.IsUnavailable(err) {
		t.Fatalf("a terminated backend gave %v (%T), want it classified as unavailable", err, err)
	}
}

// Every statement in a transaction has the transaction's deadline, not
// only BEGIN and COMMIT: a statement stuck on a lock is cancelled when the
// transaction's time is up, although the caller's context has no deadline.
func TestInTx_StatementsHaveTheTransactionDeadline(t *testing.T) {
	db, u := storetest.Open(t)
	store.SetTimeout(db, 300*time.Millisecond)
	ctx := context.Background()
	holder := lockHolder(t, u, "stuck")
	// Without a deadline the statement would wait until the holder lets
	// go; let go eventually so that a failing run ends.
	release := time.AfterFunc(20*time.Second, func() { _ = holder.Close(context.Background()) })
	defer release.Stop()
	var stmtErr error
	err := db.InTx(ctx, func(tx *store.Tx) error {
		stmtErr = tx.LockKey(ctx, "stuck")
		return stmtErr
	})
	if stmtErr == nil {
		t.Fatalf("the statement waiting on a lock returned nil (transaction: %v): it ran past the transaction's deadline", err)
	}
	if !errors.Is(stmtErr, context.DeadlineExceeded) && !store.IsUnavailable(stmtErr) {
		t.Errorf("statement error %v, want the transaction's deadline", stmtErr)
	}
	// The same with a context of the caller's own, derived elsewhere.
	other, cancel := context.WithCancel(context.Background())
	defer cancel()
	stmtErr = nil
	_ = db.InTx(ctx, func(tx *store.Tx) error {
		stmtErr = tx.LockKey(other, "stuck")
		return stmtErr
	})
	if stmtErr == nil {
		t.Fatal("a statement under an unrelated context ran past the transaction's deadline")
	}
}

// Each connection starts with a server-side statement_timeout and
// idle_in_transaction_session_timeout: a statement or an open transaction
// whose signetd died or froze does not hold its locks for ever.
func TestOpen_ConnectionsCarryServerSideLimits(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	for _, p := range []string{"statement_timeout", "idle_in_transaction_session_timeout"} {
		var v string
		if err := store.PoolOf(db).QueryRow(ctx, "SHOW "+p).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != "1min" {
			t.Errorf("%s = %q, want 1min (4 × store.Timeout)", p, v)
		}
	}
}

// lockHolder takes the advisory lock Tx.LockKey(key) takes, on a
// connection of its own, and keeps it until the test ends.
func lockHolder(t *testing.T, u, key string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	if _, err := c.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitForLockWaiter(t *testing.T, c *pgx.Conn) {
	t.Helper()
	for i := 0; ; i++ {
		var n int
		if err := c.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if i > 500 {
			t.Fatal("no statement ever waited on the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
