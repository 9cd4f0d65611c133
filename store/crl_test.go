package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

func TestCRLMigration_DownAndUpAgain(t *testing.T) {
	u := storetest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exists := func() (table, index bool) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT to_regclass('crls') IS NOT NULL,
			to_regclass('certificates_crl_entries') IS NOT NULL`).Scan(&table, &index); err != nil {
			t.Fatal(err)
		}
		return table, index
	}
	if table, index := exists(); !table || !index {
		t.Fatalf("after up: crls %v, certificates_crl_entries %v; want both", table, index)
	}
	m, err := store.NewMigrator(u)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Step down past 0002 whatever later migrations exist.
	for {
		v, dirty, err := m.Version()
		if err != nil || dirty {
			t.Fatalf("version %d dirty=%v err=%v", v, dirty, err)
		}
		if v < 2 {
			break
		}
		if err := m.Down(); err != nil {
			t.Fatalf("down from %d: %v", v, err)
		}
	}
	if table, index := exists(); table || index {
		t.Fatalf("after down: crls %v, certificates_crl_entries %v; want neither", table, index)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if table, index := exists(); !table || !index {
		t.Fatal("after up again: crls or its index missing")
	}
}

// TestCRLNumbers_ConcurrentAllocation runs the allocation protocol from
// many transactions on two pools (two "replicas") at once: each number is
// used exactly once and none is skipped.
func TestCRLNumbers_ConcurrentAllocation(t *testing.T) {
	db1, u := storetest.Open(t)
	db2, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	ctx := context.Background()
	if err := db1.UpsertIssuer(ctx, "iss", "CN=Test", []byte{1}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 5
	var (
		mu  sync.Mutex
		got []int64
		wg  sync.WaitGroup
	)
	errs := make(chan error, workers*each)
	for w := range workers {
		db := db1
		if w%2 == 1 {
			db = db2
		}
		wg.Go(func() {
			for range each {
				err := db.InTx(ctx, func(tx *store.Tx) error {
					if err := tx.LockCRLIssuer(ctx, "iss"); err != nil {
						return err
					}
					n, last, err := tx.NextCRLNumber(ctx, "iss")
					if err != nil {
						return err
					}
					now := time.Now()
					if n > 1 && last.IsZero() {
						return fmt.Errorf("number %d without the previous thisUpdate", n)
					}
					if err := tx.InsertCRL(ctx, &store.CRL{IssuerID: "iss", Number: n, ThisUpdate: now,
						NextUpdate: now.Add(time.Hour), DER: []byte{0x30}, Entries: 0}); err != nil {
						return err
					}
					mu.Lock()
					got = append(got, n)
					mu.Unlock()
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("numbers %v: want 1..%d each once", got, workers*each)
		}
	}
	if n, err := db2.LatestCRLNumber(ctx, "iss"); err != nil || n != workers*each {
		t.Fatalf("LatestCRLNumber = %d, %v; want %d", n, err, workers*each)
	}
}

func TestCRL_DuplicateNumberRefusedAndLatest(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	if err := db.UpsertIssuer(ctx, "iss", "CN=Test", []byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LatestCRL(ctx, "iss"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestCRL with none: err = %v, want ErrNotFound", err)
	}
	if _, err := db.LatestCRLNumber(ctx, "iss"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestCRLNumber with none: err = %v, want ErrNotFound", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	insert := func(n int64, der byte) error {
		return db.InTx(ctx, func(tx *store.Tx) error {
			return tx.InsertCRL(ctx, &store.CRL{IssuerID: "iss", Number: n, ThisUpdate: now,
				NextUpdate: now.Add(time.Hour), DER: []byte{der}, Entries: 3})
		})
	}
	for _, n := range []int64{1, 2} {
		if err := insert(n, byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := insert(2, 9); err == nil {
		t.Fatal("second CRL number 2 was stored; the primary key must refuse it")
	}
	c, err := db.LatestCRL(ctx, "iss")
	if err != nil {
		t.Fatal(err)
	}
	if c.Number != 2 || c.DER[0] != 2 || c.Entries != 3 || !c.ThisUpdate.Equal(now) || c.CreatedAt.IsZero() {
		t.Fatalf("latest = %+v, want number 2 as first stored", c)
	}
}

func TestCRLEntries_RevokedAndSuspendedUntilExpiry(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	for _, iss := range []string{"iss", "other"} {
		if err := db.UpsertIssuer(ctx, iss, "CN="+iss, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	at := now.Add(-time.Minute).Truncate(time.Microsecond)
	n := 0
	insert := func(serial, issuer string, notAfter time.Time, change func(*store.Tx) error) {
		t.Helper()
		n++
		c := &store.Certificate{Serial: serial, SubjectRef: "sr_" + serial, Profile: "personal-banking", SubjectDN: "CN=x",
			NotBefore: now.Add(-48 * time.Hour), NotAfter: notAfter, SPKISHA256: []byte{byte(n)}, KeyType: "ecdsa-p256",
			DER: []byte{1}, IssuerID: issuer, Operation: "issue", RequestID: "req-" + serial, CreatedAt: now}
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.InsertCertificate(ctx, c); err != nil {
				return err
			}
			if change != nil {
				return change(tx)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	revoke := func(serial string, reason int) func(*store.Tx) error {
		return func(tx *store.Tx) error { return tx.Revoke(ctx, serial, at, reason, "") }
	}
	suspend := func(serial string) func(*store.Tx) error {
		return func(tx *store.Tx) error { return tx.Suspend(ctx, serial, at) }
	}
	live := now.Add(24 * time.Hour)
	insert("a1", "iss", live, nil)                            // active: not listed
	insert("a2", "iss", live, revoke("a2", 1))                // keyCompromise
	insert("a3", "iss", live, revoke("a3", 0))                // unspecified
	insert("a4", "iss", live, suspend("a4"))                  // on hold: certificateHold
	insert("a5", "iss", now.Add(-time.Hour), revoke("a5", 1)) // expired: dropped
	insert("a6", "other", live, revoke("a6", 1))              // another issuer
	insert("a7", "iss", now.Add(time.Second), suspend("a7"))  // expires soon

	got := map[string]store.CRLEntry{}
	if err := db.CRLEntries(ctx, "iss", now, func(e store.CRLEntry) error { got[e.Serial] = e; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"a2": 1, "a3": 0, "a4": 6, "a7": 6}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want serials %v", got, want)
	}
	for s, reason := range want {
		e, ok := got[s]
		// What a CRL lists for the stored status and reason.
		listed, _ := crlreason.ForStatus(e.Status, e.Reason)
		if !ok || listed != reason || !e.RevokedAt.Equal(at) {
			t.Errorf("entry %s = %+v (present %v), want reason %d at %s", s, e, ok, reason, at)
		}
	}
	// The same read in a transaction, an hour later: a7 has expired, and
	// an error from fn stops the read.
	stop := errors.New("stop")
	err := db.InTx(ctx, func(tx *store.Tx) error {
		seen := 0
		if err := tx.CRLEntries(ctx, "iss", now.Add(time.Hour), func(store.CRLEntry) error { seen++; return nil }); err != nil {
			return err
		}
		if seen != 3 {
			return fmt.Errorf("an hour later %d entries, want 3", seen)
		}
		return tx.CRLEntries(ctx, "iss", now, func(store.CRLEntry) error { return stop })
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the callback's error", err)
	}
}

func TestCRLLeader_OneHolderReleasedWithSession(t *testing.T) {
	db1, u := storetest.Open(t)
	db2, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	ctx := context.Background()
	const check = 50 * time.Millisecond

	l1, err := db1.TryCRLLeader(ctx, "iss", check)
	if err != nil || l1 == nil {
		t.Fatalf("first try: %v, %v", l1, err)
	}
	if l2, err := db2.TryCRLLeader(ctx, "iss", check); err != nil || l2 != nil {
		t.Fatalf("second replica got the lead while it is held: %v, %v", l2, err)
	}
	if l, err := db1.TryCRLLeader(ctx, "iss", check); err != nil || l != nil {
		// Session locks are re-entrant per session; a pooled connection
		// must never be the one holding it, or this would succeed.
		t.Fatalf("same pool got the lead again: %v, %v", l, err)
	}
	if l, err := db2.TryCRLLeader(ctx, "other-issuer", check); err != nil || l == nil {
		t.Fatalf("another issuer's lead: %v, %v", l, err)
	} else {
		l.Release()
	}
	l1.Release()
	l1.Release() // twice is fine

	l2, err := db2.TryCRLLeader(ctx, "iss", check)
	if err != nil || l2 == nil {
		t.Fatalf("after release: %v, %v", l2, err)
	}
	defer l2.Release()

	// Kill the holder's session, as a crash or a network cut would: the
	// holder learns it lost the lead and another can take it.
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("%d sessions held an advisory lock, want 1", killed)
	}
	select {
	case <-l2.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("Lost not closed after the session was terminated")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := db1.TryCRLLeader(ctx, "iss", check)
		if err == nil && l != nil {
			l.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lead not free after the holder's session ended: %v, %v", l, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PruneCRLs drops the DER of CRLs past the cutoff, in batches, never the
// latest one's, and keeps every row with the DER's SHA-256.
func TestPruneCRLs_KeepsRowsHashesAndTheLatest(t *testing.T) {
	db, u := storetest.Open(t)
	ctx := context.Background()
	for _, iss := range []string{"iss", "other"} {
		if err := db.UpsertIssuer(ctx, iss, "CN="+iss, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// 1,200 CRLs an hour apart, each valid for a day, then one of another
	// issuer that is as old as the oldest.
	const n = 1200
	der := func(i int64) []byte { return []byte(fmt.Sprintf("crl %d", i)) }
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := int64(1); i <= n; i++ {
			at := base.Add(time.Duration(i) * time.Hour)
			if err := tx.InsertCRL(ctx, &store.CRL{IssuerID: "iss", Number: i, ThisUpdate: at, NextUpdate: at.Add(24 * time.Hour), DER: der(i)}); err != nil {
				return err
			}
		}
		return tx.InsertCRL(ctx, &store.CRL{IssuerID: "other", Number: 1, ThisUpdate: base, NextUpdate: base.Add(time.Hour), DER: []byte("x")})
	})
	if err != nil {
		t.Fatal(err)
	}
	// CRL i's nextUpdate is base + (i+24) h: a cutoff of base + 1000 h
	// prunes 1..975 (nextUpdate before the cutoff).
	cutoff, now := base.Add(1000*time.Hour), base.Add(2000*time.Hour)
	// Batches of 500, as the CRL generator runs them; numbers oldest first.
	next := int64(1) // the oldest CRL not pruned yet
	prune := func(cutoff time.Time) (int64, error) {
		var total int64
		for {
			var numbers []int64
			err := db.InTx(ctx, func(tx *store.Tx) error {
				var err error
				numbers, err = tx.PruneCRLs(ctx, "iss", cutoff, now, 500)
				return err
			})
			if err != nil {
				return total, err
			}
			if len(numbers) > 0 {
				if numbers[0] != next || numbers[len(numbers)-1] != next+int64(len(numbers))-1 {
					t.Errorf("batch %d..%d, want the oldest from %d on", numbers[0], numbers[len(numbers)-1], next)
				}
				next = numbers[len(numbers)-1] + 1
			}
			total += int64(len(numbers))
			if len(numbers) < 500 {
				return total, nil
			}
		}
	}
	pruned, err := prune(cutoff)
	if err != nil || pruned != 975 {
		t.Fatalf("pruned %d (%v), want 975", pruned, err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT number, der IS NULL, pruned_at, der_sha256 FROM crls WHERE issuer_id = 'iss' ORDER BY number`)
	if err != nil {
		t.Fatal(err)
	}
	var number int64
	var gone bool
	var prunedAt *time.Time
	var sum []byte
	seen := int64(0)
	_, err = pgx.ForEachRow(rows, []any{&number, &gone, &prunedAt, &sum}, func() error {
		seen++
		want := sha256.Sum256(der(number))
		if !bytes.Equal(sum, want[:]) {
			t.Errorf("CRL %d: der_sha256 %x, want %x", number, sum, want)
		}
		if shouldGo := number <= 975; gone != shouldGo || (prunedAt != nil) != shouldGo || (prunedAt != nil && !prunedAt.Equal(now)) {
			t.Errorf("CRL %d: pruned %v at %v, want pruned %v at %v", number, gone, prunedAt, shouldGo, now)
		}
		return nil
	})
	if err != nil || seen != n {
		t.Fatalf("%d rows (%v), want all %d kept", seen, err, n)
	}

	// However late the cutoff, the latest CRL keeps its DER; the other
	// issuer's CRLs are not touched; pruning again prunes nothing new.
	if pruned, err := prune(now.Add(1000 * time.Hour)); err != nil || pruned != n-975-1 {
		t.Fatalf("second prune: %d (%v), want %d", pruned, err, n-975-1)
	}
	if c, err := db.LatestCRL(ctx, "iss"); err != nil || c.Number != n || !bytes.Equal(c.DER, der(n)) {
		t.Fatalf("latest after pruning: %+v, %v", c, err)
	}
	if c, err := db.LatestCRL(ctx, "other"); err != nil || string(c.DER) != "x" {
		t.Fatalf("other issuer's CRL: %+v, %v", c, err)
	}
	if pruned, err := prune(now.Add(1000 * time.Hour)); err != nil || pruned != 0 {
		t.Fatalf("third prune: %d (%v), want 0", pruned, err)
	}
}
