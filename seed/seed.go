// Package seed fills a Signet database with realistic certificates and
// audit events for development and scale tests: Korean subjects with their
// life cycles over the last two years (issue, renew, reissue, suspend,
// resume, revoke, expiry), refused attempts and auditor reads, loaded with
// COPY. The subjects' subject_ref is the one Signet computes from the dev
// providers' simulated CI, so that an admin search by name and birth date
// finds them.
//
// Like storetest, this is tooling: its SQL (COPY and a few statements) is
// here rather than in package store, which holds the service's SQL.
package seed

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/store"
)

// Options says what to generate.
type Options struct {
	// Certs is the number of certificate rows to add (> 0).
	Certs int
	// EventsPerCert is the average number of audit events per certificate
	// (default 5). Life cycle events come to about 1.1 per certificate;
	// refused attempts and auditor reads make up the rest.
	EventsPerCert float64
	// Progress receives a textual progress bar per phase and a summary;
	// nil discards them.
	Progress io.Writer
	// SubjectKey is the server's subject_ref HMAC key (at least 32 bytes),
	// the same that signetd uses, or searches by name and birth will not
	// find the seeded subjects.
	SubjectKey []byte
	// IssuerID names an existing issuers row. Empty creates (or reuses) a
	// placeholder issuer "seed-placeholder".
	IssuerID string
	// Seed makes the people and life cycles reproducible (0 picks one at
	// random and prints it). Serials, keys and DER bytes are always fresh
	// random, so that seeding twice never collides.
	Seed uint64
}

// PlaceholderIssuerID is the issuer Run creates when Options.IssuerID is empty.
const PlaceholderIssuerID = "seed-placeholder"

// Run adds opts.Certs certificates and about opts.Certs*EventsPerCert audit
// events to the database at dbURL, migrating it first. Everything is
// written in one transaction, so a failed run leaves nothing behind; then
// both tables are vacuumed and analyzed so that the planner and index-only
// scans see the new rows. Subjects already in the database are never drawn
// again, so Run may be repeated to grow a database.
func Run(ctx context.Context, dbURL string, opts Options) error {
	if opts.Certs <= 0 {
		return errors.New("seed: Certs must be positive")
	}
	if len(opts.SubjectKey) < evidence.MinSubjectRefKeyLen {
		return fmt.Errorf("seed: SubjectKey must be the server's subject key (at least %d bytes), e.g. the hex in var/signet/subject.key", evidence.MinSubjectRefKeyLen)
	}
	if opts.EventsPerCert == 0 {
		opts.EventsPerCert = 5
	}
	if opts.EventsPerCert < 0 {
		return errors.New("seed: EventsPerCert must not be negative")
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	out := opts.Progress
	began := time.Now()

	if err := store.MigrateUp(dbURL); err != nil {
		return fmt.Errorf("seed: migrate: %w", err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("seed: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	issuer, err := ensureIssuer(ctx, conn, opts.IssuerID)
	if err != nil {
		return err
	}
	taken, err := existingSubjects(ctx, conn)
	if err != nil {
		return err
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	b := newBar(out, "planning", opts.Certs)
	p, err := newGenerator(opts, now, taken).run(b.set)
	if err != nil {
		return err
	}
	b.done(len(p.certs))

	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Only this transaction's commit waits for the WAL flush; a
		// crash mid-seed loses the seed, never anything else.
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return err
		}
		b := newBar(out, "certificates", len(p.certs))
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"certificates"}, certColumns, newCertSource(p, issuer, now, b))
		if err != nil {
			return fmt.Errorf("seed: copy certificates: %w", err)
		}
		b.done(int(n))
		b = newBar(out, "audit events", len(p.events))
		n, err = tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, eventColumns, newEventSource(p, b))
		if err != nil {
			return fmt.Errorf("seed: copy audit events: %w", err)
		}
		b.done(int(n))
		fmt.Fprintf(out, "%-14s checking constraints and committing...", "commit")
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, " done")

	// VACUUM sets the visibility map (index-only scans) and ANALYZE gives
	// the planner the new distribution; autovacuum would get there later.
	// FREEZE: without it the first VACUUM leaves the pages whose rows the
	// foreign key checks locked (replaces, replaced_by) not all-visible, and
	// it spares a later anti-wraparound pass over gigabytes.
	start := time.Now()
	fmt.Fprintf(out, "%-14s certificates, audit_events...", "vacuum analyze")
	for _, table := range []string{"certificates", "audit_events"} {
		if _, err := conn.Exec(ctx, "VACUUM (FREEZE, ANALYZE) "+table); err != nil {
			return fmt.Errorf("seed: vacuum %s: %w", table, err)
		}
	}
	fmt.Fprintf(out, " %.1fs\n", time.Since(start).Seconds())

	summarize(out, p, opts, time.Since(began))
	return nil
}

