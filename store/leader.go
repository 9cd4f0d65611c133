package store

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// One replica at a time: some work must be done by one replica of many.
// PostgreSQL advisory locks decide which, in one of two scopes, chosen by
// the shape of the work:
//
//   - A leader job runs for as long as its replica leads and keeps state
//     between its transactions: CRL generation for an issuer (a schedule,
//     a LISTEN, a debounce), the audit sealer (its checkpoint key and
//     timer), the hourly jobs (their schedule). It holds a session-level
//     lock on a connection of its own: DB.TryCRLLeader, DB.TryAuditSealer
//     or DB.TryHourlyJobs gives a LeaderLock, and Leadership.Run keeps
//     trying for it and runs the job while it is held.
//     When the replica dies or its connection breaks, PostgreSQL ends the
//     session and another replica takes over within Retry.
//   - A batch job does all of its work inside one transaction per batch and
//     keeps nothing between batches: revoking lapsed suspensions, purging
//     spent evidence, folding counts. It takes a transaction-level lock with
//     Tx.TryJobLock as its first statement. The lock ends with the commit or
//     rollback, pins no connection between runs, needs no release, and a
//     replica that finds it taken skips the batch (the holder is doing it)
//     rather than waits. The hourly batch jobs also run only on the
//     replica that leads "hourly jobs", so one replica, named in its log
//     and in signet_leader, does them on one schedule; the batch lock
//     still keeps two from overlapping while a lost lead changes hands.
//
// Every advisory lock (these two, and the blocking serializers LockKey,
// LockCRLIssuer and LockAuditSeal) is keyed by hashtextextended(name, 0)
// in one 64-bit space, so each kind of name carries its own prefix. The
// names below are shared by all running versions: renaming one lets an
// old and a new replica lead at once during a rolling upgrade.
const (
	crlLeaderPrefix = "crl-leader:"   // + issuer id; session-level
	auditSealerLock = "audit-sealer:" // session-level
	jobLockPrefix   = "job:"          // + job name; transaction-level
	hourlyJobsLock  = "hourly-jobs:"  // session-level
)

// LeaderRetry is the default for how often a replica that does not lead a
// leader job tries to take it, and how often the leader checks the
// connection that holds its lock: a dead leader's job moves within about
// this long.
const LeaderRetry = 5 * time.Second

// TryJobLock takes the batch job's transaction-level lock if no other
// transaction holds it, and reports whether it did. A caller that gets
// false returns without doing the batch: another replica is doing it.
func (t *Tx) TryJobLock(ctx context.Context, job string) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`, jobLockPrefix+job).Scan(&ok)
	return ok, err
}

// TryCRLLeader tries to become the one replica that generates the issuer's
// CRLs. It returns nil, nil when another session holds the lock. While
// the lock is held, its connection is checked every check interval; Lost
// is closed when the check fails, because the lock may then be gone.
func (db *DB) TryCRLLeader(ctx context.Context, issuerID string, check time.Duration) (*LeaderLock, error) {
	return db.tryLeader(ctx, crlLeaderPrefix+issuerID, check)
}

// TryAuditSealer tries to become the one replica that runs the audit
// sealer, like TryCRLLeader: nil, nil when another session holds the lock.
func (db *DB) TryAuditSealer(ctx context.Context, check time.Duration) (*LeaderLock, error) {
	return db.tryLeader(ctx, auditSealerLock, check)
}

// TryHourlyJobs tries to become the one replica that runs the hourly
// batch jobs, like TryCRLLeader: nil, nil when another session holds it.
func (db *DB) TryHourlyJobs(ctx context.Context, check time.Duration) (*LeaderLock, error) {
	return db.tryLeader(ctx, hourlyJobsLock, check)
}

// LeaderLock is a session-level advisory lock held on a connection of its
// own. PostgreSQL releases it when that session ends, so when the process
// holding it dies (or its connection breaks) another replica can take it.
type LeaderLock struct {
	lost    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	release sync.Once
}

func (db *DB) tryLeader(ctx context.Context, key string, check time.Duration) (*LeaderLock, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	pooled, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var got bool
	err = pooled.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&got)
	switch {
	case err != nil:
		// The lock may have been granted before the error; closing the
		// session makes sure it is not left behind in the pool.
		pooled.Hijack().Close(context.Background())
		return nil, err
	case !got:
		// No lock was taken, so the connection is clean for other users.
		pooled.Release()
		return nil, nil
	}
	// The session now holds the lock: it leaves the pool for good, or the
	// next borrower would inherit the lock and nobody could release it.
	conn := pooled.Hijack()
	l := &LeaderLock{lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go l.watch(conn, check, db.timeout)
	return l, nil
}

func (l *LeaderLock) watch(conn *pgx.Conn, check, timeout time.Duration) {
	defer close(l.done)
	defer func() {
		// Ending the session releases the lock at once.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(ctx)
	}()
	tick := time.NewTicker(check)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			// Unlock explicitly: closing the session also releases the
			// lock, but only once the server has noticed, so a replica
			// trying right after Release could still find it taken.
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
			cancel()
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := conn.Ping(ctx)
			cancel()
			if err != nil {
				close(l.lost)
				return
			}
		}
	}
}

// Lost is closed when the lock's connection failed a check: the lock may
// already belong to another replica, so the holder must stop leading.
func (l *LeaderLock) Lost() <-chan struct{} { return l.lost }

// Release gives the lock up by closing its session, and waits until it is
// closed. It is safe to call more than once and after Lost.
func (l *LeaderLock) Release() {
	l.release.Do(func() { close(l.stop) })
	<-l.done
}

// Leadership runs a leader job (see "One replica at a time" above): it
// tries for the job's LeaderLock every Retry, runs the job while it holds
// the lock, and tries again when the job returns (its ctx ended, or the
// lock's connection was lost).
type Leadership struct {
	// Try takes the job's lock, or returns nil, nil while another session
	// holds it.
	Try   func(context.Context) (*LeaderLock, error)
	Retry time.Duration
	Log   *slog.Logger
	// Name starts each log message, e.g. "crl".
	Name    string
	leading atomic.Bool
}

// Leading reports whether this replica runs the job now.
func (l *Leadership) Leading() bool { return l.leading.Load() }

// Run calls lead each time the lock is taken, until ctx ends. lead must
// return when its ctx ends or the lock's Lost channel closes.
func (l *Leadership) Run(ctx context.Context, lead func(context.Context, *LeaderLock)) {
	for ctx.Err() == nil {
		lock, err := l.Try(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				l.Log.Warn(l.Name+": cannot try for the lead", "err", err)
			}
		case lock != nil:
			l.Log.Info(l.Name + ": leading")
			l.leading.Store(true)
			lead(ctx, lock)
			l.leading.Store(false)
			lock.Release()
			l.Log.Info(l.Name + ": stopped leading")
		}
		select {
		case <-ctx.Done():
		case <-time.After(l.Retry):
		}
	}
}
