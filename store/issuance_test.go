package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// deliveryFixture is an open ledger reservation, an unused enrollment and
// (for a renewal or reissue) the active certificate to supersede.
type deliveryFixture struct {
	db         *store.DB
	url        string
	enrollment string
	ledgerID   int64
	old        string
}

func newDeliveryFixture(t *testing.T) *deliveryFixture {
	t.Helper()
	db, u := storetest.Open(t)
	ctx := context.Background()
	if err := db.UpsertIssuer(ctx, "iss", "CN=Test", []byte{1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	f := &deliveryFixture{db: db, url: u, enrollment: uuid.NewString(), old: "0a1d"}
	if err := db.CreateEnrollment(ctx, &store.Enrollment{ID: f.enrollment, Nonce: "n-" + f.enrollment, Purpose: "reissue",
		Profile: "personal-banking", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	old := &store.Certificate{Serial: f.old, SubjectRef: "sr1_x", Profile: "personal-banking", SubjectDN: "CN=x",
		NotBefore: now, NotAfter: now.Add(24 * time.Hour), SPKISHA256: []byte{1}, KeyType: "rsa2048",
		DER: []byte{1}, IssuerID: "iss", Operation: "issue", RequestID: "req-old", CreatedAt: now}
	sig := &store.Signature{IssuerID: "iss", Kind: "subscriber", Serial: "0b2e", Purpose: "reissue", Actor: "test",
		TBSSHA256: make([]byte, 32), ReservedAt: now}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertCertificate(ctx, old); err != nil {
			return err
		}
		return tx.ReserveSignature(ctx, sig)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ledgerID = sig.ID
	return f
}

func (f *deliveryFixture) delivery(supersede string) *store.Delivery {
	now := time.Now().UTC().Truncate(time.Second)
	return &store.Delivery{
		Cert: &store.Certificate{Serial: "0b2e", SubjectRef: "sr1_x", Profile: "personal-banking", SubjectDN: "CN=x",
			NotBefore: now, NotAfter: now.Add(24 * time.Hour), SPKISHA256: []byte{2}, KeyType: "rsa2048",
			DER: []byte{2}, IssuerID: "iss", Operation: "reissue", RequestID: "req-new", CreatedAt: now},
		Supersede:    supersede,
		EnrollmentID: f.enrollment,
		Evidence:     map[string]string{"phone/jti-1": "phone", "account/jti-2": "account"},
		Audit:        &store.AuditEvent{At: now, Actor: "test", Action: "reissue", Outcome: "ok", Serial: "0b2e"},
		Response:     &store.StoredResponse{Method: "reissue", RequestHash: []byte{9}, Response: []byte(`{}`)},
		LedgerID:     f.ledgerID,
	}
}

// written counts what a delivery writes.
func (f *deliveryFixture) written(t *testing.T) map[string]int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	out := map[string]int{}
	for name, q := range map[string]string{
		"new certificate":  `SELECT count(*) FROM certificates WHERE serial = '0b2e'`,
		"old revoked":      `SELECT count(*) FROM certificates WHERE serial = '0a1d' AND status = 'revoked'`,
		"enrollment spent": `SELECT count(*) FROM enrollments WHERE used_at IS NOT NULL`,
		"evidence spent":   `SELECT count(*) FROM used_evidence`,
		"reissue event":    `SELECT count(*) FROM audit_events WHERE action = 'reissue'`,
		"stored answer":    `SELECT count(*) FROM idempotency_keys`,
		"ledger issued":    `SELECT count(*) FROM signatures WHERE state = 'issued'`,
	} {
		var n int
		if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[name] = n
	}
	return out
}

func TestDeliver_WritesEverythingInOneRoundTrip(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	if err := f.db.Deliver(context.Background(), f.delivery(f.old)); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	want := map[string]int{"new certificate": 1, "old revoked": 1, "enrollment spent": 1, "evidence spent": 2,
		"reissue event": 1, "stored answer": 1, "ledger issued": 1}
	if got := f.written(t); !equalCounts(got, want) {
		t.Errorf("after Deliver: %v, want %v", got, want)
	}
}

// The delivery is one implicit transaction: a guard that fails late in the
// pipeline leaves nothing of the earlier statements behind.
func TestDeliver_AGuardThatFailsLeavesNothingWritten(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *deliveryFixture)
		want  error
	}{
		{"superseded certificate no longer active", func(t *testing.T, f *deliveryFixture) {
			err := f.db.InTx(context.Background(), func(tx *store.Tx) error {
				return tx.Revoke(context.Background(), f.old, time.Now(), 1, "")
			})
			if err != nil {
				t.Fatal(err)
			}
		}, store.ErrNotLive},
		{"enrollment spent by another request", func(t *testing.T, f *deliveryFixture) {
			err := f.db.InTx(context.Background(), func(tx *store.Tx) error {
				used, err := tx.UseEnrollmentOnce(context.Background(), f.enrollment, time.Now())
				if used {
					return errors.New("fixture enrollment was used already")
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}, store.ErrEnrollmentUsed},
		{"ledger row already settled", func(t *testing.T, f *deliveryFixture) {
			if err := f.db.SettleSignature(context.Background(), f.ledgerID, store.SigUndelivered, []byte{2}, "test", time.Now()); err != nil {
				t.Fatal(err)
			}
		}, store.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newDeliveryFixture(t)
			tc.setup(t, f)
			before := f.written(t)
			if err := f.db.Deliver(context.Background(), f.delivery(f.old)); !errors.Is(err, tc.want) {
				t.Fatalf("Deliver: %v, want %v", err, tc.want)
			}
			if after := f.written(t); !equalCounts(after, before) {
				t.Errorf("a refused delivery wrote something: %v -> %v", before, after)
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
