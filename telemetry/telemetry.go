// Package telemetry turns on OpenTelemetry tracing when an OTLP endpoint
// is configured: a tracer provider that exports over OTLP/gRPC, a pgx
// tracer with a span per statement, and a slog handler that puts the
// trace and span ids on every log line written inside a span. Without an
// endpoint nothing here is used: no exporter, no spans, no handler.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Propagator reads and writes W3C trace context (traceparent) on calls.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Options name the collector.
type Options struct {
	// Endpoint is the OTLP/gRPC collector, host:port (e.g.
	// "otel-collector:4317").
	Endpoint string
	// Insecure sends spans without TLS (a collector on localhost or a
	// sidecar).
	Insecure bool
	// Service is service.name on every span ("signetd").
	Service string
}

// NewProvider returns a tracer provider that batches spans to the OTLP
// collector. The exporter connects lazily: a collector that is down costs
// dropped spans, never a failed request. Shutdown flushes.
func NewProvider(ctx context.Context, o Options) (*sdktrace.TracerProvider, error) {
	if o.Endpoint == "" {
		return nil, fmt.Errorf("telemetry: an OTLP endpoint is required")
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(o.Endpoint)}
	if o.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter for %s: %w", o.Endpoint, err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(o.Service))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// QueryTracer is a pgx.QueryTracer with one client span per statement. The
// span carries the SQL text, which is parameterized, never the arguments:
// they hold personal data (DESIGN.md invariant 7).
type QueryTracer struct{ tracer trace.Tracer }

var _ pgx.QueryTracer = (*QueryTracer)(nil)

// NewQueryTracer traces statements with tp.
func NewQueryTracer(tp trace.TracerProvider) *QueryTracer {
	return &QueryTracer{tracer: tp.Tracer("github.com/signet-ca/signet/store")}
}

// TraceQueryStart opens the statement's span.
func (q *QueryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	ctx, _ = q.tracer.Start(ctx, "db.query", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.DBSystemNamePostgreSQL, attribute.String("db.query.text", data.SQL)))
	return ctx
}

// TraceQueryEnd closes it, with the error if the statement failed.
func (q *QueryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if data.Err != nil {
		span.RecordError(data.Err)
		span.SetStatus(codes.Error, data.Err.Error())
	}
	span.End()
}

// LogHandler adds trace_id and span_id to each record logged with a
// context that carries a span, so that a log line leads to its trace.
type LogHandler struct{ slog.Handler }

// NewLogHandler wraps h.
func NewLogHandler(h slog.Handler) *LogHandler { return &LogHandler{Handler: h} }

// Handle adds the ids, then hands the record on.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h *LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithAttrs(as)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithGroup(name)}
}
