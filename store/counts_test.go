package store_test

import (
	"context"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/internal/kst"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// The counters behind Stats must agree with the rows they count, through
// inserts, status changes, deletes and folds, for ranges that start and end
// on KST midnights, inside days, or not at all.
func TestStatsCounters_AgreeWithTheRowsThroughChangesAndFolds(t *testing.T) {
	db, u := storetest.Open(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	rng := mrand.New(mrand.NewPCG(7, 11))

	now := time.Now()
	today := kstMidnightT(now)
	day := 24 * time.Hour
	// notAfter on either side of every boundary Stats cares about: days
	// long past, yesterday, today before and after now, tomorrow. None
	// within a minute of now, so that the two clocks (Stats' and the
	// oracle's) agree.
	notAfters := []time.Time{
		today.Add(-40 * day), today.Add(-day + time.Hour), today.Add(-time.Second), today,
		now.Add(-time.Hour), now.Add(-2 * time.Minute), now.Add(2 * time.Minute), now.Add(time.Hour),
		today.Add(day - time.Second), today.Add(day), today.Add(300 * day),
	}
	statuses := []string{"active", "active", "active", "suspended", "revoked", "expired"}
	profiles := []string{"personal-banking", "personal-general", "corporate-general"}
	var certs []fixtureCert
	for range 300 {
		certs = append(certs, fixtureCert{serial: randSerial(), subjectRef: "sr1_" + randSerial(),
			profile: profiles[rng.IntN(len(profiles))], status: statuses[rng.IntN(len(statuses))], dn: "CN=x()1",
			created: now.Add(-400 * day), notAfter: notAfters[rng.IntN(len(notAfters))]})
	}
	insertCerts(t, u, certs)

	actions := []string{"issue", "renew", "reissue", "revoke", "suspend", "admin:GetStats"}
	first := today.Add(-6 * day)
	addEvents := func(n int) {
		t.Helper()
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for range n {
				outcome := "ok"
				if rng.IntN(4) == 0 {
					outcome = "refused"
				}
				at := first.Add(time.Duration(rng.Int64N(int64(now.Sub(first)))))
				ev := &store.AuditEvent{At: at, Actor: "signet", Action: actions[rng.IntN(len(actions))], Outcome: outcome}
				if err := tx.AppendAudit(ctx, ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	addEvents(400)
	// Midnight exactly belongs to the day it starts.
	for _, at := range []time.Time{today.Add(-2 * day), today.Add(-2*day - time.Microsecond)} {
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			return tx.AppendAudit(ctx, &store.AuditEvent{At: at, Actor: "signet", Action: "issue", Outcome: "ok"})
		}); err != nil {
			t.Fatal(err)
		}
	}

	ranges := []struct {
		name     string
		from, to time.Time
	}{
		{"open", time.Time{}, time.Time{}},
		{"whole days", today.Add(-5 * day), today.Add(-2 * day)},
		{"one whole day", today.Add(-2 * day), today.Add(-day)},
		{"partial ends", today.Add(-5*day + 5*time.Hour), today.Add(-2*day + 7*time.Hour)},
		{"inside one day", today.Add(-3*day + 5*time.Hour), today.Add(-3*day + 20*time.Hour)},
		{"across one midnight", today.Add(-3*day + 20*time.Hour), today.Add(-2*day + 3*time.Hour)},
		{"empty", today.Add(-3 * day), today.Add(-3 * day)},
		{"reversed", today.Add(-2 * day), today.Add(-3 * day)},
		{"open start", time.Time{}, today.Add(-2*day + time.Hour)},
		{"open end", today.Add(-4*day + 13*time.Hour), time.Time{}},
		{"up to now", today.Add(-day), now.Add(time.Minute)},
	}
	check := func(stage string) {
		t.Helper()
		for _, r := range ranges {
			counts, days, err := db.Stats(ctx, time.Time{}, r.from, r.to)
			if err != nil {
				t.Fatalf("%s, %s: %v", stage, r.name, err)
			}
			if want := oracleStatusCounts(t, conn, time.Now()); !slices.Equal(counts, want) {
				t.Errorf("%s, %s: counts\n%+v\nwant\n%+v", stage, r.name, counts, want)
			}
			days = slices.DeleteFunc(days, func(d store.DayCount) bool { return d == store.DayCount{Day: d.Day} })
			if want := oracleDayCounts(t, conn, r.from, r.to); !slices.Equal(days, want) {
				t.Errorf("%s, %s: days\n%+v\nwant\n%+v", stage, r.name, days, want)
			}
		}
	}
	check("after insert")

	fold := func(stage string) {
		t.Helper()
		n, err := db.FoldCounts(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("%s: folded nothing", stage)
		}
		var left int64
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM certificate_count_deltas) + (SELECT count(*) FROM operation_count_deltas)`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Errorf("%s: %d delta rows left after a fold", stage, left)
		}
		// Days that ended before yesterday share one group.
		var past, collapsed int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE expires_day <> '-infinity'), count(*) FILTER (WHERE expires_day = '-infinity')
			FROM certificate_counts WHERE expires_day < $1`, today.AddDate(0, 0, -1)).Scan(&past, &collapsed); err != nil {
			t.Fatal(err)
		}
		if past != 0 || collapsed == 0 {
			t.Errorf("%s: %d rollup rows for past days, %d collapsed; want 0 and some", stage, past, collapsed)
		}
		check(stage)
	}
	fold("first fold")

	// The changes the life cycle makes, several rows per statement, and
	// one that changes no status (and must move no count).
	for _, sql := range []string{
		`UPDATE certificates SET status = 'revoked', revoked_at = now(), revocation_reason = 1
			WHERE serial IN (SELECT serial FROM certificates WHERE status = 'active' ORDER BY serial LIMIT 20)`,
		`UPDATE certificates SET status = 'suspended', revoked_at = now(), revocation_reason = 6
			WHERE serial IN (SELECT serial FROM certificates WHERE status = 'active' ORDER BY serial DESC LIMIT 15)`,
		`UPDATE certificates SET status = 'active', revoked_at = NULL, revocation_reason = NULL
			WHERE serial IN (SELECT serial FROM certificates WHERE status = 'suspended' ORDER BY serial LIMIT 10)`,
		`UPDATE certificates SET status = 'expired' WHERE status = 'active' AND not_after <= now()`,
		`UPDATE certificates SET updated_at = now()`,
		`DELETE FROM certificates WHERE serial IN (SELECT serial FROM certificates ORDER BY serial LIMIT 7)`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	addEvents(150)
	check("after changes, before the fold")
	fold("second fold")

	more := make([]fixtureCert, 50)
	for i := range more {
		more[i] = fixtureCert{serial: randSerial(), subjectRef: "sr1_" + randSerial(), profile: profiles[i%len(profiles)],
			status: "active", dn: "CN=y()1", created: now, notAfter: notAfters[i%len(notAfters)]}
	}
	insertCerts(t, u, more)
	addEvents(50)
	check("deltas on top of folded counts")
}

func kstMidnightT(t time.Time) time.Time {
	k := t.In(kst.Zone)
	return time.Date(k.Year(), k.Month(), k.Day(), 0, 0, 0, 0, kst.Zone)
}

// oracleStatusCounts counts the certificates themselves, as Stats did
// before it had counters.
func oracleStatusCounts(t *testing.T, conn *pgx.Conn, now time.Time) []store.StatusCount {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT profile,
			CASE WHEN status IN ('active', 'suspended') AND not_after <= $1 THEN 'expired' ELSE status END AS s, count(*)
		FROM certificates GROUP BY 1, 2 ORDER BY 1, 2`, now)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.StatusCount, error) {
		var c store.StatusCount
		err := r.Scan(&c.Profile, &c.Status, &c.Count)
		return c, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// oracleDayCounts bins the events themselves by their KST date.
func oracleDayCounts(t *testing.T, conn *pgx.Conn, from, to time.Time) []store.DayCount {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT at, action FROM audit_events
		WHERE outcome = 'ok' AND action IN ('issue', 'renew', 'reissue', 'revoke')`)
	if err != nil {
		t.Fatal(err)
	}
	byDay := map[string]*store.DayCount{}
	var at time.Time
	var action string
	_, err = pgx.ForEachRow(rows, []any{&at, &action}, func() error {
		if (!from.IsZero() && at.Before(from)) || (!to.IsZero() && !at.Before(to)) {
			return nil
		}
		d := at.In(kst.Zone).Format(time.DateOnly)
		if byDay[d] == nil {
			byDay[d] = &store.DayCount{Day: d}
		}
		switch action {
		case "issue":
			byDay[d].Issued++
		case "renew":
			byDay[d].Renewed++
		case "reissue":
			byDay[d].Reissued++
		case "revoke":
			byDay[d].Revoked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := []store.DayCount{}
	for _, d := range byDay {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b store.DayCount) int { return strings.Compare(a.Day, b.Day) })
	return out
}
