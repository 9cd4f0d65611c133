package seed_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/evidence/devprovider"
	"github.com/signet-ca/signet/seed"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

var subjectKey = []byte("seed-test subject key, 32+ bytes long")

func TestRun_SeedsAConsistentDatabaseThatTheAuditQueriesSearch(t *testing.T) {
	u := storetest.NewDatabase(t)
	ctx := context.Background()
	var out bytes.Buffer
	const certs, seedValue = 3000, 7
	if err := seed.Run(ctx, u, seed.Options{Certs: certs, Progress: &out, SubjectKey: subjectKey, Seed: seedValue}); err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{"planning", "certificates", "audit events", "vacuum analyze", "seeded 3000 certificates", "100.0%"} {
		if !strings.Contains(out.String(), phase) {
			t.Errorf("progress output lacks %q:\n%s", phase, out.String())
		}
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM certificates`); n != certs {
		t.Fatalf("%d certificates, want %d", n, certs)
	}
	// About 5 events per certificate by default.
	if n := count(`SELECT count(*) FROM audit_events`); n < certs*5*99/100 || n > certs*5*101/100 {
		t.Errorf("%d events, want about %d", n, certs*5)
	}
	// The constraints the schema cannot express, or expresses only as
	// references: chains link both ways and supersession is recorded as
	// the revocation of the old certificate at the new one's creation.
	for _, check := range []struct{ what, sql string }{
		{"one-sided replaced_by", `SELECT count(*) FROM certificates o JOIN certificates n ON n.serial = o.replaced_by
			WHERE n.replaces IS DISTINCT FROM o.serial OR o.status <> 'revoked' OR o.revocation_reason <> 4 OR o.revoked_at <> n.created_at`},
		{"one-sided replaces", `SELECT count(*) FROM certificates n JOIN certificates o ON o.serial = n.replaces
			WHERE o.replaced_by IS DISTINCT FROM n.serial`},
		{"renewal or reissue without predecessor", `SELECT count(*) FROM certificates WHERE operation <> 'issue' AND replaces IS NULL`},
		{"reissue with another notAfter", `SELECT count(*) FROM certificates n JOIN certificates o ON o.serial = n.replaces
			WHERE n.operation = 'reissue' AND n.not_after <> o.not_after`},
		{"renewal outside the 30-day window", `SELECT count(*) FROM certificates n JOIN certificates o ON o.serial = n.replaces
			WHERE n.operation = 'renew' AND (n.created_at < o.not_after - interval '30 days' OR n.created_at > o.not_after)`},
		{"suspension not certificateHold", `SELECT count(*) FROM certificates WHERE status = 'suspended' AND revocation_reason <> 6`},
		{"expired row still valid", `SELECT count(*) FROM certificates WHERE status = 'expired' AND not_after > now()`},
		{"notAfter not 23:59:59 KST", `SELECT count(*) FROM certificates WHERE to_char(not_after AT TIME ZONE 'Asia/Seoul', 'HH24:MI:SS') <> '23:59:59'`},
		{"created in the future or > 2 years ago", `SELECT count(*) FROM certificates WHERE created_at > now() OR created_at < now() - interval '2 years 1 day'`},
		{"serial not 20-byte hex", `SELECT count(*) FROM certificates WHERE serial !~ '^[1-7][0-9a-f]{39}$' AND serial !~ '^[1-9a-f][0-9a-f]{38}$'`},
		{"events naming unknown serials", `SELECT count(*) FROM audit_events e WHERE serial IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = e.serial)`},
		{"event ids not in time order", `SELECT count(*) FROM (SELECT at < lag(at) OVER (ORDER BY id) AS back FROM audit_events) s WHERE back`},
		{"subject DN not NPKI", `SELECT count(*) FROM certificates WHERE subject_dn !~ '^CN=[^,()]+\(\)00[0-9]{18},OU=[A-Za-z]+,OU=[a-zA-Z0-9]+,O=Signet,C=KR$'`},
		{"issue event of another request", `SELECT count(*) FROM audit_events e JOIN certificates c ON c.serial = e.serial
			WHERE e.action IN ('issue', 'renew', 'reissue') AND e.outcome = 'ok' AND e.request_id <> c.request_id`},
	} {
		if n := count(check.sql); n != 0 {
			t.Errorf("%s: %d rows", check.what, n)
		}
	}
	for _, st := range []string{"active", "suspended", "revoked", "expired"} {
		if count(`SELECT count(*) FROM certificates WHERE status = $1`, st) == 0 {
			t.Errorf("no %s certificate among %d", st, certs)
		}
	}
	for _, kind := range []string{"issue", "renew", "reissue", "revoke", "suspend", "resume", "expire", "admin:GetCertificateHistory"} {
		if count(`SELECT count(*) FROM audit_events WHERE action = $1 AND outcome = 'ok'`, kind) == 0 {
			t.Errorf("no successful %s event", kind)
		}
	}
	if count(`SELECT count(*) FROM audit_events WHERE outcome = 'refused'`) == 0 {
		t.Error("no refused attempt")
	}

	// The admin search by name and birth date: the handler computes the
	// subject_ref from the simulated CI, as signetd --dev does.
	db, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range seed.People(seedValue, 20) {
		ref, err := evidence.SubjectRef(subjectKey, devprovider.SimulatedCI(p.Name, p.Birth))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := db.SearchCertificates(ctx, store.CertFilter{SubjectRef: ref})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			t.Fatalf("%s %s: no certificate found by subject_ref", p.Name, p.Birth)
		}
		byName, _, err := db.SearchCertificates(ctx, store.CertFilter{SubjectName: p.Name, PageSize: store.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got {
			if !strings.HasPrefix(c.SubjectDN, "CN="+p.Name+"()") {
				t.Errorf("%s: DN %s", p.Name, c.SubjectDN)
			}
			found := false
			for _, b := range byName {
				found = found || b.Serial == c.Serial
			}
			if !found {
				t.Errorf("%s: %s not found by name", p.Name, c.Serial)
			}
			certs, events, err := db.CertificateHistory(ctx, store.HistoryKey{Serial: c.Serial})
			if err != nil || len(certs) == 0 || len(events) == 0 {
				t.Errorf("history of %s: %d certificates, %d events, err %v", c.Serial, len(certs), len(events), err)
			}
		}
	}
	counts, _, err := db.Stats(ctx, time.Time{}, time.Now().AddDate(0, -1, 0), time.Now())
	if err != nil || len(counts) < 8 {
		t.Errorf("stats: %v, %v", counts, err)
	}

	// A second run grows the database without colliding with the first
	// (same seed: every subject of the first run is skipped).
	if err := seed.Run(ctx, u, seed.Options{Certs: 500, EventsPerCert: 2, SubjectKey: subjectKey, Seed: seedValue}); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM certificates`); n != certs+500 {
		t.Errorf("after a second run: %d certificates, want %d", n, certs+500)
	}
}

func TestRun_RefusesBadOptions(t *testing.T) {
	u := storetest.NewDatabase(t)
	ctx := context.Background()
	for _, o := range []seed.Options{
		{Certs: 0, SubjectKey: subjectKey},
		{Certs: 10, SubjectKey: []byte("short")},
		{Certs: 10, SubjectKey: subjectKey, EventsPerCert: -1},
		{Certs: 10, SubjectKey: subjectKey, IssuerID: "no-such-issuer"},
	} {
		if err := seed.Run(ctx, u, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestPeople_Reproducible(t *testing.T) {
	a, b := seed.People(42, 50), seed.People(42, 50)
	seen := map[seed.Person]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("person %d differs: %v, %v", i, a[i], b[i])
		}
		if err := evidence.ValidName(a[i].Name); err != nil {
			t.Error(err)
		}
		if err := evidence.ValidBirth(a[i].Birth); err != nil {
			t.Error(err)
		}
		if seen[a[i]] {
			t.Errorf("%v twice", a[i])
		}
		seen[a[i]] = true
	}
}
