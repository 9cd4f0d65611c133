package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
	"github.com/signet-ca/signet/telemetry"
)

func TestLogHandler_AddsTraceAndSpanIDsInsideASpan(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	var buf bytes.Buffer
	log := slog.New(telemetry.NewLogHandler(slog.NewTextHandler(&buf, nil))).With("component", "test")
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	log.InfoContext(ctx, "inside")
	span.End()
	log.InfoContext(context.Background(), "outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := "trace_id=" + span.SpanContext().TraceID().String() + " span_id=" + span.SpanContext().SpanID().String()
	if !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "component=test") {
		t.Errorf("inside a span: %q, want %q and the handler's attributes", lines[0], want)
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("outside a span: %q has a trace id", lines[1])
	}
}

func TestQueryTracer_OneSpanPerStatementWithoutArguments(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db, err := store.OpenWith(context.Background(), storetest.NewDatabase(t), store.Options{Tracer: telemetry.NewQueryTracer(tp)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := db.Backlog(ctx, "secret-issuer-argument"); err != nil {
		t.Fatal(err)
	}
	parent.End()
	var queries int
	for _, s := range rec.Ended() {
		if s.Name() != "db.query" {
			continue
		}
		queries++
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Error("the statement's span is not a child of the request's")
		}
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), "secret-issuer-argument") {
				t.Errorf("span attribute %s carries a statement argument", a.Key)
			}
		}
	}
	if queries != 1 {
		t.Errorf("%d db.query spans, want 1", queries)
	}
}
