package audit_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/signet-ca/signet/audit"
)

// BenchmarkSealVerify seals and verifies 200,000 events (a backlog, in
// batches of 5000 with a checkpoint every 10 s) and reports both rates and
// the Go heap after Verify, which streams.
//
//	go test ./audit -run '^$' -bench SealVerify -benchtime 1x
func BenchmarkSealVerify(b *testing.B) {
	const events = 200_000
	for range b.N {
		b.StopTimer()
		e := newEnv(b)
		ctx := context.Background()
		if _, err := e.reader.Exec(ctx, `INSERT INTO audit_events (at, actor, action, outcome, serial, request_id, details)
			SELECT now(), 'ra:bank-004', 'issue', 'ok', lpad(to_hex(g), 40, '0'), 'req-' || g,
			       jsonb_build_object('n', g, 'name', '홍길동', 'profile', 'personal-banking')
			FROM generate_series(1, $1) g`, events); err != nil {
			b.Fatal(err)
		}
		s := audit.NewSealer(e.db, e.signer, audit.Options{Log: quietLog()})
		b.StartTimer()
		start := time.Now()
		total := 0
		for total < events {
			n, err := s.SealOnce(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				time.Sleep(5 * time.Millisecond) // xmin held back by another session
			}
			total += n
		}
		sealed := time.Since(start)
		start = time.Now()
		rep, err := audit.Verify(ctx, e.db, 0, 0, e.roots)
		if err != nil || !rep.OK || rep.Checked != events {
			b.Fatalf("%+v %v", rep, err)
		}
		verified := time.Since(start)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(events/sealed.Seconds(), "sealed/s")
		b.ReportMetric(events/verified.Seconds(), "verified/s")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heapMiB")
	}
}
