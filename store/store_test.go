package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

func TestMigrations_DownAndUpAgain(t *testing.T) {
	u := storetest.NewDatabase(t)
	m, err := store.NewMigrator(u)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	latest, dirty, err := m.Version()
	if err != nil || dirty || latest < 1 {
		t.Fatalf("version = %d dirty=%v err=%v, want a clean schema", latest, dirty, err)
	}
	// Every down migration must undo its up migration.
	for v := latest; v > 0; v, _, _ = m.Version() {
		if err := m.Down(); err != nil {
			t.Fatalf("down from %d: %v", v, err)
		}
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if v, _, _ := m.Version(); v != latest {
		t.Fatalf("after up: version %d, want %d", v, latest)
	}
}

func TestAuditEvents_AppendOnly(t *testing.T) {
	db, u := storetest.Open(t)
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		return tx.AppendAudit(ctx, &store.AuditEvent{At: time.Now(), Actor: "test", Action: "issue", Outcome: "ok"})
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"UPDATE audit_events SET actor = 'mallory'",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
	} {
		if _, err := conn.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", stmt, err)
		}
	}
}

func TestCertificates_OneLivePerSubjectProfile(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx := context.Background()
	if err := db.UpsertIssuer(ctx, "iss", "CN=Test", []byte{1}); err != nil {
		t.Fatal(err)
	}
	mk := func(serial string, spki byte) *store.Certificate {
		return &store.Certificate{Serial: serial, SubjectRef: "sr1_x", Profile: "personal-banking", SubjectDN: "CN=x",
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), SPKISHA256: []byte{spki}, KeyType: "rsa2048",
			DER: []byte{1}, IssuerID: "iss", Operation: "issue", RequestID: "req-" + serial, CreatedAt: time.Now()}
	}
	insert := func(c *store.Certificate) error {
		return db.InTx(ctx, func(tx *store.Tx) error { return tx.InsertCertificate(ctx, c) })
	}
	if err := insert(mk("a1", 1)); err != nil {
		t.Fatal(err)
	}
	if err := insert(mk("a2", 2)); !errors.Is(err, store.ErrLiveExists) {
		t.Fatalf("second live certificate: err = %v, want ErrLiveExists", err)
	}
	c := mk("a3", 1)
	c.Profile = "personal-general"
	if err := insert(c); !errors.Is(err, store.ErrKeyCertified) {
		t.Fatalf("same key twice: err = %v, want ErrKeyCertified", err)
	}
}

func TestNotifyStatus_DeliveredOnCommitOnly(t *testing.T) {
	db, _ := storetest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 4)
	ready := make(chan struct{})
	var once sync.Once
	go db.Listen(ctx, store.StatusChannel, func() { once.Do(func() { close(ready) }) }, func(p string) { got <- p })
	<-ready
	_ = db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.NotifyStatus(ctx, "rolledback"); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.NotifyStatus(ctx, "ab12") }); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "ab12" {
			t.Fatalf("first notification %q, want ab12 (the rolled-back one must not arrive)", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5 s")
	}
}
