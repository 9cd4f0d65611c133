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

func registrationRow(subject string, fp byte, at time.Time) *store.Registration {
	return &store.Registration{ID: uuid.NewString(), SubjectRef: subject, CertSHA256: []byte{fp, 1, 2}, DER: []byte{0x30},
		Serial: "ab", IssuerDN: "CN=CA", TrustCA: "k-bank", SubjectDN: "CN=x", NotBefore: at, NotAfter: at.AddDate(1, 0, 0),
		Status: "active", CheckedAt: at, CheckStatus: "good", CheckSource: "ocsp", CreatedAt: at, UpdatedAt: at}
}

// One active registration per certificate, whoever asks, even when two
// requests race past the code's check; an ended one leaves room for the
// next, and the active one is what a sign-in reads.
func TestRegistrations_OneActivePerCertificate(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	first := registrationRow("alice", 1, at)
	insert := func(r *store.Registration) error {
		return db.InTx(ctx, func(tx *store.Tx) error { return tx.InsertRegistration(ctx, r) })
	}
	if err := insert(first); err != nil {
		t.Fatal(err)
	}
	if err := insert(registrationRow("bob", 1, at)); !errors.Is(err, store.ErrRegisteredElsewhere) {
		t.Fatalf("second active registration: %v, want ErrRegisteredElsewhere", err)
	}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		r, err := tx.ActiveRegistrationForUpdate(ctx, first.CertSHA256)
		if err != nil {
			return err
		}
		r.Status, r.Reason, r.UpdatedAt = "unregistered", "done", at
		return tx.SetRegistrationStatus(ctx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	second := registrationRow("alice", 1, at) // same created_at: the active one must still win
	if err := insert(second); err != nil {
		t.Fatalf("register again after unregistering: %v", err)
	}
	got, err := db.LatestRegistration(ctx, first.CertSHA256)
	if err != nil || got.ID != second.ID {
		t.Fatalf("latest: %v %+v, want the active %s", err, got, second.ID)
	}
	list, err := db.RegistrationsOf(ctx, "alice", 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("RegistrationsOf: %d, %v", len(list), err)
	}
	due, err := db.RegistrationsToCheck(ctx, at.Add(time.Minute), 10)
	if err != nil || len(due) != 1 || due[0].ID != second.ID {
		t.Fatalf("RegistrationsToCheck: %d, %v; want only the active one", len(due), err)
	}
	if due, _ := db.RegistrationsToCheck(ctx, at, 10); len(due) != 0 {
		t.Fatalf("a registration checked at the cutoff is due")
	}
}

// One replica re-checks registrations: a second session cannot take the lock.
func TestRegistrations_RecheckHasOneLeader(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	l1, err := db.TryRegistrationRecheck(ctx, time.Second)
	if err != nil || l1 == nil {
		t.Fatalf("first: %v %v", l1, err)
	}
	l2, err := db.TryRegistrationRecheck(ctx, time.Second)
	if err != nil || l2 != nil {
		t.Fatalf("second took the lead too: %v %v", l2, err)
	}
	l1.Release()
}

// The down migration keeps spent evidence spent when registration
// challenges go.
func TestRegistrations_DownMigrationKeepsSpentEvidence(t *testing.T) {
	u := storetest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	id := uuid.NewString()
	if _, err := conn.Exec(ctx, `INSERT INTO enrollments (id, nonce, purpose, profile, created_at, expires_at) VALUES ($1, 'n', 'register', '', now(), now())`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO used_evidence (id, kind, enrollment_id, used_at) VALUES ('p/1', 'phone', $1, now())`, id); err != nil {
		t.Fatal(err)
	}
	m, err := store.NewMigrator(u)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for v, _, _ := m.Version(); v > 15; v, _, _ = m.Version() {
		if err := m.Down(); err != nil {
			t.Fatalf("down from %d: %v", v, err)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM used_evidence WHERE id = 'p/1'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("spent evidence after down: %d (%v)", n, err)
	}
}
