package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Volume is a database the size of a busy day, for the background jobs'
// volume tests: what each job must find, among everything it must leave.
type Volume struct {
	Now time.Time
	// Evidence is the number of used_evidence rows in all; DueEnrollments
	// of them belong in pairs (phone, account) to enrollments that expired
	// two days before Now, 4×DueEnrollments enrollments of the last hour
	// have theirs, and the rest are proofs (no enrollment) of the last 23
	// hours. The spent purge must take the due pairs and enrollments only.
	Evidence, DueEnrollments int
	// Certificates, of which Lapsed were suspended 7 months before Now
	// (the 6-month limit has passed) and every tenth one yesterday.
	Certificates, Lapsed int
	// Signatures in the ledger, of which Open are reservations recorded an
	// hour ago by the database's clock and never settled.
	Signatures, Open int
	// CRLs of one issuer, one an hour, the newest ending at Now. All but
	// the last Prunable+24 are already pruned; Prunable of them are past
	// the cutoff PruneCutoff gives and still hold their DER.
	CRLs, Prunable int
	// IssuerID is the issuer the certificates, signatures and CRLs name.
	IssuerID string
}

// VolumeSize picks how big a Volume is.
type VolumeSize int

const (
	// FullVolume is the volume of issue 8's report: 400,000 evidence rows
	// and 5,000 enrollments to purge (benchmarks).
	FullVolume VolumeSize = iota
	// CIVolume is a tenth of it: what `go test ./...` runs.
	CIVolume
	// ShortVolume is a hundredth, under -short.
	ShortVolume
)

// TestVolume is CIVolume, or ShortVolume under -short.
func TestVolume() VolumeSize {
	if testing.Short() {
		return ShortVolume
	}
	return CIVolume
}

// JobVolume returns a Volume of the given size. What the jobs must find
// (lapsed suspensions, open reservations, prunable CRLs) stays above one
// batch of 500 at every size, so that every job runs more than one.
func JobVolume(size VolumeSize, issuerID string, now time.Time) Volume {
	div := map[VolumeSize]int{FullVolume: 1, CIVolume: 10, ShortVolume: 100}[size]
	return Volume{Now: now, IssuerID: issuerID, Evidence: 400_000 / div, DueEnrollments: 5_000 / div,
		Certificates: 100_000 / div, Lapsed: 1_100, Signatures: 100_000 / div, Open: 1_100,
		CRLs: 20_000 / div, Prunable: 1_100}
}

// PruneCutoff is the nextUpdate cutoff before which exactly Prunable CRLs
// still hold their DER.
func (v Volume) PruneCutoff() time.Time { return v.Now.Add(-23*time.Hour - 30*time.Minute) }

// SpentCutoff is the purge's cutoff (ca.SpentRetention before Now).
func (v Volume) SpentCutoff() time.Time { return v.Now.Add(-24 * time.Hour) }

// LoadVolume fills the database at url with v, server-side, and updates
// the planner's statistics as autovacuum would have.
func LoadVolume(t testing.TB, url string, v Volume) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	fresh := 4 * v.DueEnrollments
	for _, s := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO issuers (id, subject, der) VALUES ($1, 'CN=Volume', '\x30') ON CONFLICT DO NOTHING`, []any{v.IssuerID}},
		{`INSERT INTO enrollments (id, nonce, purpose, profile, created_at, expires_at, used_at)
			SELECT gen_random_uuid(), 'due-' || g, 'issue', 'personal-banking',
				$1::timestamptz - interval '2 days 10 minutes', $1::timestamptz - interval '2 days', $1::timestamptz - interval '2 days 5 minutes'
			FROM generate_series(1, $2::int) g`, []any{v.Now, v.DueEnrollments}},
		{`INSERT INTO enrollments (id, nonce, purpose, profile, created_at, expires_at, used_at)
			SELECT gen_random_uuid(), 'fresh-' || g, 'issue', 'personal-banking',
				$1::timestamptz - interval '1 hour', $1::timestamptz - interval '50 minutes', $1::timestamptz - interval '55 minutes'
			FROM generate_series(1, $2::int) g`, []any{v.Now, fresh}},
		{`INSERT INTO used_evidence (id, kind, enrollment_id, used_at)
			SELECT k || '/' || e.nonce, k, e.id, e.used_at FROM enrollments e CROSS JOIN (VALUES ('phone'), ('account')) AS v(k)`, nil},
		{`INSERT INTO used_evidence (id, kind, enrollment_id, used_at)
			SELECT 'proof/' || g, 'proof', NULL, $1::timestamptz - make_interval(secs => g % 82800)
			FROM generate_series(1, $2::int) g`, []any{v.Now, v.Evidence - 2*(v.DueEnrollments+fresh)}},
		{`INSERT INTO certificates (serial, subject_ref, profile, status, subject_dn, not_before, not_after, spki_sha256,
				key_type, der, issuer_id, operation, revoked_at, revocation_reason, request_id, created_at, updated_at)
			SELECT lpad(to_hex(g), 16, '0'), 'sr-' || g, 'personal-banking',
				CASE WHEN g <= $2 OR g % 10 = 0 THEN 'suspended' ELSE 'active' END,
				'CN=v' || g, $1::timestamptz - interval '8 months', $1::timestamptz + interval '4 months', sha256(('k' || g)::bytea),
				'ecdsa-p256', '\x30', $3, 'issue',
				CASE WHEN g <= $2 THEN $1::timestamptz - interval '7 months' WHEN g % 10 = 0 THEN $1::timestamptz - interval '1 day' END,
				CASE WHEN g <= $2 OR g % 10 = 0 THEN 6 END,
				'req-' || g, $1::timestamptz - interval '8 months', $1::timestamptz - interval '8 months'
			FROM generate_series(1, $4::int) g`, []any{v.Now, v.Lapsed, v.IssuerID, v.Certificates}},
		{`INSERT INTO signatures (issuer_id, kind, serial, purpose, tbs_sha256, state, der, reserved_at, recorded_at, settled_at)
			SELECT $3, 'subscriber', 'ff' || lpad(to_hex(g), 16, '0'), 'issue', sha256(('t' || g)::bytea),
				CASE WHEN g <= $2 THEN 'reserved' ELSE 'issued' END,
				CASE WHEN g <= $2 THEN NULL ELSE '\x30'::bytea END,
				$1::timestamptz - interval '1 hour', clock_timestamp() - interval '1 hour',
				CASE WHEN g <= $2 THEN NULL ELSE $1::timestamptz - interval '1 hour' END
			FROM generate_series(1, $4::int) g`, []any{v.Now, v.Open, v.IssuerID, v.Signatures}},
		{`INSERT INTO crls (issuer_id, number, this_update, next_update, der, der_sha256, entries, pruned_at)
			SELECT $2, g, $1::timestamptz - make_interval(hours => $3 - g + 1), $1::timestamptz - make_interval(hours => $3 - g),
				CASE WHEN g > $3 - $4 - 24 THEN '\x30'::bytea END, sha256('\x30'), 0,
				CASE WHEN g <= $3 - $4 - 24 THEN $1::timestamptz END
			FROM generate_series(1, $3::int) g`, []any{v.Now, v.IssuerID, v.CRLs, v.Prunable}},
		{`ANALYZE`, nil},
	} {
		if _, err := conn.Exec(ctx, s.sql, s.args...); err != nil {
			t.Fatalf("storetest: loading the volume: %v\n%s", err, s.sql)
		}
	}
}
