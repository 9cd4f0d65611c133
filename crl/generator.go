// Package crl publishes Signet's certificate revocation lists (RFC 5280
// section 5): one complete v2 CRL per issuing CA, signed through the CAS
// backend, numbered and kept in PostgreSQL, and served over HTTP by every
// replica. One replica at a time generates; the others only serve.
//
// All SQL is in package store (store/crl.go).
package crl

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
)

// Options tune a Generator. Zero values take the defaults.
type Options struct {
	// NextUpdate is how long a CRL is valid: nextUpdate = thisUpdate +
	// NextUpdate (RFC 5280 5.1.2.5). Default 24 h.
	NextUpdate time.Duration
	// Interval is how often the leader generates a CRL even without any
	// status change, so that relying parties always find a fresh one well
	// before nextUpdate. Default 1 h.
	Interval time.Duration
	// Debounce is how long the leader waits after a status change before it
	// generates, so that a burst of revocations yields one CRL. A change
	// is on a published CRL within Debounce plus one generation. Default 2 s.
	Debounce time.Duration
	// Retention is how long a CRL's DER is kept after its nextUpdate has
	// passed; then the leader drops it, keeping the row and the DER's
	// SHA-256 (store.PruneCRLs). The latest CRL is always kept. Default 7
	// days.
	Retention time.Duration
	// Retry is how often a replica that does not lead tries to take the
	// lead, and how often the leader checks that the connection holding
	// its lock is alive. Default 5 s.
	Retry time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log receives leadership changes, each generated CRL and errors;
	// default slog.Default().
	Log *slog.Logger
	// Observe is told how long each Generate took and whether it failed
	// (package metrics); nil: nobody.
	Observe func(took time.Duration, err error)
}

// Stored is a CRL that was signed and committed.
type Stored struct {
	IssuerID   string
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    int
	DER        []byte
}

// Generator makes the CRLs of one issuing CA.
type Generator struct {
	db     *store.DB
	signer *signer.Signer
	opts   Options

	issuerKnown atomic.Bool
	// generated counts this Generator's committed CRLs, for tests and logs.
	generated atomic.Int64
	leader    *store.Leadership
}

