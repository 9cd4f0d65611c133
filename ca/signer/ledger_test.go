package signer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/signet-ca/signet/ca/devca"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// reserve prepares a subscriber certificate and records it at reservedAt.
func reserve(t *testing.T, s *Signer, db *store.DB, reservedAt time.Time) *Pending {
	t.Helper()
	p, err := s.Prepare(Subscriber, subscriberTemplate(t), nil)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := s.Reserve(context.Background(), db, p, Reason{Purpose: "issue", Actor: "test"}, reservedAt); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	return p
}

func TestSettleSignature_SettlesARowOnlyOnce(t *testing.T) {
	t.Parallel()
	s, _ := newCountingSigner(t, newDevCA(t, devca.ECDSAP256), newLinter(t))
	db, dbURL := storetest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	p := reserve(t, s, db, now)
	cert, err := s.Sign(p)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if err := db.SettleSignature(ctx, p.LedgerID(), store.SigIssued, cert.Raw, "", now); err != nil {
		t.Fatalf("SettleSignature: %v", err)
	}
	for _, state := range []string{store.SigIssued, store.SigUndelivered, store.SigAbandoned} {
		err := db.SettleSignature(ctx, p.LedgerID(), state, cert.Raw, "again", now.Add(time.Minute))
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("settling the issued row again as %s: %v, want store.ErrNotFound", state, err)
		}
	}
	if err := db.SettleSignature(ctx, p.LedgerID()+1000, store.SigAbandoned, nil, "no such row", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("settling a row that does not exist: %v, want store.ErrNotFound", err)
	}
	row := ledgerRow(t, db, s.ID(), p.LedgerID())
	if row.State != store.SigIssued || row.Outcome != "" || !row.SettledAt.Equal(now) {
		t.Errorf("row after the refused settlements: %s %q settled %v, want issued as first settled", row.State, row.Outcome, row.SettledAt)
	}
	// Issued rows are audited by the change that delivers them, and the
	// refusals wrote nothing.
	for _, action := range []string{"sign_issued", "sign_undelivered", "sign_abandoned"} {
		if evs := auditEvents(t, dbURL, action); len(evs) != 0 {
			t.Errorf("%d %s audit events, want none", len(evs), action)
		}
	}
}

// Recovery abandons the reservations whose process is presumed dead (open
// longer than the window by the database's clock, whatever the reserving
// replica's clock said), oldest first and at most limit at a time, and
// leaves recent reservations and settled rows alone.
func TestAbandonOpenSignatures_SettlesOnlyReservationsOlderThanTheCutoff(t *testing.T) {
	t.Parallel()
	s, _ := newCountingSigner(t, newDevCA(t, devca.ECDSAP256), newLinter(t))
	db, dbURL := storetest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	cutoff := now.Add(-30 * time.Minute)

	issued := reserve(t, s, db, now.Add(-3*time.Hour))
	cert, err := s.Sign(issued)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SettleSignature(ctx, issued.LedgerID(), store.SigIssued, cert.Raw, "", now.Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	oldest := reserve(t, s, db, now.Add(-2*time.Hour))
	older := reserve(t, s, db, now.Add(-time.Hour))
	atCutoff := reserve(t, s, db, cutoff)
	// A replica whose clock runs an hour ahead: its reservation is recent
	// by the database's clock, and must not be abandoned.
	recent := reserve(t, s, db, now.Add(time.Hour))
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for p, age := range map[*Pending]string{oldest: "2 hours", older: "1 hour", atCutoff: "29 minutes", recent: "1 minute"} {
		if _, err := conn.Exec(ctx, `UPDATE signatures SET recorded_at = clock_timestamp() - $2::interval WHERE id = $1`, p.LedgerID(), age); err != nil {
			t.Fatal(err)
		}
	}

	var abandoned []int64
	for _, want := range []int{1, 1, 0} {
		n, err := db.AbandonOpenSignatures(ctx, 30*time.Minute, now, 1)
		if err != nil {
			t.Fatalf("AbandonOpenSignatures: %v", err)
		}
		if n != want {
			t.Fatalf("AbandonOpenSignatures with limit 1 abandoned %d, want %d", n, want)
		}
		for _, ev := range auditEvents(t, dbURL, "sign_abandoned")[len(abandoned):] {
			abandoned = append(abandoned, ev.LedgerID)
		}
	}
	if want := []int64{oldest.LedgerID(), older.LedgerID()}; !slices.Equal(abandoned, want) {
		t.Fatalf("sign_abandoned events for rows %v, want %v (oldest first)", abandoned, want)
	}
	for _, tc := range []struct {
		name  string
		p     *Pending
		state string
	}{
		{"settled long ago", issued, store.SigIssued},
		{"reserved two hours ago", oldest, store.SigAbandoned},
		{"reserved an hour ago", older, store.SigAbandoned},
		{"reserved just inside the window", atCutoff, store.SigReserved},
		{"reserved a minute ago by a clock running ahead", recent, store.SigReserved},
	} {
		row := ledgerRow(t, db, s.ID(), tc.p.LedgerID())
		if row.State != tc.state {
			t.Errorf("%s: state %s, want %s", tc.name, row.State, tc.state)
		}
		if tc.state == store.SigAbandoned {
			if row.Outcome == "" || row.SettledAt == nil || !row.SettledAt.Equal(now) || row.DER != nil {
				t.Errorf("%s: outcome %q settled %v with %d bytes of DER, want the reason, now and no DER",
					tc.name, row.Outcome, row.SettledAt, len(row.DER))
			}
			ev := auditEventFor(t, dbURL, "sign_abandoned", row.ID)
			if ev.Actor != "signet" || ev.Serial != tc.p.Serial() || ev.Details["state"] != store.SigAbandoned ||
				ev.Details["outcome"] != row.Outcome {
				t.Errorf("%s: audit event %+v does not describe the abandonment", tc.name, ev)
			}
		}
	}
}
