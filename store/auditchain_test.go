package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// TestAuditColumns_CoverTable fails when a migration adds a column to
// audit_events without adding it to the hash chain's canonical form.
func TestAuditColumns_CoverTable(t *testing.T) {
	_, u := storetest.Open(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'audit_events'`)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(store.AuditColumns)
	slices.Sort(cols)
	slices.Sort(want)
	if !slices.Equal(cols, want) {
		t.Fatalf("audit_events has columns %v, the chain covers %v: add new columns to store.AuditColumns and auditColumnsSQL", cols, want)
	}
}

// serviceRoleDB makes a login role without superuser and a database that
// it owns and has migrated itself, as a production deployment does. It
// returns the role's URL and a superuser URL for the same database.
func serviceRoleDB(t *testing.T) (roleURL, adminURL string) {
	t.Helper()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		admin = storetest.DefaultURL
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "signet_svc_" + hex.EncodeToString(b[:])
	for _, q := range []string{"CREATE ROLE " + name + " LOGIN", "CREATE DATABASE " + name + " OWNER " + name} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Log(err)
			return
		}
		defer c.Close(context.Background())
		for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "DROP ROLE IF EXISTS " + name} {
			if _, err := c.Exec(context.Background(), q); err != nil {
				t.Log(err)
			}
		}
	})
	au, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	au.Path = "/" + name
	ru := *au
	ru.User = url.User(name)
	if err := store.MigrateUp(ru.String()); err != nil {
		t.Fatalf("migrate as %s: %v", name, err)
	}
	return ru.String(), au.String()
}

// TestAuditChain_ServiceRoleCannotModify checks both walls as the service
// role: the privileges it lost in migration 0004, and, once it grants
// them back to itself (an owner can), the append-only triggers. It also
// checks that the role can still do what sealing needs, foreign key
// checks included.
func TestAuditChain_ServiceRoleCannotModify(t *testing.T) {
	roleURL, _ := serviceRoleDB(t)
	ctx := context.Background()
	db, err := store.Open(ctx, roleURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ev := &store.AuditEvent{At: time.Now(), Actor: "test", Action: "issue", Outcome: "ok"}
	if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.AppendAudit(ctx, ev) }); err != nil {
		t.Fatal(err)
	}
	hash := bytes.Repeat([]byte{7}, 32)
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.LockAuditSeal(ctx); err != nil {
			return err
		}
		if err := tx.AppendAuditChain(ctx, []store.AuditLink{{Seq: 1, EventID: ev.ID, Hash: hash}}); err != nil {
			return err
		}
		return tx.InsertAuditCheckpoint(ctx, &store.AuditCheckpoint{Seq: 1, Hash: hash, SignedAt: time.Now(),
			Signature: []byte{1}, SignerDER: []byte{2}})
	})
	if err != nil {
		t.Fatalf("the service role cannot seal: %v", err)
	}

	conn, err := pgx.Connect(ctx, roleURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var super bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
		t.Fatalf("the role must not be a superuser (super=%v err=%v)", super, err)
	}
	stmts := []string{
		"UPDATE audit_events SET actor = 'mallory'",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
		"UPDATE audit_chain SET hash = hash",
		"UPDATE audit_chain SET seq = seq",
		"DELETE FROM audit_chain",
		"TRUNCATE audit_chain CASCADE",
		"UPDATE audit_checkpoints SET hash = hash",
		"DELETE FROM audit_checkpoints",
		"TRUNCATE audit_checkpoints",
	}
	refused := func(stmt, want string) {
		t.Helper()
		_, err := conn.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", stmt, err, want)
		}
	}
	for _, stmt := range stmts {
		// "SET seq" passes the privilege check (the checkpoints' foreign
		// key needs UPDATE on audit_chain.seq) and meets the trigger.
		want := "permission denied"
		if strings.Contains(stmt, "SET seq") {
			want = "append-only"
		}
		refused(stmt, want)
	}
	if _, err := conn.Exec(ctx, `GRANT UPDATE, DELETE, TRUNCATE ON audit_events, audit_chain, audit_checkpoints TO CURRENT_USER`); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range stmts {
		refused(stmt, "append-only")
	}

	// xid is always the inserting transaction's, whatever the INSERT says.
	var xid, cur string
	err = conn.QueryRow(ctx, `INSERT INTO audit_events (at, actor, action, outcome, xid)
		VALUES (now(), 'x', 'y', 'ok', '3') RETURNING xid::text, pg_current_xact_id()::text`).Scan(&xid, &cur)
	if err != nil || xid != cur {
		t.Fatalf("explicit xid 3 stored as %s (transaction %s), err %v", xid, cur, err)
	}
}