// New returns a Generator for signer's issuing CA. It does nothing until
// Run or Generate is called.
func New(db *store.DB, signer *signer.Signer, opts Options) *Generator {
	if opts.NextUpdate <= 0 {
		opts.NextUpdate = 24 * time.Hour
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Hour
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 2 * time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.Retry <= 0 {
		opts.Retry = store.LeaderRetry
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Observe == nil {
		opts.Observe = func(time.Duration, error) {}
	}
	opts.Log = opts.Log.With("issuer", signer.ID())
	if opts.Interval >= opts.NextUpdate {
		// A new CRL must be out before the current one's nextUpdate
		// (RFC 5280 5.1.2.5), with room for a failed attempt or two.
		opts.Log.Warn("crl: Interval is not shorter than NextUpdate; using half of NextUpdate",
			"interval", opts.Interval, "next_update", opts.NextUpdate)
		opts.Interval = opts.NextUpdate / 2
	}
	g := &Generator{db: db, signer: signer, opts: opts}
	g.leader = &store.Leadership{Name: "crl", Retry: opts.Retry, Log: opts.Log,
		Try: func(ctx context.Context) (*store.LeaderLock, error) {
			return db.TryCRLLeader(ctx, signer.ID(), opts.Retry)
		}}
	return g
}

// Generate signs and stores a new CRL now, whether or not this replica
// leads. The number is allocated in the transaction that inserts the CRL,
// under a per-issuer lock, so concurrent calls on any number of replicas
// produce strictly increasing numbers (RFC 5280 5.2.3).
func (g *Generator) Generate(ctx context.Context) (_ *Stored, err error) {
	start := time.Now()
	defer func() { g.opts.Observe(time.Since(start), err) }()
	issuerID := g.signer.ID()
	if !g.issuerKnown.Load() {
		// crls.issuer_id references issuers; the server records its issuer
		// at start too, this only makes the Generator usable on its own.
		iss := g.signer.Issuer()
		if err := g.db.UpsertIssuer(ctx, issuerID, iss.Subject.String(), iss.Raw); err != nil {
			return nil, fmt.Errorf("crl: record issuer: %w", err)
		}
		g.issuerKnown.Store(true)
	}
	// Boulder's order, as for certificates: the number and the inputs are
	// recorded in the ledger and committed, the CA key signs outside any
	// transaction, then the CRL is stored. A CRL that fails after signing
	// stays in the ledger as undelivered; its number is never reused.
	var rl *x509.RevocationList
	var reservation *store.Signature
	err = g.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.LockCRLIssuer(ctx, issuerID); err != nil {
			return err
		}
		number, last, err := tx.NextCRLNumber(ctx, issuerID)
		if err != nil {
			return err
		}
		// The clock is read under the lock, so that a later number never
		// carries an earlier thisUpdate. X.509 times have whole seconds
		// (RFC 5280 5.1.2.4), so the stored time is the signed one. Should
		// this replica's clock be behind the one that signed the previous
		// CRL, thisUpdate stays where that one left it.
		now := g.opts.Now().UTC().Truncate(time.Second)
		if now.Before(last) {
			now = last
		}
		var entries []x509.RevocationListEntry
		err = tx.CRLEntries(ctx, issuerID, now, func(e store.CRLEntry) error {
			serial, err := parseSerial(e.Serial)
			if err != nil {
				return err
			}
			entries = append(entries, x509.RevocationListEntry{
				SerialNumber:   serial,
				RevocationTime: e.RevokedAt,
				// Go omits the reasonCode extension for 0, as RFC 5280
				// 5.3.1 asks ("unspecified ... SHOULD be absent").
				ReasonCode: entryReason(e),
			})
			return nil
		})
		if err != nil {
			return fmt.Errorf("read entries: %w", err)
		}
		rl = &x509.RevocationList{
			Number:                    big.NewInt(number),
			ThisUpdate:                now,
			NextUpdate:                now.Add(g.opts.NextUpdate),
			RevokedCertificateEntries: entries,
		}
		reservation = &store.Signature{IssuerID: issuerID, Kind: string(signer.CRL), CRLNumber: number,
			Purpose: "crl", Actor: "signet", TBSSHA256: inputDigest(rl), ReservedAt: g.opts.Now()}
		return tx.ReserveSignature(ctx, reservation)
	})
	if err != nil {
		return nil, fmt.Errorf("crl: generate for issuer %s: %w", issuerID, err)
	}
	// Go writes a v2 CRL with the issuer's subject, an authority key
	// identifier from its subjectKeyIdentifier (RFC 5280 5.2.1, a MUST)
	// and the cRLNumber extension (5.2.3, a MUST).
	der, err := g.signer.SignCRL(reservation.ID, rl)
	if err != nil {
		g.settleFailed(ctx, reservation.ID, nil, err)
		return nil, fmt.Errorf("crl: generate for issuer %s: %w", issuerID, err)
	}
	number := rl.Number.Int64()
	entries := len(rl.RevokedCertificateEntries)
	err = g.db.InTx(ctx, func(tx *store.Tx) error {
		row := &store.CRL{IssuerID: issuerID, Number: number, ThisUpdate: rl.ThisUpdate, NextUpdate: rl.NextUpdate,
			DER: der, Entries: entries}
		if err := tx.InsertCRL(ctx, row); err != nil {
			return err
		}
		return tx.SettleSignature(ctx, reservation.ID, store.SigIssued, der, "", g.opts.Now())
	})
	if err != nil {
		g.settleFailed(ctx, reservation.ID, der, err)
		return nil, fmt.Errorf("crl: store CRL %d for issuer %s: %w", number, issuerID, err)
	}
	out := &Stored{IssuerID: issuerID, Number: number, ThisUpdate: rl.ThisUpdate, NextUpdate: rl.NextUpdate,
		Entries: entries, DER: der}
	g.generated.Add(1)
	g.opts.Log.Info("crl generated", "number", out.Number, "entries", out.Entries, "bytes", len(out.DER),
		"next_update", out.NextUpdate, "took", time.Since(start).Round(time.Millisecond))
	return out, nil
}

