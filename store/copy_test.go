package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

func newCopyRow(slot string, now time.Time) *store.CopySession {
	return &store.CopySession{ID: uuid.NewString(), Slot: slot, SenderTokenHash: bytes.Repeat([]byte{1}, 32),
		MaxFailures: 3, CreatedAt: now, ExpiresAt: now.Add(3 * time.Minute)}
}

func TestCopySessions_OneLiveSessionPerSlotAndNothingLeftAtTheEnd(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := newCopyRow("42", now)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateCopySession(ctx, a); err != nil {
			return err
		}
		// The savepoint keeps the transaction usable after the conflict.
		if err := tx.CreateCopySession(ctx, newCopyRow("42", now)); !errors.Is(err, store.ErrSlotTaken) {
			t.Errorf("second live session on slot 42: %v, want ErrSlotTaken", err)
		}
		if err := tx.PutCopyMessage(ctx, a.ID, 1, store.CopyOffer, []byte("offer")); err != nil {
			return err
		}
		if err := tx.PutCopyMessage(ctx, a.ID, 1, store.CopyOffer, []byte("again")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second offer: %v, want ErrNotFound", err)
		}
		if err := tx.PutCopyMessage(ctx, a.ID, 2, store.CopyReply, []byte("stale")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("message for another attempt: %v, want ErrNotFound", err)
		}
		if err := tx.JoinCopySession(ctx, a.ID, bytes.Repeat([]byte{2}, 32)); err != nil {
			return err
		}
		if err := tx.RetryCopySession(ctx, a.ID, 1); err != nil {
			return err
		}
		s, err := tx.LiveCopySessionBySlot(ctx, "42")
		if err != nil {
			return err
		}
		if s.State != store.CopyOpen || s.Attempt != 2 || s.Failures != 1 || s.Offer != nil {
			t.Errorf("after a retry: %+v", s)
		}
		return tx.EndCopySession(ctx, a.ID, store.CopyBurned, now, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.CopySession(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.State != store.CopyBurned || s.Failures != 2 || s.Slot != "" || s.Offer != nil || s.EndedAt == nil {
		t.Fatalf("ended session: %+v", s)
	}
	// The slot is free again; the ended row goes with the purge.
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateCopySession(ctx, newCopyRow("42", now)); err != nil {
			return err
		}
		if n, err := tx.PurgeCopySessions(ctx, now, 10); err != nil || n != 0 {
			t.Errorf("purge before the cutoff: %d, %v", n, err)
		}
		if n, err := tx.PurgeCopySessions(ctx, now.Add(time.Second), 10); err != nil || n != 1 {
			t.Errorf("purge: %d, %v", n, err)
		}
		over, err := tx.OverdueCopySessions(ctx, now.Add(3*time.Minute), 10)
		if err != nil || len(over) != 1 {
			t.Errorf("overdue: %d, %v", len(over), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
