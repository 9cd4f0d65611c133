package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// checkAdmin runs the auditor's queries with the real CLI over the admin
// listener after the life cycle, then tampers with the sealed audit log as
// the dev cluster's superuser and has `signet admin verify-log` find it.
func (e *env) checkAdmin(issued, renewed, reissued cert) {
	e.t.Helper()
	var history struct {
		Certificates []struct{ Serial, Status string }          `json:"certificates"`
		Events       []struct{ Action, Outcome, Serial string } `json:"events"`
	}
	e.adminJSON(&history, "history", "--serial", issued.Serial)
	var serials []string
	for _, c := range history.Certificates {
		serials = append(serials, c.Serial)
	}
	if want := []string{issued.Serial, renewed.Serial, reissued.Serial}; !slices.Equal(serials, want) {
		e.t.Errorf("history certificates %v, want the chain %v", serials, want)
	}
	var actions []string
	for _, ev := range history.Events {
		// Expiry reminders (a 10-day certificate is owed its 30-day one at
		// once) are recorded by the queue whenever it sends them, so their
		// place among the events is not fixed: e2e/reminders_test.go
		// checks them.
		if ev.Outcome == "ok" && !strings.HasPrefix(ev.Action, "reminder-") {
			actions = append(actions, ev.Action)
		}
	}
	// Each certificate's "sign" event, recorded before the CA key signed
	// it, stands just before the change that delivered it; the bank's
	// sign-in with the certificate is its event too.
	if want := []string{"sign", "issue", "login", "suspend", "resume", "sign", "renew", "sign", "reissue", "revoke"}; !slices.Equal(actions, want) {
		e.t.Errorf("history events %v, want %v", actions, want)
	}

	// The same certificate's events, newest first, a page of two at a
	// time (--all follows the page tokens): the auditor's history read
	// above is one of them. The renewal is an event of the new
	// certificate, which names this one as the one it replaces.
	var listed []struct {
		ID                         int64
		At, Actor, Action, Outcome string
	}
	e.adminJSON(&listed, "events", "--serial", issued.Serial, "--limit", "2", "--all")
	var got []string
	for i, ev := range listed {
		if !strings.HasPrefix(ev.Action, "reminder-") {
			got = append(got, ev.Action)
		}
		if i > 0 && ev.At > listed[i-1].At {
			e.t.Errorf("events out of order: %s (%s) after %s", ev.At, ev.Action, listed[i-1].At)
		}
	}
	if want := []string{"admin:GetCertificateHistory", "resume", "suspend", "login", "issue", "sign"}; !slices.Equal(got, want) {
		e.t.Errorf("events of %s, newest first: %v, want %v", issued.Serial, got, want)
	} else if !strings.HasPrefix(listed[0].Actor, "auditor:") {
		e.t.Errorf("the history read was audited as %q, want the auditor", listed[0].Actor)
	}

	var stats struct {
		Counts []struct {
			Profile, Status string
			Count           int64
		} `json:"counts"`
		Days []struct {
			Issued, Renewed, Reissued, Revoked int64
		} `json:"days"`
	}
	// Yesterday and today (KST): the life cycle may have run across midnight.
	e.adminJSON(&stats, "stats", "--days", "2")
	if len(stats.Counts) != 1 || stats.Counts[0].Status != "revoked" || stats.Counts[0].Count != 3 {
		e.t.Errorf("stats counts %+v, want 3 revoked personal-banking certificates", stats.Counts)
	}
	var issuedN, renewedN, reissuedN, revokedN int64
	for _, d := range stats.Days {
		issuedN, renewedN, reissuedN, revokedN = issuedN+d.Issued, renewedN+d.Renewed, reissuedN+d.Reissued, revokedN+d.Revoked
	}
	if len(stats.Days) != 2 || issuedN != 1 || renewedN != 1 || reissuedN != 1 || revokedN != 1 {
		e.t.Errorf("stats days %+v, want one each of issue, renew, reissue, revoke over two days", stats.Days)
	}

	// The sealer chains events within about a second; the queries above
	// were audited too, so wait for what is there now.
	db := e.superuser()
	var events int64
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM audit_events`).Scan(&events); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, code := e.verifyLog()
		if code == 0 && v.OK && v.Checked >= events {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("verify-log on the untouched log: exit %d, %+v; want ok with at least %d events", code, v, events)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Edit a sealed event behind the append-only trigger's back, as only
	// a superuser can; then undo it; then delete one.
	var seq, id int64
	var actor string
	if err := db.QueryRow(context.Background(), `SELECT c.seq, e.id, e.actor FROM audit_chain c JOIN audit_events e ON e.id = c.event_id
		ORDER BY c.seq OFFSET 2 LIMIT 1`).Scan(&seq, &id, &actor); err != nil {
		e.t.Fatal(err)
	}
	e.superExec(db, `UPDATE audit_events SET actor = 'someone-else' WHERE id = $1`, id)
	if v, code := e.verifyLog(); code != 1 || v.OK || v.FirstBrokenSeq != seq || v.FirstBrokenEventID != id {
		e.t.Errorf("after editing event %d (seq %d): exit %d, %+v; want exit 1 naming it", id, seq, code, v)
	}
	e.superExec(db, `UPDATE audit_events SET actor = $2 WHERE id = $1`, id, actor)
	if v, code := e.verifyLog(); code != 0 || !v.OK {
		e.t.Errorf("after undoing the edit: exit %d, %+v; want ok", code, v)
	}
	if err := db.QueryRow(context.Background(), `SELECT c.seq, c.event_id FROM audit_chain c ORDER BY c.seq OFFSET 4 LIMIT 1`).Scan(&seq, &id); err != nil {
		e.t.Fatal(err)
	}
	e.superExec(db, `DELETE FROM audit_events WHERE id = $1`, id)
	if v, code := e.verifyLog(); code != 1 || v.OK || v.FirstBrokenSeq != seq || !strings.Contains(v.Problem, "missing") {
		e.t.Errorf("after deleting event %d (seq %d): exit %d, %+v; want exit 1 naming it", id, seq, code, v)
	}
}

type verifyView struct {
	OK                 bool   `json:"ok"`
	Checked            int64  `json:"checked"`
	FirstBrokenSeq     int64  `json:"first_broken_seq"`
	FirstBrokenEventID int64  `json:"first_broken_event_id"`
	Problem            string `json:"problem"`
}

// verifyLog runs `signet admin verify-log --json`, which exits 1 when the
// log is broken.
func (e *env) verifyLog() (verifyView, int) {
	e.t.Helper()
	out, code := e.admin("verify-log")
	var v verifyView
	if err := json.Unmarshal(out, &v); err != nil {
		e.t.Fatalf("verify-log: output is not JSON: %v\n%s", err, out)
	}
	return v, code
}

func (e *env) adminJSON(v any, args ...string) {
	e.t.Helper()
	out, code := e.admin(args...)
	if code != 0 {
		e.t.Fatalf("signet admin %s: exit %d", strings.Join(args, " "), code)
	}
	if err := json.Unmarshal(out, v); err != nil {
		e.t.Fatalf("signet admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// admin runs `signet admin` as the dev auditor and returns its standard
// output and exit code.
func (e *env) admin(args ...string) ([]byte, int) {
	e.t.Helper()
	full := append([]string{"--ca-file", filepath.Join(e.state, "root.pem"), "--json", "admin",
		"--admin-server", e.adminAddr, "--cert", filepath.Join(e.state, "admin-auditor.pem")}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "signet"), full...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		e.t.Fatalf("signet admin %s: %v", strings.Join(args, " "), err)
	}
	if exit != nil {
		e.t.Logf("signet admin %s: exit %d: %s", strings.Join(args, " "), exit.ExitCode(), stderr.String())
		return out, exit.ExitCode()
	}
	return out, 0
}

// superuser connects to the dev cluster as its superuser (the cluster
// trusts local connections; state/pg/pgport holds its port).
func (e *env) superuser() *pgx.Conn {
	e.t.Helper()
	port, err := os.ReadFile(filepath.Join(e.state, "pg", "pgport"))
	if err != nil {
		e.t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), "postgres://postgres@127.0.0.1:"+strings.TrimSpace(string(port))+"/signet?sslmode=disable")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// superExec runs sql with triggers off for this session
// (session_replication_role = replica), which only a superuser may set.
func (e *env) superExec(conn *pgx.Conn, sql string, args ...any) {
	e.t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}
