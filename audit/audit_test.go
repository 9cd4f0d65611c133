package audit_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-ca/signet/audit"
	"github.com/signet-ca/signet/store"
)

func TestVerify_UntouchedLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if rep := e.verify(0, 0); !rep.OK || rep.Checked != 0 {
		t.Fatalf("empty log: %+v", rep)
	}
	e.events(35)
	s := e.sealer()
	if n := e.sealAll(s); n != 35 {
		t.Fatalf("sealed %d events, want 35", n)
	}
	var cps int
	if err := e.query("SELECT count(*) FROM audit_checkpoints").Scan(&cps); err != nil || cps != 4 {
		t.Fatalf("%d checkpoints (err %v), want 4: one per batch of 10", cps, err)
	}
	rep := e.verify(0, 0)
	if !rep.OK || rep.Checked != 35 || rep.FromSeq != 1 || rep.ToSeq != 35 || rep.CheckpointSeq != 35 || rep.CheckpointAt.IsZero() {
		t.Fatalf("untouched log: %+v", rep)
	}
	if rep := e.verify(11, 25); !rep.OK || rep.Checked != 15 || rep.CheckpointSeq != 20 {
		t.Fatalf("range [11, 25]: %+v", rep)
	}
	if rep := e.verify(36, 0); !rep.OK || rep.Checked != 0 {
		t.Fatalf("empty range after the end: %+v", rep)
	}
	if rep := e.verify(30, 40); rep.OK || rep.Kind != audit.ProblemGap || rep.FirstBrokenSeq != 36 || rep.Checked != 6 {
		t.Fatalf("range past the end: %+v", rep)
	}

	// More events later extend the same chain.
	e.events(7)
	if n := e.sealAll(s); n != 7 {
		t.Fatalf("sealed %d, want 7", n)
	}
	if rep := e.verify(0, 0); !rep.OK || rep.Checked != 42 || rep.CheckpointSeq != 42 {
		t.Fatalf("after more events: %+v", rep)
	}
}