func ensureIssuer(ctx context.Context, conn *pgx.Conn, id string) (string, error) {
	if id == "" {
		_, err := conn.Exec(ctx, `INSERT INTO issuers (id, subject, der) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, PlaceholderIssuerID, "CN=Signet Seed Placeholder CA,O=Signet,C=KR", []byte{0x30, 0x00})
		if err != nil {
			return "", fmt.Errorf("seed: placeholder issuer: %w", err)
		}
		return PlaceholderIssuerID, nil
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM issuers WHERE id = $1)`, id).Scan(&ok); err != nil {
		return "", fmt.Errorf("seed: issuer: %w", err)
	}
	if !ok {
		return "", fmt.Errorf("seed: issuer %q is not in the issuers table: start signetd once so that it records its CA, or leave IssuerID empty for a placeholder", id)
	}
	return id, nil
}

func existingSubjects(ctx context.Context, conn *pgx.Conn) (map[string]bool, error) {
	rows, err := conn.Query(ctx, `SELECT DISTINCT subject_ref FROM certificates`)
	if err != nil {
		return nil, fmt.Errorf("seed: read existing subjects: %w", err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("seed: read existing subjects: %w", err)
	}
	taken := make(map[string]bool, len(refs))
	for _, r := range refs {
		taken[r] = true
	}
	return taken, nil
}

func summarize(out io.Writer, p *plan, opts Options, took time.Duration) {
	var status [4]int
	for i := range p.certs {
		status[p.certs[i].status]++
	}
	fmt.Fprintf(out, "seeded %d certificates (%d active, %d suspended, %d revoked, %d expired) of %d subjects and %d audit events in %.1fs (seed %d)\n",
		len(p.certs), status[stActive], status[stSuspended], status[stRevoked], status[stExpired], len(p.people), len(p.events),
		took.Seconds(), opts.Seed)
	for _, who := range p.people[:min(3, len(p.people))] {
		fmt.Fprintf(out, "  try: name=%s birth=%s\n", who.name, who.birth)
	}
}

// Person is a seeded subject, as the dev identity providers know them.
type Person struct{ Name, Birth string }

// People returns the first n subjects that Run with this seed draws, in
// order, provided the database held none of them before (Run skips
// subjects already present). Tests and demos use it to search for seeded
// subjects by name and birth date.
func People(seed uint64, n int) []Person {
	g := newGenerator(Options{Certs: n, EventsPerCert: 1, SubjectKey: make([]byte, evidence.MinSubjectRefKeyLen), Seed: seed}, time.Now(), nil)
	out := make([]Person, 0, n)
	for range n {
		i, _ := g.newPerson()
		out = append(out, Person{Name: g.p.people[i].name, Birth: g.p.people[i].birth})
	}
	return out
}

// Random bytes for serials, keys and DER placeholders: ChaCha8 seeded from
// crypto/rand, fast enough for a gigabyte of placeholder DER.
var (
	bytesMu  sync.Mutex
	bytesRNG = func() *mrand.ChaCha8 {
		var s [32]byte
		_, _ = rand.Read(s[:])
		return mrand.NewChaCha8(s)
	}()
)

func fill(b []byte) {
	bytesMu.Lock()
	_, _ = bytesRNG.Read(b)
	bytesMu.Unlock()
}
