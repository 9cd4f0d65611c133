package store

import "context"

// ReplacedSinceEnrollment reports whether the certificate serial (of
// issuer) was reserved in the signature ledger after the enrollment was
// started (migration 0014's ledger_mark): then the person who started the
// enrollment never saw it.
func (t *Tx) ReplacedSinceEnrollment(ctx context.Context, enrollmentID, issuerID, serial string) (bool, error) {
	var after bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signatures s, enrollments e
		WHERE e.id = $1 AND s.issuer_id = $2 AND s.serial = $3 AND s.id > e.ledger_mark)`,
		enrollmentID, issuerID, serial).Scan(&after)
	return after, err
}
