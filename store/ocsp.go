package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// CertStatus is the part of a certificate row that an OCSP response is
// built from (RFC 6960 section 4.2.1: certStatus, revocationTime and
// revocationReason), plus the issuer, which the responder compares with
// the CA it answers for.
type CertStatus struct {
	Serial   string // lower-case hex
	IssuerID string
	Status   string // active, suspended, revoked, expired
	// RevokedAt and RevocationReason are set exactly when Status is
	// revoked or suspended (a table CHECK); a suspension carries reason 6,
	// certificateHold, and the hold time.
	RevokedAt        *time.Time
	RevocationReason *int
	NotAfter         time.Time
}

const certStatusColumns = `serial, issuer_id, status, revoked_at, revocation_reason, not_after`

func scanCertStatus(row pgx.Row) (*CertStatus, error) {
	var s CertStatus
	var reason *int16
	if err := row.Scan(&s.Serial, &s.IssuerID, &s.Status, &s.RevokedAt, &reason, &s.NotAfter); err != nil {
		return nil, notFound(err)
	}
	if reason != nil {
		r := int(*reason)
		s.RevocationReason = &r
	}
	return &s, nil
}

// CertificateStatus reads the revocation state of one certificate, or
// ErrNotFound. It reads only the narrow columns (not the DER) because the
// OCSP responder calls it on every cache miss.
func (db *DB) CertificateStatus(ctx context.Context, serial string) (*CertStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	return scanCertStatus(db.pool.QueryRow(ctx,
		`SELECT `+certStatusColumns+` FROM certificates WHERE serial = $1`, serial))
}

// CertificateStatuses reads the revocation state of many certificates in
// one round trip, for the OCSP responder's periodic re-signing. Serials
// that are not in the table are absent from the map.
func (db *DB) CertificateStatuses(ctx context.Context, serials []string) (map[string]*CertStatus, error) {
	out := make(map[string]*CertStatus, len(serials))
	if len(serials) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	rows, err := db.pool.Query(ctx,
		`SELECT `+certStatusColumns+` FROM certificates WHERE serial = ANY($1)`, serials)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		s, err := scanCertStatus(rows)
		if err != nil {
			return nil, err
		}
		out[s.Serial] = s
	}
	return out, rows.Err()
}
