package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// planNode is one node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType  string     `json:"Node Type"`
	Relation  string     `json:"Relation Name"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// explain returns the plan PostgreSQL picks for sql with args.
func explain(t *testing.T, conn *pgx.Conn, sql string, args ...any) planNode {
	t.Helper()
	var out []byte
	if err := conn.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&out); err != nil {
		t.Fatalf("explain: %v\n%s", err, sql)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output: %v\n%s", err, out)
	}
	return plans[0].Plan
}

// Every background job finds its rows through an index at the volume of
// a busy day, never by reading a whole table: each batch then costs what
// it takes, not what the table holds, and fits the statement deadline.
// The queries are the jobs' own (store/enrollments.go, suspension.go,
// signatures.go, crl.go), and the foreign key check PostgreSQL runs for
// every enrollment the spent purge deletes.
func TestJobPlans_UseIndexesAtVolume(t *testing.T) {
	_, u := storetest.Open(t)
	v := storetest.JobVolume(storetest.TestVolume(), "volume", time.Now().UTC().Truncate(time.Second))
	storetest.LoadVolume(t, u, v)
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var enrollmentID string
	if err := conn.QueryRow(context.Background(), `SELECT id::text FROM enrollments WHERE nonce = 'due-1'`).Scan(&enrollmentID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		job, sql  string
		args      []any
		index     string
		notByScan string // the table it must not read whole
	}{
		{"purge spent: foreign key check per deleted enrollment",
			`SELECT 1 FROM ONLY used_evidence x WHERE enrollment_id = $1 FOR KEY SHARE OF x`,
			[]any{enrollmentID}, "used_evidence_enrollment", "used_evidence"},
		{"purge spent: evidence",
			`SELECT id FROM used_evidence WHERE used_at < $1 LIMIT $2`,
			[]any{v.SpentCutoff(), 5000}, "used_evidence_used_at", "used_evidence"},
		{"purge spent: enrollments",
			`SELECT e.id FROM enrollments e WHERE e.expires_at < $1
			  AND NOT EXISTS (SELECT 1 FROM used_evidence u WHERE u.enrollment_id = e.id) LIMIT $2`,
			[]any{v.SpentCutoff(), 5000}, "used_evidence_enrollment", "used_evidence"},
		{"lapsed suspensions",
			`SELECT serial FROM certificates WHERE status = 'suspended' AND revoked_at < $1
			 ORDER BY revoked_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
			[]any{v.Now.AddDate(0, -6, 0), 500}, "certificates_suspended_since", "certificates"},
		{"signature recovery",
			`SELECT id FROM signatures WHERE state = 'reserved' AND recorded_at < clock_timestamp() - make_interval(secs => $1)
			 ORDER BY recorded_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
			[]any{120.0, 500}, "signatures_open", "signatures"},
		{"CRL prune",
			`SELECT issuer_id, number FROM crls WHERE issuer_id = $1 AND der IS NOT NULL AND next_update < $2
			   AND number < (SELECT max(number) FROM crls WHERE issuer_id = $1) ORDER BY number LIMIT $3`,
			[]any{v.IssuerID, v.PruneCutoff(), 500}, "crls_unpruned", "crls"},
	} {
		plan := explain(t, conn, c.sql, c.args...)
		var indexes, scans []string
		plan.walk(func(n planNode) {
			if n.IndexName != "" {
				indexes = append(indexes, n.IndexName)
			}
			if n.NodeType == "Seq Scan" {
				scans = append(scans, n.Relation)
			}
		})
		if !strings.Contains(strings.Join(indexes, " "), c.index) {
			t.Errorf("%s: the plan uses indexes %v, want %s", c.job, indexes, c.index)
		}
		for _, s := range scans {
			if s == c.notByScan {
				t.Errorf("%s: the plan reads all of %s (sequential scan)", c.job, s)
			}
		}
	}
}

// The CRL prune drops the DER of every CRL past the cutoff in batches of
// its limit, oldest first, and keeps the rest, at volume.
func TestPruneCRLs_AtVolumeInBatches(t *testing.T) {
	db, u := storetest.Open(t)
	v := storetest.JobVolume(storetest.TestVolume(), "volume", time.Now().UTC().Truncate(time.Second))
	crls := storetest.Volume{Now: v.Now, IssuerID: v.IssuerID, CRLs: v.CRLs, Prunable: v.Prunable}
	storetest.LoadVolume(t, u, crls)
	ctx := context.Background()
	const batch = 500
	var batches, pruned int
	for {
		var numbers []int64
		err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			numbers, err = tx.PruneCRLs(ctx, v.IssuerID, v.PruneCutoff(), v.Now, batch)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(numbers) > batch {
			t.Fatalf("one prune took %d CRLs, more than its batch of %d", len(numbers), batch)
		}
		pruned += len(numbers)
		if len(numbers) == 0 {
			break
		}
		batches++
	}
	if want := (v.Prunable + batch - 1) / batch; pruned != v.Prunable || batches != want {
		t.Errorf("pruned %d CRLs in %d batches, want %d in %d", pruned, batches, v.Prunable, want)
	}
	var kept int
	if err := store.PoolOf(db).QueryRow(ctx, `SELECT count(*) FROM crls WHERE der IS NOT NULL`).Scan(&kept); err != nil || kept != 24 {
		t.Errorf("%d CRLs keep their DER (%v), want the last day's 24", kept, err)
	}
}
