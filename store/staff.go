package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// StaffCertificate is a staff client certificate as the ledger holds it.
type StaffCertificate struct {
	Serial string
	// Purpose is the ledger's reason for it, "admin-cert:<role>".
	Purpose   string
	RevokedAt *time.Time
}

// StaffCertificate returns the issued staff certificate of the admin CA
// issuerID with exactly this serial and DER, with its revocation if any,
// or ErrNotFound.
func (db *DB) StaffCertificate(ctx context.Context, issuerID, serial string, der []byte) (*StaffCertificate, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var c StaffCertificate
	err := db.pool.QueryRow(ctx, `SELECT s.serial, s.purpose, r.revoked_at FROM signatures s
		LEFT JOIN staff_revocations r ON r.serial = s.serial
		WHERE s.issuer_id = $1 AND s.serial = $2 AND s.kind = 'staff' AND s.state = 'issued' AND s.der = $3`, issuerID, serial, der).
		Scan(&c.Serial, &c.Purpose, &c.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &c, err
}

// ErrStaffRevoked is returned by RevokeStaff for a certificate already revoked.
var ErrStaffRevoked = errors.New("store: staff certificate already revoked")

// RevokeStaff withdraws an issued staff certificate and records ev in the
// same transaction; ErrNotFound if the ledger holds no such certificate.
func (db *DB) RevokeStaff(ctx context.Context, serial, by, reason string, at time.Time, ev *AuditEvent) error {
	return db.InTx(ctx, func(t *Tx) error {
		tag, err := t.tx.Exec(ctx, `INSERT INTO staff_revocations (serial, revoked_at, revoked_by, reason)
			SELECT serial, $2, $3, $4 FROM signatures WHERE kind = 'staff' AND state = 'issued' AND serial = $1
			ON CONFLICT (serial) DO NOTHING`, serial, at, by, reason)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var known bool
			if err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM staff_revocations WHERE serial = $1)`, serial).Scan(&known); err != nil {
				return err
			}
			if known {
				return ErrStaffRevoked
			}
			return ErrNotFound
		}
		return t.AppendAudit(ctx, ev)
	})
}