// Run keeps the issuer's CRL current until ctx ends. Among all replicas
// that run it, the one holding a session-level PostgreSQL advisory lock
// leads; the others try again every Retry and take over when the leader's
// session ends (its process died or its ctx was cancelled).
func (g *Generator) Run(ctx context.Context) { g.leader.Run(ctx, g.lead) }

// Leading reports whether this replica generates the CRLs now.
func (g *Generator) Leading() bool { return g.leader.Leading() }

// Interval is how often the leader generates a CRL at the latest: a CRL
// older than that means nobody leads or generation fails.
func (g *Generator) Interval() time.Duration { return g.opts.Interval }

// lead generates while the lock is held: at once if the stored CRL is not
// current, every Interval, and Debounce after a status change.
func (g *Generator) lead(parent context.Context, lock *store.LeaderLock) {
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		select {
		case <-lock.Lost():
			g.opts.Log.Warn("crl: lost the connection holding the lead")
			cancel()
		case <-ctx.Done():
		}
	})

	// A notification only wakes the loop; one pending wake-up is enough
	// to coalesce a burst.
	kick := make(chan struct{}, 1)
	wake := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	ready := make(chan struct{})
	var listened sync.Once
	wg.Go(func() {
		g.db.Listen(ctx, store.StatusChannel, func() {
			first := false
			listened.Do(func() { close(ready); first = true })
			if !first {
				// Changes committed while reconnecting were not heard.
				wake()
			}
		}, func(string) { wake() })
	})
	// Listen first, then look at the stored CRL: a change committed after
	// the look is heard, one committed before it is seen.
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}

	periodic := time.NewTimer(g.dueIn(ctx))
	defer periodic.Stop()
	debounce := time.NewTimer(0)
	debounce.Stop()
	debouncing := false
	generate := func() {
		if _, err := g.Generate(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			g.opts.Log.Error("crl: generation failed, retrying", "err", err, "retry_in", g.opts.Retry)
			periodic.Reset(min(g.opts.Retry, g.opts.Interval))
			return
		}
		periodic.Reset(g.opts.Interval)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
			// The first change of a burst starts the clock; later ones ride
			// along. A change heard while generating starts a new round,
			// since that CRL may have been read before it committed.
			if !debouncing {
				debouncing = true
				debounce.Reset(g.opts.Debounce)
			}
		case <-debounce.C:
			debouncing = false
			generate()
		case <-periodic.C:
			generate()
			g.prune(ctx)
		}
	}
}

// pruneBatch bounds one prune transaction: each pruned CRL frees
// megabytes, and short transactions keep the vacuum debt of each small.
const pruneBatch = 500

// Prune drops the DER of the issuer's CRLs that have been past their
// nextUpdate for Retention, in batches, and returns how many it pruned.
// Each batch leaves a "crl_prune" audit event naming the CRL numbers in
// its transaction. The leader runs it with the periodic generation.
func (g *Generator) Prune(ctx context.Context) (int, error) {
	total := 0
	for {
		var numbers []int64
		err := g.db.InTx(ctx, func(tx *store.Tx) error {
			now := g.opts.Now().UTC()
			cutoff := now.Add(-g.opts.Retention)
			var err error
			numbers, err = tx.PruneCRLs(ctx, g.signer.ID(), cutoff, now, pruneBatch)
			if err != nil || len(numbers) == 0 {
				return err
			}
			return tx.AppendAudit(ctx, &store.AuditEvent{At: now, Actor: "signet", Action: "crl_prune", Outcome: "ok",
				Details: map[string]any{"issuer": g.signer.ID(), "crls": len(numbers), "first": numbers[0],
					"last": numbers[len(numbers)-1], "before": cutoff, "kept": "number, times, entries, DER SHA-256"}})
		})
		total += len(numbers)
		if err != nil || len(numbers) < pruneBatch {
			return total, err
		}
	}
}

func (g *Generator) prune(ctx context.Context) {
	n, err := g.Prune(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		g.opts.Log.Error("crl: prune old CRLs", "err", err)
	case n > 0:
		g.opts.Log.Info("crl: pruned old CRLs", "count", n, "retention", g.opts.Retention)
	}
}

