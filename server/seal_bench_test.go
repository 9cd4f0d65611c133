package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/signet-ca/signet/audit"
	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/store"
)

// BenchmarkIssueWithSealer is BenchmarkIssueCertificate with the audit
// sealer off and on (Interval 200 ms, its own store.DB on the harness's
// database, as a second replica's sealer would be), each with a fresh
// harness whose own sealer is off. "unsealed" is how many events were not
// yet in the chain when the timed loop ended: the sealer kept up if it
// stays near the events of the last Interval. The machine's speed drifts
// over minutes, so compare alternating runs (README, "Admin API"), not
// -count blocks.
//
//	go test ./server -run '^$' -bench 'IssueWithSealer/on$' -benchtime 4000x -cpu 2
func BenchmarkIssueWithSealer(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			// The server's own sealer is off in both: "on" runs one
			// against the same database, as another replica would.
			h := newHarness(b, func(bt *server.Built) { bt.Sealer = nil })
			var db *store.DB
			if on {
				db = startSealer(b, h)
			}
			b.ResetTimer()
			issueInParallel(b, h)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
			if db != nil {
				var unsealed int
				err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events e
					WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)`).Scan(&unsealed)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(unsealed), "unsealed")
				if b.N >= 100 {
					// The chain the sealer built under load verifies.
					rep, err := audit.Verify(context.Background(), db, 0, 0, h.roots)
					if err != nil || !rep.OK {
						b.Fatalf("verify: %+v, %v", rep, err)
					}
				}
			}
		})
	}
}

// startSealer runs an audit sealer against the harness's database until
// the benchmark ends, and returns its store.
func startSealer(b *testing.B, h *harness) *store.DB {
	b.Helper()
	db, err := store.Open(context.Background(), h.pool.Config().ConnString())
	if err != nil {
		b.Fatal(err)
	}
	// The server's own delegates: the sealer reuses its audit signer.
	s := audit.NewSealer(db, h.built.Delegates, audit.Options{Interval: 200 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(runCtx)
	}()
	b.Cleanup(func() {
		cancel()
		<-done
		db.Close()
	})
	for deadline := time.Now().Add(10 * time.Second); !s.Leading(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the sealer did not start within 10 s")
		}
	}
	return db
}
