package crl

import (
	"context"
	"testing"
	"time"
)

// BenchmarkGenerate100kRevoked times one full CRL for an issuer with
// 100,000 revoked (some suspended) certificates: the streamed entry read,
// building and signing the DER through softcas, and storing it.
//
//	go test ./crl -run '^$' -bench Generate100kRevoked -benchtime 10x
func BenchmarkGenerate100kRevoked(b *testing.B) {
	const n = 100_000
	e := newEnv(b)
	ctx := context.Background()
	conn := e.conn()
	defer conn.Close(ctx)
	seed := time.Now()
	// One statement seeds every row: 20-byte serials like real ones, a
	// unique key hash each, a spread of subscriber reasons, one in ten
	// on hold, all valid for another 200 days.
	tag, err := conn.Exec(ctx, `INSERT INTO certificates (serial, subject_ref, profile, status, subject_dn,
		not_before, not_after, spki_sha256, key_type, der, issuer_id, operation, revoked_at, revocation_reason,
		request_id)
	SELECT '7' || substr(md5(g::text) || md5('x' || g::text), 1, 39), 'sr_' || g, 'personal-banking',
		CASE WHEN g % 10 = 0 THEN 'suspended' ELSE 'revoked' END, 'CN=bench' || g,
		now() - interval '165 days', now() + interval '200 days', sha256(g::text::bytea), 'rsa2048', '\x00'::bytea,
		$1, 'issue', now() - g * interval '1 minute',
		CASE WHEN g % 10 = 0 THEN 6 ELSE (ARRAY[0, 1, 3, 4, 5, 9])[1 + g % 6] END, 'req-' || g
	FROM generate_series(1, $2::int) AS g`, e.signer.ID(), n)
	if err != nil {
		b.Fatal(err)
	}
	if tag.RowsAffected() != n {
		b.Fatalf("seeded %d rows, want %d", tag.RowsAffected(), n)
	}
	if _, err := conn.Exec(ctx, `ANALYZE certificates`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d revoked certificates in %s", n, time.Since(seed).Round(time.Millisecond))

	g := New(e.db, e.signer, Options{Log: testLog(b, "bench")})
	var bytes, count int
	for b.Loop() {
		s, err := g.Generate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if s.Entries != n {
			b.Fatalf("CRL %d has %d entries, want %d", s.Number, s.Entries, n)
		}
		bytes, count = len(s.DER), count+1
	}
	per := b.Elapsed() / time.Duration(count)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/CRL")
	b.ReportMetric(float64(n)/per.Seconds(), "entries/s")
	b.ReportMetric(float64(bytes), "CRL-bytes")
}
