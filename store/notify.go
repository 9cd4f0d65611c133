package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// StatusChannel carries the serial of every certificate whose revocation
// status changed (revoke, supersede, suspend, resume). NOTIFY is
// transactional: listeners hear of a change only once it is committed, so
// a CRL or OCSP refresh never sees a change that was rolled back.
const StatusChannel = "signet_status"

// NotifyStatus announces, on commit, that serial's status changed.
func (t *Tx) NotifyStatus(ctx context.Context, serial string) error {
	_, err := t.tx.Exec(ctx, `SELECT pg_notify($1, $2)`, StatusChannel, serial)
	return err
}

// Listen calls fn with the payload of every notification on channel until
// ctx ends, reconnecting after errors. Each replica listens for itself.
// ready, if not nil, is closed once the first LISTEN is in place.
func (db *DB) Listen(ctx context.Context, channel string, ready chan<- struct{}, fn func(payload string)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, channel, &ready, fn)
		if ctx.Err() != nil {
			return
		}
		_ = err // the caller's health check reports a database outage
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (db *DB) listenOnce(ctx context.Context, channel string, ready *chan<- struct{}, fn func(string)) error {
	pooled, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection's LISTEN state must not be inherited by other pool
	// users, so it leaves the pool for good.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	if *ready != nil {
		close(*ready)
		*ready = nil
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}
