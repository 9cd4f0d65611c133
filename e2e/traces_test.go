package e2e

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// collector is an OTLP/gRPC trace receiver: what a real collector would
// get from signetd.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans map[string]int // span name -> count
}

func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				c.spans[sp.GetName()]++
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (c *collector) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.spans[name]
}

// TestTraces_SignetdDevExportsToAnOTLPCollector: `signetd --dev
// --otlp-endpoint` sends a span for each gRPC call and for the SQL it runs
// to a real OTLP/gRPC receiver.
func TestTraces_SignetdDevExportsToAnOTLPCollector(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{spans: map[string]int{}}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	e := prepare(t)
	e.launch("--otlp-endpoint=" + lis.Addr().String())
	e.signet("--json", "list") // at least no error; the certificate call below is what is traced
	if _, err := e.signetTry("status", "--serial", "1"); err == nil {
		t.Fatal("status of a serial that does not exist succeeded")
	}
	deadline := time.Now().Add(20 * time.Second)
	for col.count("signet.v1.EnrollmentService/GetCertificate") == 0 || col.count("db.query") == 0 {
		if time.Now().After(deadline) {
			col.mu.Lock()
			t.Fatalf("after 20 s the collector has spans %v: want the GetCertificate call and its SQL", col.spans)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("collector received %d GetCertificate and %d db.query spans", col.count("signet.v1.EnrollmentService/GetCertificate"), col.count("db.query"))
}
