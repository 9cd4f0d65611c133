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
// ctx ends, reconnecting after errors with backoff. onListen runs each
// time LISTEN is in place, the first time and after every reconnect:
// PostgreSQL drops notifications sent while nobody listens, so a caller
// that caches state must treat a reconnect as "anything may have changed".
// Each replica listens for itself.
func (db *DB) Listen(ctx context.Context, channel string, onListen func(), fn func(payload string)) {
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		// An error here is a database outage, which the health check reports.
		if listened, _ := db.listenOnce(ctx, channel, onListen, fn); listened {
			backoff = 100 * time.Millisecond
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (db *DB) listenOnce(ctx context.Context, channel string, onListen func(), fn func(string)) (listened bool, err error) {
	pooled, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	// The connection's LISTEN state must not be inherited by other pool
	// users, so it leaves the pool for good.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return false, err
	}
	onListen()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		fn(n.Payload)
	}
}