// TestVerify_DetectsTampering edits a sealed log as a superuser would, with
// the append-only triggers off, and expects the first broken position.
func TestVerify_DetectsTampering(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) *env {
		t.Parallel()
		e := newEnv(t)
		e.events(35)
		e.sealAll(e.sealer())
		if rep := e.verify(0, 0); !rep.OK || rep.Checked != 35 {
			t.Fatalf("before tampering: %+v", rep)
		}
		return e
	}

	t.Run("alter one field", func(t *testing.T) {
		e := setup(t)
		a := e.attacker()
		id := e.eventAt(17)
		e.exec(a, "CREATE TEMP TABLE orig AS SELECT * FROM audit_events WHERE id = $1", id)
		for _, edit := range []string{
			"actor = 'mallory'",
			"at = at + interval '1 microsecond'",
			"outcome = 'ok'",
			"code = ''",
			"serial = ''", // was NULL: NULL and '' differ
			"details = '{\"message\": \"all fine\"}'",
			"xid = (xid::text::numeric + 1)::text::xid8",
		} {
			e.exec(a, "UPDATE audit_events SET "+edit+" WHERE id = $1", id)
			rep := e.verify(0, 0)
			wantBroken(t, rep, audit.ProblemHashMismatch, 17, id)
			if rep.Checked != 16 || rep.CheckpointSeq != 10 {
				t.Fatalf("%s: checked %d, checkpoint %d; want 16 and 10", edit, rep.Checked, rep.CheckpointSeq)
			}
			// A range after the edit starts from the stored hash at 19.
			if rep := e.verify(20, 0); !rep.OK || rep.Checked != 16 {
				t.Fatalf("%s: range [20, end]: %+v", edit, rep)
			}
			e.exec(a, "UPDATE audit_events t SET ("+contentColumns+") = (SELECT "+contentColumns+" FROM orig) WHERE id = $1", id)
			if rep := e.verify(0, 0); !rep.OK {
				t.Fatalf("after undoing %s: %+v", edit, rep)
			}
		}
	})

	t.Run("delete an event", func(t *testing.T) {
		e := setup(t)
		id := e.eventAt(17)
		e.exec(e.attacker(), "DELETE FROM audit_events WHERE id = $1", id)
		wantBroken(t, e.verify(0, 0), audit.ProblemEventMissing, 17, id)
	})

	t.Run("change an event id", func(t *testing.T) {
		e := setup(t)
		id := e.eventAt(17)
		e.exec(e.attacker(), "UPDATE audit_events SET id = id + 1000 WHERE id = $1", id)
		wantBroken(t, e.verify(0, 0), audit.ProblemEventMissing, 17, id)
	})

	t.Run("insert a forged event and shift the rest", func(t *testing.T) {
		e := setup(t)
		a := e.attacker()
		ids := make([]int64, 36)
		for seq := int64(17); seq <= 35; seq++ {
			ids[seq] = e.eventAt(seq)
		}
		// The last event moves to a new row; each one from 17 on moves one
		// row down; the forged event takes row 17's place.
		e.exec(a, "INSERT INTO audit_events ("+contentColumns+") SELECT "+contentColumns+" FROM audit_events WHERE id = $1", ids[35])
		for seq := 35; seq > 17; seq-- {
			e.exec(a, "UPDATE audit_events t SET ("+contentColumns+") = (SELECT "+contentColumns+
				" FROM audit_events s WHERE s.id = $2) WHERE t.id = $1", ids[seq], ids[seq-1])
		}
		e.exec(a, "UPDATE audit_events SET actor = 'ra:bank-004', action = 'revoke', reason = 'forged' WHERE id = $1", ids[17])
		wantBroken(t, e.verify(0, 0), audit.ProblemHashMismatch, 17, ids[17])
	})

	t.Run("insert a forged event among sealed ones", func(t *testing.T) {
		e := setup(t)
		// Same transaction id as the event at seq 10, a higher event id: in
		// seal order it sits between seq 10 and 11, where the sealer has
		// passed and would never look again.
		var forged int64
		err := e.attacker().QueryRow(context.Background(), `INSERT INTO audit_events (id, at, actor, action, outcome, xid)
			SELECT max(id) + 1000, now(), 'ra:bank-004', 'revoke', 'ok',
			       (SELECT xid FROM audit_events WHERE id = $1) FROM audit_events RETURNING id`, e.eventAt(10)).Scan(&forged)
		if err != nil {
			t.Fatal(err)
		}
		wantBroken(t, e.verify(0, 0), audit.ProblemUnsealed, 11, forged)
		if rep := e.verify(12, 0); !rep.OK {
			t.Fatalf("a range after it: %+v", rep)
		}
	})

	t.Run("swap two events", func(t *testing.T) {
		e := setup(t)
		a := e.attacker()
		x, y := e.eventAt(12), e.eventAt(25)
		e.exec(a, "CREATE TEMP TABLE tmp AS SELECT * FROM audit_events WHERE id = $1", x)
		e.exec(a, "UPDATE audit_events t SET ("+contentColumns+") = (SELECT "+contentColumns+" FROM audit_events s WHERE s.id = $2) WHERE t.id = $1", x, y)
		e.exec(a, "UPDATE audit_events t SET ("+contentColumns+") = (SELECT "+contentColumns+" FROM tmp) WHERE t.id = $1", y)
		wantBroken(t, e.verify(0, 0), audit.ProblemHashMismatch, 12, x)
	})

	t.Run("reorder the chain", func(t *testing.T) {
		e := setup(t)
		a := e.attacker()
		x, y := e.eventAt(12), e.eventAt(25)
		e.exec(a, "UPDATE audit_chain SET event_id = -1 WHERE seq = 12")
		e.exec(a, "UPDATE audit_chain SET event_id = $1 WHERE seq = 25", x)
		e.exec(a, "UPDATE audit_chain SET event_id = $1 WHERE seq = 12", y)
		wantBroken(t, e.verify(0, 0), audit.ProblemHashMismatch, 12, y)
	})

	t.Run("delete a chain entry", func(t *testing.T) {
		e := setup(t)
		e.exec(e.attacker(), "DELETE FROM audit_chain WHERE seq = 17")
		wantBroken(t, e.verify(0, 0), audit.ProblemGap, 17, 0)
	})

	t.Run("cut the chain's end", func(t *testing.T) {
		e := setup(t)
		e.exec(e.attacker(), "DELETE FROM audit_chain WHERE seq > 33")
		wantBroken(t, e.verify(0, 0), audit.ProblemCheckpointOrphan, 34, 0)
	})

	t.Run("rewrite the chain after an edit", func(t *testing.T) {
		e := setup(t)
		a := e.attacker()
		ctx := context.Background()
		id := e.eventAt(13)
		e.exec(a, "UPDATE audit_events SET reason = 'nothing happened' WHERE id = $1", id)
		wantBroken(t, e.verify(0, 0), audit.ProblemHashMismatch, 13, id)

		// Recompute every hash from 13 on, as the sealer would have.
		prev, err := e.db.AuditChainEntry(ctx, 12)
		if err != nil {
			t.Fatal(err)
		}
		h := prev.Hash
		rewritten := map[int64][]byte{}
		err = e.db.AuditChain(ctx, 13, 35, func(l *store.AuditLink) error {
			h = audit.ChainHash(h, l.Event)
			rewritten[l.Seq] = h
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for seq, h := range rewritten {
			e.exec(a, "UPDATE audit_chain SET hash = $2 WHERE seq = $1", seq, h)
		}
		rep := e.verify(0, 0)
		wantBroken(t, rep, audit.ProblemCheckpointHash, 20, e.eventAt(20))
		if rep.CheckpointSeq != 10 || rep.Checked != 19 {
			t.Fatalf("last good checkpoint %d, checked %d; want 10 and 19", rep.CheckpointSeq, rep.Checked)
		}

		// Rewriting the checkpoints too breaks their signatures.
		for _, seq := range []int64{20, 30, 35} {
			e.exec(a, "UPDATE audit_checkpoints SET hash = $2 WHERE seq = $1", seq, rewritten[seq])
		}
		wantBroken(t, e.verify(0, 0), audit.ProblemCheckpointSignature, 20, e.eventAt(20))

		// Re-signing needs a certificate from the CA: one's own does not do.
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		self := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Signet Dev CA Class 2 Audit Signer", OrganizationalUnit: []string{audit.SignerOU}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			PolicyIdentifiers: []asn1.ObjectIdentifier{audit.PolicyAuditSigner}, Policies: []x509.OID{auditPolicy(t)},
		}
		selfDER, err := x509.CreateCertificate(rand.Reader, self, self, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		resign := func(der []byte, key *ecdsa.PrivateKey) {
			for _, seq := range []int64{20, 30, 35} {
				sig, err := ecdsa.SignASN1(rand.Reader, key, audit.CheckpointDigest(seq, rewritten[seq], now.Truncate(time.Microsecond)))
				if err != nil {
					t.Fatal(err)
				}
				e.exec(a, "UPDATE audit_checkpoints SET signed_at = $2, signature = $3, signer_der = $4 WHERE seq = $1",
					seq, now.Truncate(time.Microsecond), sig, der)
			}
		}
		resign(selfDER, key)
		wantBroken(t, e.verify(0, 0), audit.ProblemCheckpointSigner, 20, e.eventAt(20))

		// Nor does another certificate of the same CA, such as a
		// subscriber's or the OCSP responder's: it lacks the audit policy.
		other := &x509.Certificate{
			SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "not an audit signer"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			PublicKey: key.Public(),
		}
		// Made with the CA key directly: a forgery test's fixture, not a
		// signature Signet makes.
		otherDER, err := x509.CreateCertificate(rand.Reader, other, e.signer.Issuer(), key.Public(), e.caKey)
		if err != nil {
			t.Fatal(err)
		}
		resign(append(slices.Clone(otherDER), e.signer.Issuer().Raw...), key)
		rep = e.verify(0, 0)
		wantBroken(t, rep, audit.ProblemCheckpointSigner, 20, e.eventAt(20))
	})
}

// TestSealer_WaitsForOpenTransactions: an event whose transaction has not
// ended is never skipped, even when later event ids commit first, and a
// rolled-back event never appears.
func TestSealer_WaitsForOpenTransactions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.sealer()
	insert := `INSERT INTO audit_events (at, actor, action, outcome) VALUES (now(), $1, 'issue', 'ok') RETURNING id`

	// A holds a transaction id before B, but inserts its event after B.
	a := e.conn()
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txA.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil {
		t.Fatal(err)
	}
	var idB, idA int64
	if err := e.query(insert, "B").Scan(&idB); err != nil {
		t.Fatal(err)
	}
	if err := txA.QueryRow(ctx, insert, "A").Scan(&idA); err != nil {
		t.Fatal(err)
	}
	if idA < idB {
		t.Fatalf("ids %d (A) and %d (B): want A's later", idA, idB)
	}
	if n := e.sealNow(s); n != 0 {
		t.Fatalf("sealed %d events while a transaction with an older id is open, want 0", n)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.sealAll(s); n != 2 {
		t.Fatalf("sealed %d, want 2", n)
	}
	// Seal order is transaction order: A's event first, though its id is higher.
	if got := []int64{e.eventAt(1), e.eventAt(2)}; !slices.Equal(got, []int64{idA, idB}) {
		t.Fatalf("chain order %v, want %v", got, []int64{idA, idB})
	}

	// A rolled-back event is never sealed; the ones after it are.
	txC, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txC.Exec(ctx, insert, "C"); err != nil {
		t.Fatal(err)
	}
	var idD int64
	if err := e.query(insert, "D").Scan(&idD); err != nil {
		t.Fatal(err)
	}
	if n := e.sealNow(s); n != 0 {
		t.Fatalf("sealed %d while C is open, want 0", n)
	}
	if err := txC.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.sealAll(s); n != 1 || e.eventAt(3) != idD {
		t.Fatalf("sealed %d (seq 3 = event %d), want only D (%d)", n, e.eventAt(3), idD)
	}
	if rep := e.verify(0, 0); !rep.OK || rep.Checked != 3 {
		t.Fatalf("%+v", rep)
	}
}

// TestSealer_ConcurrentWriters seals while many transactions insert, with
// two sealers at once: nothing is skipped or sealed twice.
func TestSealer_ConcurrentWriters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const writers, each = 6, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := e.db.InTx(ctx, func(tx *store.Tx) error {
					// Some transactions write twice, with a pause, so that
					// ids and transaction ids interleave.
					for range 1 + i%2 {
						ev := &store.AuditEvent{At: time.Now(), Actor: "w", Action: "issue", Outcome: "ok", Details: map[string]any{"w": w, "i": i}}
						if err := tx.AppendAudit(ctx, ev); err != nil {
							return err
						}
						time.Sleep(time.Duration(i%3) * time.Millisecond)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	done := make(chan struct{})
	var sealers sync.WaitGroup
	for range 2 {
		s := audit.NewSealer(e.db, e.signer, audit.Options{Batch: 7, CheckpointEvery: time.Millisecond, Log: quietLog()})
		sealers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				n, err := s.SealOnce(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	sealers.Wait()
	e.sealAll(e.sealer())
	var events, chain int64
	if err := e.query("SELECT (SELECT count(*) FROM audit_events), (SELECT count(*) FROM audit_chain)").Scan(&events, &chain); err != nil {
		t.Fatal(err)
	}
	if want := int64(writers * (each + each/2)); events != want || chain != events {
		t.Fatalf("%d events (want %d), %d sealed", events, want, chain)
	}
	if rep := e.verify(0, 0); !rep.OK || rep.Checked != chain {
		t.Fatalf("%+v", rep)
	}
}

// TestSealer_Run: of two replicas running the sealer, one seals; on a
// clean stop it signs the chain's head.
func TestSealer_Run(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	sealers := make([]*audit.Sealer, 2)
	for i := range sealers {
		sealers[i] = audit.NewSealer(e.db, e.signer, audit.Options{Interval: 20 * time.Millisecond,
			CheckpointEvery: time.Hour, Retry: 50 * time.Millisecond, Log: quietLog()})
		running.Go(func() { sealers[i].Run(ctx) })
	}
	e.events(25)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := e.query("SELECT count(*) FROM audit_chain").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 25 events sealed after 10 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sealers[0].Leading() == sealers[1].Leading() {
		t.Fatalf("leading: %v and %v, want exactly one", sealers[0].Leading(), sealers[1].Leading())
	}
	if got := sealers[0].Sealed() + sealers[1].Sealed(); got != 25 {
		t.Fatalf("sealed %d in all, want 25", got)
	}
	cancel()
	running.Wait()
	rep := e.verify(0, 0)
	if !rep.OK || rep.Checked != 25 || rep.CheckpointSeq != 25 {
		t.Fatalf("after a clean stop the head must be signed: %+v", rep)
	}
}

// TestSealer_SignerCertificate checks the checkpoint signer's certificate
// and its rotation.
func TestSealer_SignerCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	s := audit.NewSealer(e.db, e.signer, audit.Options{Now: now, Log: quietLog()})
	ctx := context.Background()

	e.events(3)
	if n := e.sealAll(s); n != 3 {
		t.Fatalf("first seal: %d", n)
	}
	e.events(2)
	if n := e.sealAll(s); n != 2 {
		t.Fatalf("second seal: %d", n)
	}
	var cps int
	if err := e.query("SELECT count(*) FROM audit_checkpoints").Scan(&cps); err != nil || cps != 1 {
		t.Fatalf("%d checkpoints, want 1: the second seal is within CheckpointEvery (10 s)", cps)
	}
	if seq, err := s.Checkpoint(ctx); err != nil || seq != 5 {
		t.Fatalf("Checkpoint: %d, %v", seq, err)
	}

	cert := func(seq int64) *x509.Certificate {
		t.Helper()
		var der []byte
		if err := e.query("SELECT signer_der FROM audit_checkpoints WHERE seq = $1", seq).Scan(&der); err != nil {
			t.Fatal(err)
		}
		certs, err := x509.ParseCertificates(der)
		if err != nil || len(certs) < 2 {
			t.Fatalf("signer_der: %d certificates, %v; want the signer and its chain", len(certs), err)
		}
		return certs[0]
	}
	var first int64
	if err := e.query("SELECT min(seq) FROM audit_checkpoints").Scan(&first); err != nil {
		t.Fatal(err)
	}
	c := cert(first)
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	switch {
	case !ok || pub.Curve != elliptic.P256():
		t.Errorf("key %T, want ECDSA P-256", c.PublicKey)
	case c.KeyUsage != x509.KeyUsageDigitalSignature || len(c.ExtKeyUsage) != 0 || c.IsCA:
		t.Errorf("key usage %v, EKU %v, CA %v", c.KeyUsage, c.ExtKeyUsage, c.IsCA)
	case !slices.Equal(c.Subject.OrganizationalUnit, []string{audit.SignerOU}):
		t.Errorf("OU %v", c.Subject.OrganizationalUnit)
	case len(c.PolicyIdentifiers) != 1 || !c.PolicyIdentifiers[0].Equal(audit.PolicyAuditSigner):
		t.Errorf("policies %v", c.PolicyIdentifiers)
	case c.NotAfter.Sub(c.NotBefore) != 30*24*time.Hour:
		t.Errorf("validity %v, want 30 days", c.NotAfter.Sub(c.NotBefore))
	case c.Issuer.String() != e.signer.Issuer().Subject.String():
		t.Errorf("issuer %v", c.Issuer)
	}
	if cert(5).SerialNumber.Cmp(c.SerialNumber) != 0 {
		t.Error("the key changed before its rotation time")
	}

	// Twenty-one days on (past two thirds of 30), a new key signs; the old
	// checkpoints still verify, each at its own signed_at.
	clock.Add(int64(21 * 24 * time.Hour))
	e.events(1)
	if n := e.sealAll(s); n != 1 {
		t.Fatalf("seal after rotation: %d", n)
	}
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if cert(6).SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("the key was not rotated")
	}
	if rep := e.verify(0, 0); !rep.OK || rep.CheckpointSeq != 6 {
		t.Fatalf("%+v", rep)
	}
}

// TestChainHash_Canonical pins the canonical form: a change to it breaks
// every existing chain, so it must be deliberate.
func TestChainHash_Canonical(t *testing.T) {
	t.Parallel()
	r := &store.AuditRow{Values: make([][]byte, len(store.AuditColumns))}
	for i := range r.Values {
		if store.AuditColumns[i] != "serial" {
			r.Values[i] = []byte(store.AuditColumns[i] + "-value")
		}
	}
	b := audit.Canonical(r)
	if len(b) != 4+len("signet-audit-event/v1")+sumLens(r) {
		t.Fatalf("canonical length %d", len(b))
	}
	// NULL and '' differ.
	r2 := &store.AuditRow{Values: slices.Clone(r.Values)}
	r2.Values[slices.Index(store.AuditColumns, "serial")] = []byte{}
	if string(audit.Canonical(r2)) == string(b) {
		t.Fatal("NULL and empty text hash alike")
	}
	// Moving bytes from one field to the next changes the bytes.
	r3 := &store.AuditRow{Values: slices.Clone(r.Values)}
	r3.Values[2], r3.Values[3] = []byte("actor-valueaction-"), []byte("value")
	if string(audit.Canonical(r3)) == string(b) {
		t.Fatal("field boundaries are not encoded")
	}
}

func sumLens(r *store.AuditRow) int {
	n := 0
	for i, v := range r.Values {
		n += 4 + len(store.AuditColumns[i]) + 1
		if v != nil {
			n += 4 + len(v)
		}
	}
	return n
}

func auditPolicy(t *testing.T) x509.OID {
	ints := make([]uint64, len(audit.PolicyAuditSigner))
	for i, v := range audit.PolicyAuditSigner {
		ints[i] = uint64(v)
	}
	oid, err := x509.OIDFromInts(ints)
	if err != nil {
		t.Fatal(err)
	}
	return oid
}

// TestSealer_StopsOnBrokenHead: the sealer does not build on a chain whose
// last event is gone, or whose transaction ids this cluster has not reached
// (a logical restore into another cluster).
func TestSealer_StopsOnBrokenHead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.events(3)
	e.sealAll(e.sealer())
	a := e.attacker()
	e.exec(a, "UPDATE audit_events SET xid = '100000000000' WHERE id = $1", e.eventAt(3))
	if _, err := e.sealer().SealOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("xid ahead of the cluster: err = %v", err)
	}
	e.exec(a, "DELETE FROM audit_events WHERE id = $1", e.eventAt(3))
	if _, err := e.sealer().SealOnce(context.Background()); !errors.Is(err, store.ErrAuditHeadMissing) {
		t.Fatalf("head event deleted: err = %v", err)
	}
}
