// Command auditq measures the audit queries of package store at scale:
// it seeds an empty database (1,000,000 certificates and 5,000,000 audit
// events by default, timing the seeding), prints the EXPLAIN (ANALYZE,
// BUFFERS) plan of every statement of each query kind, then runs each
// kind with randomized arguments and prints p50/p95/p99 latencies.
//
//	createdb -h 127.0.0.1 -U postgres signet_bench
//	SIGNET_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/signet_bench?sslmode=disable go run ./bench/auditq
//
// A database that already holds certificates is measured as it is (no
// seeding), so the seed is paid once. It is a main package without tests:
// `make test` never runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/evidence/devprovider"
	"github.com/signet-ca/signet/seed"
	"github.com/signet-ca/signet/store"
)

// benchKey is the subject key of the benchmark database; the "by subject"
// kind derives subject_refs from seeded names and birth dates with it.
var benchKey = []byte("signet bench subject key (not a secret, 32+ bytes)")

func main() {
	certs := flag.Int("certs", 1_000_000, "certificates to seed into an empty database")
	perCert := flag.Float64("events-per-cert", 5, "audit events per certificate")
	runs := flag.Int("runs", 200, "measured runs per query kind")
	explain := flag.Bool("explain", true, "print the plan of each query kind")
	only := flag.String("only", "", "run only kinds whose name contains this")
	seedValue := flag.Uint64("seed", 1, "generator seed")
	flag.Parse()
	url := os.Getenv("SIGNET_BENCH_DATABASE_URL")
	if url == "" {
		fmt.Fprintln(os.Stderr, "auditq: set SIGNET_BENCH_DATABASE_URL to an empty database, e.g. postgres://postgres@127.0.0.1:5432/signet_bench?sslmode=disable")
		os.Exit(2)
	}
	if err := run(context.Background(), url, *certs, *perCert, *runs, *explain, *only, *seedValue); err != nil {
		fmt.Fprintln(os.Stderr, "auditq:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, certs int, perCert float64, runs int, explain bool, only string, seedValue uint64) error {
	if err := store.MigrateUp(url); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var have, events int64
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM certificates), (SELECT count(*) FROM audit_events)`).Scan(&have, &events); err != nil {
		return err
	}
	if have == 0 {
		fmt.Printf("seeding %d certificates, %.1f events each\n", certs, perCert)
		start := time.Now()
		if err := seed.Run(ctx, url, seed.Options{Certs: certs, EventsPerCert: perCert, Progress: os.Stdout, SubjectKey: benchKey, Seed: seedValue}); err != nil {
			return err
		}
		fmt.Printf("SEEDING TIME: %.1fs\n\n", time.Since(start).Seconds())
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM certificates), (SELECT count(*) FROM audit_events)`).Scan(&have, &events); err != nil {
			return err
		}
	} else {
		fmt.Printf("database holds %d certificates already: measuring it as it is (no seeding)\n", have)
	}
	fmt.Printf("database: %d certificates, %d audit events\n", have, events)
	var version, sizes string
	_ = conn.QueryRow(ctx, `SELECT version()`).Scan(&version)
	_ = conn.QueryRow(ctx, `SELECT pg_size_pretty(pg_total_relation_size('certificates')) || ' certificates, ' ||
		pg_size_pretty(pg_total_relation_size('audit_events')) || ' audit_events (with indexes)'`).Scan(&sizes)
	fmt.Printf("%s\n%s\n\n", version, sizes)

	s, err := sample(ctx, conn, seedValue)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	// A running signetd folds the stats counters every 10 s; measure that
	// steady state, not the deltas the seed's COPY left.
	start := time.Now()
	folded, err := db.FoldCounts(ctx, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("folded %d counter delta rows in %s\n\n", folded, time.Since(start).Round(time.Millisecond))

	kinds := queryKinds(db, s)
	if only != "" {
		kinds = slices.DeleteFunc(kinds, func(k kind) bool { return !strings.Contains(k.name, only) })
	}
	if explain {
		for _, k := range kinds {
			fmt.Printf("==== %s\n", k.name)
			r := rand.New(rand.NewPCG(99, 1))
			ectx := store.WithExplain(ctx, func(sql, plan string) {
				fmt.Printf("-- %s\n%s\n\n", oneLine(sql), plan)
			})
			if _, err := k.run(ectx, r); err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
		}
	}

	type result struct {
		name               string
		p50, p95, p99, max time.Duration
		rows               float64
	}
	var results []result
	for _, k := range kinds {
		r := rand.New(rand.NewPCG(seedValue, uint64(len(k.name))))
		for range 10 { // warm-up, not counted
			if _, err := k.run(ctx, r); err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
		}
		durations := make([]time.Duration, 0, runs)
		rows := 0
		for range runs {
			start := time.Now()
			n, err := k.run(ctx, r)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			durations = append(durations, time.Since(start))
			rows += n
		}
		slices.Sort(durations)
		q := func(p float64) time.Duration { return durations[min(len(durations)-1, int(p*float64(len(durations))))] }
		results = append(results, result{k.name, q(0.50), q(0.95), q(0.99), durations[len(durations)-1], float64(rows) / float64(runs)})
		fmt.Fprintf(os.Stderr, "%-34s p95 %7.2f ms\n", k.name, ms(q(0.95)))
	}
	fmt.Printf("\n%d runs per kind after 10 warm-up runs; page size %d; times include the round trip and row decoding\n\n", runs, store.DefaultPageSize)
	fmt.Printf("| query kind | p50 ms | p95 ms | p99 ms | max ms | rows/call |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		flag := ""
		if r.p95 > 50*time.Millisecond {
			flag = " ⚠"
		}
		fmt.Printf("| %s%s | %.2f | %.2f | %.2f | %.2f | %.1f |\n", r.name, flag, ms(r.p50), ms(r.p95), ms(r.p99), ms(r.max), r.rows)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// samples are real values from the database for randomized arguments.
type samples struct {
	serials, names, actors, actions, subjectRefs []string
	first, last                                  time.Time
}

var (
	profiles = []string{"personal-banking", "personal-general", "corporate-banking", "corporate-general"}
	statuses = []string{"active", "suspended", "revoked", "expired"}
)

func sample(ctx context.Context, conn *pgx.Conn, seedValue uint64) (*samples, error) {
	s := &samples{}
	rows, err := conn.Query(ctx, `SELECT serial, split_part(split_part(subject_dn, '()', 1), 'CN=', 2)
		FROM certificates TABLESAMPLE BERNOULLI (0.1) REPEATABLE (1) LIMIT 2000`)
	if err != nil {
		return nil, err
	}
	var serial, name string
	if _, err := pgx.ForEachRow(rows, []any{&serial, &name}, func() error {
		s.serials = append(s.serials, serial)
		s.names = append(s.names, name)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(s.serials) == 0 {
		return nil, fmt.Errorf("no certificates sampled")
	}
	// Distinct values through the indexes, one skip at a time.
	for _, col := range []string{"actor", "action"} {
		rows, err := conn.Query(ctx, `WITH RECURSIVE d(v) AS (
			SELECT min(`+col+`) FROM audit_events
			UNION ALL SELECT (SELECT min(`+col+`) FROM audit_events WHERE `+col+` > d.v) FROM d WHERE d.v IS NOT NULL)
			SELECT v FROM d WHERE v IS NOT NULL`)
		if err != nil {
			return nil, err
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		if col == "actor" {
			s.actors = vals
		} else {
			s.actions = vals
		}
	}
	if err := conn.QueryRow(ctx, `SELECT min(at), max(at) FROM audit_events`).Scan(&s.first, &s.last); err != nil {
		return nil, err
	}
	// Subjects as an auditor names them: name and birth date, turned into
	// subject_ref by the handler with the server's key.
	for _, p := range seed.People(seedValue, 500) {
		ref, err := evidence.SubjectRef(benchKey, devprovider.SimulatedCI(p.Name, p.Birth))
		if err != nil {
			return nil, err
		}
		s.subjectRefs = append(s.subjectRefs, ref)
	}
	fmt.Printf("sampled %d serials, %d actors, %d actions; events from %s to %s\n\n", len(s.serials), len(s.actors),
		len(s.actions), s.first.Format(time.DateOnly), s.last.Format(time.DateOnly))
	return s, nil
}

type kind struct {
	name string
	run  func(ctx context.Context, r *rand.Rand) (rows int, err error)
}

func queryKinds(db *store.DB, s *samples) []kind {
	pickOf := func(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }
	search := func(f func(r *rand.Rand) store.CertFilter) func(context.Context, *rand.Rand) (int, error) {
		return func(ctx context.Context, r *rand.Rand) (int, error) {
			certs, _, err := db.SearchCertificates(ctx, f(r))
			return len(certs), err
		}
	}
	events := func(f func(r *rand.Rand) store.EventFilter) func(context.Context, *rand.Rand) (int, error) {
		return func(ctx context.Context, r *rand.Rand) (int, error) {
			evs, _, err := db.ListAuditEvents(ctx, f(r))
			return len(evs), err
		}
	}
	// A random instant in the seeded span, leaving room for a window.
	instant := func(r *rand.Rand, room time.Duration) time.Time {
		span := s.last.Sub(s.first) - room
		return s.first.Add(time.Duration(r.Int64N(int64(span))))
	}
	day := 24 * time.Hour
	// Page 100 of a listing, from its token: keyset pagination costs the
	// same at any depth (the tokens are made once, before the runs).
	var deepPages []store.CertFilter
	for _, st := range []string{"active", "revoked"} {
		for _, p := range profiles[:2] {
			f := store.CertFilter{Status: st, Profile: p}
			for range 99 {
				_, next, err := db.SearchCertificates(context.Background(), f)
				if err != nil || next == "" {
					break
				}
				f.PageToken = next
			}
			deepPages = append(deepPages, f)
		}
	}
	deep := search(func(r *rand.Rand) store.CertFilter { return deepPages[r.IntN(len(deepPages))] })
	return []kind{
		{"search by serial", search(func(r *rand.Rand) store.CertFilter { return store.CertFilter{Serial: pickOf(r, s.serials)} })},
		{"search by subject (name+birth)", search(func(r *rand.Rand) store.CertFilter {
			return store.CertFilter{SubjectRef: pickOf(r, s.subjectRefs)}
		})},
		{"search by name", search(func(r *rand.Rand) store.CertFilter { return store.CertFilter{SubjectName: pickOf(r, s.names)} })},
		{"search by status+profile", search(func(r *rand.Rand) store.CertFilter {
			return store.CertFilter{Status: pickOf(r, statuses), Profile: pickOf(r, profiles)}
		})},
		{"search by status (expired)", search(func(r *rand.Rand) store.CertFilter { return store.CertFilter{Status: "expired"} })},
		{"search issued between (7 d)", search(func(r *rand.Rand) store.CertFilter {
			from := instant(r, 7*day)
			return store.CertFilter{IssuedFrom: from, IssuedTo: from.Add(7 * day)}
		})},
		{"search expiring within 30 d", search(func(r *rand.Rand) store.CertFilter {
			f := store.CertFilter{ExpiringWithinDays: 30}
			if r.IntN(2) == 0 {
				f.Profile = pickOf(r, profiles)
			}
			return f
		})},
		{"search expires between (30 d)", search(func(r *rand.Rand) store.CertFilter {
			from := instant(r, 0).AddDate(0, 6, 0)
			return store.CertFilter{ExpiresFrom: from, ExpiresTo: from.Add(30 * day)}
		})},
		{"search page 100 (status+profile)", deep},
		{"history by serial", func(ctx context.Context, r *rand.Rand) (int, error) {
			certs, evs, err := db.CertificateHistory(ctx, store.HistoryKey{Serial: pickOf(r, s.serials)})
			return len(certs) + len(evs), err
		}},
		{"events by actor", events(func(r *rand.Rand) store.EventFilter { return store.EventFilter{Actor: pickOf(r, s.actors)} })},
		{"events by action", events(func(r *rand.Rand) store.EventFilter { return store.EventFilter{Action: pickOf(r, s.actions)} })},
		{"events by serial", events(func(r *rand.Rand) store.EventFilter { return store.EventFilter{Serial: pickOf(r, s.serials)} })},
		{"events refused, by reason", events(func(r *rand.Rand) store.EventFilter {
			return store.EventFilter{Outcome: "refused", Reason: pickOf(r, []string{"already_active", "bad_proof", "not_suspended", "role"})}
		})},
		{"events time range (1 d)", events(func(r *rand.Rand) store.EventFilter {
			from := instant(r, day)
			return store.EventFilter{From: from, To: from.Add(day)}
		})},
		{"events time range (30 d)", events(func(r *rand.Rand) store.EventFilter {
			from := instant(r, 30*day)
			return store.EventFilter{From: from, To: from.Add(30 * day)}
		})},
		{"events actor+action+time (30 d)", events(func(r *rand.Rand) store.EventFilter {
			from := instant(r, 30*day)
			return store.EventFilter{Actor: pickOf(r, s.actors), Action: pickOf(r, s.actions), From: from, To: from.Add(30 * day)}
		})},
		{"stats (30 d of days)", func(ctx context.Context, r *rand.Rand) (int, error) {
			from := instant(r, 30*day)
			counts, days, err := db.Stats(ctx, time.Time{}, from, from.Add(30*day))
			return len(counts) + len(days), err
		}},
		{"stats (whole 2 years of days)", func(ctx context.Context, r *rand.Rand) (int, error) {
			counts, days, err := db.Stats(ctx, time.Time{}, s.first, s.last.Add(time.Second))
			return len(counts) + len(days), err
		}},
	}
}