// dueIn tells how long the stored CRL stays current: zero if there is
// none, if it is Interval old, or if it no longer lists what the database
// says (a change committed while no replica was listening, e.g. during a
// takeover); otherwise the rest of its Interval.
func (g *Generator) dueIn(ctx context.Context) time.Duration {
	latest, err := g.db.LatestCRL(ctx, g.signer.ID())
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err != nil {
		g.opts.Log.Warn("crl: cannot read the latest CRL, generating", "err", err)
		return 0
	}
	now := g.opts.Now()
	age := now.Sub(latest.ThisUpdate)
	if age >= g.opts.Interval {
		return 0
	}
	same, err := g.sameEntries(ctx, latest, now)
	if err != nil {
		g.opts.Log.Warn("crl: cannot compare the latest CRL with the database, generating", "err", err)
		return 0
	}
	if !same {
		return 0
	}
	return g.opts.Interval - max(age, 0)
}

type entryKey struct {
	unix   int64
	reason int
}

var errDiffers = errors.New("differs")

// sameEntries reports whether the CRL lists exactly the entries that a CRL
// made now would list, with the same times and reasons.
func (g *Generator) sameEntries(ctx context.Context, stored *store.CRL, now time.Time) (bool, error) {
	rl, err := x509.ParseRevocationList(stored.DER)
	if err != nil {
		return false, err
	}
	listed := make(map[string]entryKey, len(rl.RevokedCertificateEntries))
	for _, e := range rl.RevokedCertificateEntries {
		listed[e.SerialNumber.Text(16)] = entryKey{e.RevocationTime.Unix(), e.ReasonCode}
	}
	seen := 0
	err = g.db.CRLEntries(ctx, g.signer.ID(), now, func(e store.CRLEntry) error {
		serial, err := parseSerial(e.Serial)
		if err != nil {
			return errDiffers
		}
		// Compare at the CRL's whole-second precision.
		if k, ok := listed[serial.Text(16)]; !ok || k != (entryKey{e.RevokedAt.Unix(), entryReason(e)}) {
			return errDiffers
		}
		seen++
		return nil
	})
	if errors.Is(err, errDiffers) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return seen == len(listed), nil
}

// parseSerial reads a serial as stored (lower-case hex, no leading zeros).
// hex.DecodeString is several times faster than big.Int.SetString, which
// counts at 100,000 entries.
func parseSerial(s string) (*big.Int, error) {
	if len(s)%2 == 1 {
		s = "0" + s
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("certificate serial %q is not hex", s)
	}
	return new(big.Int).SetBytes(b), nil
}

// settleFailed records a CRL that was not stored: undelivered when it was
// signed, abandoned when the key never signed. If the database is away,
// recovery settles the open reservation later.
func (g *Generator) settleFailed(ctx context.Context, id int64, der []byte, cause error) {
	state := store.SigUndelivered
	if der == nil {
		state = store.SigAbandoned
	}
	if err := g.db.SettleSignature(context.WithoutCancel(ctx), id, state, der, cause.Error(), g.opts.Now()); err != nil {
		g.opts.Log.Error("crl: settle the ledger row of a failed CRL; recovery will", "ledger_id", id, "err", err)
	}
}

// inputDigest is what the ledger records of a CRL before it is signed:
// SHA-256 over its number, times and entries, in order.
func inputDigest(rl *x509.RevocationList) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "crl|%s|%d|%d|", rl.Number, rl.ThisUpdate.Unix(), rl.NextUpdate.Unix())
	for _, e := range rl.RevokedCertificateEntries {
		fmt.Fprintf(h, "%s,%d,%d;", e.SerialNumber.Text(16), e.RevocationTime.UnixMicro(), e.ReasonCode)
	}
	return h.Sum(nil)
}

// entryReason is the reasonCode a CRL lists for an entry: certificateHold
// for a suspension, the recorded reason for a revocation.
func entryReason(e store.CRLEntry) int {
	r, _ := crlreason.ForStatus(e.Status, e.Reason)
	return r
}
