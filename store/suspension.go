package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// certificateHold is RFC 5280's reason code for a suspension.
const certificateHold = 6

// Suspend puts a certificate on hold from at. revoked_at holds the hold
// time so that CRL and OCSP report it like any revocation entry.
func (t *Tx) Suspend(ctx context.Context, serial string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE certificates SET status = 'suspended', revoked_at = $2,
		revocation_reason = $3, updated_at = $2 WHERE serial = $1`, serial, at, certificateHold)
	return err
}

// Resume lifts a hold: the certificate is active again.
func (t *Tx) Resume(ctx context.Context, serial string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE certificates SET status = 'active', revoked_at = NULL,
		revocation_reason = NULL, updated_at = $2 WHERE serial = $1`, serial, at)
	return err
}

// LapsedSuspensions locks up to limit certificates suspended before
// cutoff; rows locked by another transaction are skipped.
func (t *Tx) LapsedSuspensions(ctx context.Context, cutoff time.Time, limit int) ([]*Certificate, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+certificateColumns+` FROM certificates
		WHERE status = 'suspended' AND revoked_at < $1 ORDER BY revoked_at LIMIT $2 FOR UPDATE SKIP LOCKED`, cutoff, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Certificate, error) { return scanCertificate(r) })
}
