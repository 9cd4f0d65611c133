package store

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Leadership runs a job that one replica at a time may run (CRL
// generation, audit sealing): it tries for the job's LeaderLock every
// Retry, runs the job while it holds the lock, and tries again when the
// job returns (its ctx ended, or the lock's connection was lost).
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
