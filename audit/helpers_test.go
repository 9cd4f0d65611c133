package audit_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/audit"
	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/lint"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// One dev CA for the package: RSA key generation is the slow part.
var (
	pkiOnce  sync.Once
	pkiFiles devca.Files
	pkiErr   error
)

func sharedPKI(t testing.TB) devca.Files {
	pkiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "signet-audit-pki-")
		if err != nil {
			pkiErr = err
			return
		}
		pkiFiles, pkiErr = devca.Ensure(dir, "Signet", []string{"127.0.0.1"}, devca.RSA2048)
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiFiles
}

// env is a fresh database with a real signer (softkms + softcas).
type env struct {
	t      testing.TB
	db     *store.DB
	url    string // superuser (storetest's admin is postgres)
	signer *signer.Delegates
	caKey  crypto.Signer // the issuing key, for tests that forge certificates
	roots  *x509.CertPool
	reader *pgx.Conn // superuser, triggers on
}

func newEnv(t testing.TB) *env {
	t.Helper()
	files := sharedPKI(t)
	db, u := storetest.Open(t)
	linter, err := lint.New()
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := signer.New(context.Background(), signer.Config{Chain: files.Intermediate, KMS: "softkms:", Key: files.IntermediateKey}, linter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { issuing.Close() })
	// The CA's ledger lives in a database of its own here, so that the
	// audit signer's "sign" event does not join the log under test.
	ledger, _ := storetest.Open(t)
	delegates, err := signer.NewDelegates(issuing, ledger, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	k, err := pemutil.Read(files.IntermediateKey)
	if err != nil {
		t.Fatal(err)
	}
	root, err := pemutil.ReadCertificate(files.Root)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	reader, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close(context.Background()) })
	return &env{t: t, db: db, url: u, signer: delegates, caKey: k.(crypto.Signer), roots: roots, reader: reader}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// sealer checkpoints after every batch of 10.
func (e *env) sealer() *audit.Sealer {
	return audit.NewSealer(e.db, e.signer, audit.Options{Batch: 10, CheckpointEvery: time.Nanosecond, Log: quietLog()})
}

// events appends n events, one transaction each, with varied columns.
func (e *env) events(n int) {
	e.t.Helper()
	ctx := context.Background()
	for i := range n {
		ev := &store.AuditEvent{
			At: time.Date(2026, 3, 1, 10, 0, 0, i*1000, time.UTC), Actor: "ra:bank-004", Action: "issue", Outcome: "ok",
			Serial: fmt.Sprintf("%040x", i+1), SubjectRef: "sr1_abc", Profile: "personal-banking", RequestID: fmt.Sprintf("req-%d", i),
			Details: map[string]any{"n": i, "name": "홍길동", "nested": map[string]any{"b": true, "a": []int{1, 2}}},
		}
		if i%3 == 1 {
			ev.Outcome, ev.Code, ev.Reason, ev.Serial, ev.Details = "refused", "invalid", "weak_key", "", nil
		}
		if err := e.db.InTx(ctx, func(tx *store.Tx) error { return tx.AppendAudit(ctx, ev) }); err != nil {
			e.t.Fatal(err)
		}
	}
}

// sealAll waits until every committed event is sealable, then seals them
// all, so that batches (and the checkpoints after each) fall where a test
// expects. The database cluster is shared by tests running in parallel,
// in other databases too: a transaction open anywhere in the cluster holds
// the snapshot's xmin back, so an event can be committed and not yet
// sealable for a moment.
func (e *env) sealAll(s *audit.Sealer) int {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		if err := e.query(`SELECT count(*) FROM audit_events e
			WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)
			  AND e.xid >= pg_snapshot_xmin(pg_current_snapshot())`).Scan(&waiting); err != nil {
			e.t.Fatal(err)
		}
		if waiting == 0 {
			return e.sealNow(s)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d events still not sealable after 20 s", waiting)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sealNow seals until a seal finds nothing sealable.
func (e *env) sealNow(s *audit.Sealer) int {
	e.t.Helper()
	total := 0
	for {
		n, err := s.SealOnce(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

func (e *env) verify(from, to int64) *audit.Report {
	e.t.Helper()
	rep, err := audit.Verify(context.Background(), e.db, from, to, e.roots)
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

// attacker is a superuser session that bypasses the append-only triggers
// (and foreign keys) the way a database administrator could.
func (e *env) attacker() *pgx.Conn {
	e.t.Helper()
	ctx := context.Background()
	conn := e.conn()
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		e.t.Fatal(err)
	}
	return conn
}

// conn is a new superuser session with the triggers on.
func (e *env) conn() *pgx.Conn {
	e.t.Helper()
	conn, err := pgx.Connect(context.Background(), e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func (e *env) exec(conn *pgx.Conn, sql string, args ...any) {
	e.t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// eventAt returns the id of the event sealed at seq.
func (e *env) eventAt(seq int64) int64 {
	e.t.Helper()
	var id int64
	if err := e.query("SELECT event_id FROM audit_chain WHERE seq = $1", seq).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) query(sql string, args ...any) pgx.Row {
	return e.reader.QueryRow(context.Background(), sql, args...)
}

// contentColumns are every column but id: what "contents" of a row means
// when an attacker moves them between rows.
const contentColumns = `at, actor, action, outcome, code, reason, serial, subject_ref, profile, request_id, details, xid`

func wantBroken(t *testing.T, rep *audit.Report, kind audit.ProblemKind, seq, eventID int64) {
	t.Helper()
	if rep.OK || rep.Kind != kind || rep.FirstBrokenSeq != seq || rep.FirstBrokenEventID != eventID {
		t.Fatalf("report = %+v\nwant kind %s at seq %d, event %d", rep, kind, seq, eventID)
	}
	t.Logf("detected: %s", rep.Problem)
}
