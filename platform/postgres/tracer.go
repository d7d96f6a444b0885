package postgres

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("github.com/printfleet/printfleet/platform/postgres")

// spanTracer records a client span per query (statement text, never args).
type spanTracer struct{}

func (spanTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if !trace.SpanFromContext(ctx).SpanContext().IsValid() {
		return ctx // no parent: background work is not worth a root span per query
	}
	ctx, span := tracer.Start(ctx, "postgres.query", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.query.text", d.SQL)))
	return context.WithValue(ctx, querySpanKey{}, span)
}

type querySpanKey struct{}

func (spanTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	span, ok := ctx.Value(querySpanKey{}).(trace.Span)
	if !ok {
		return
	}
	if d.Err != nil {
		span.SetStatus(codes.Error, d.Err.Error())
	}
	span.End()
}

// Counter counts queries and batches (a batch is one round trip); tests use it to prove a hot path never touches
// PostgreSQL.
type Counter struct{ n atomic.Int64 }

// Count is the number of queries started so far.
func (c *Counter) Count() int64 { return c.n.Load() }

// TraceQueryStart counts the query.
func (c *Counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

// TraceQueryEnd does nothing.
func (c *Counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a batch as one round trip to the server.
func (c *Counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}

// TraceBatchQuery does nothing: the batch was counted when it started.
func (c *Counter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd does nothing.
func (c *Counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// roundTripsTotal counts the process's round trips to PostgreSQL: every
// query (BEGIN and COMMIT are queries too) and every batch (a pipeline is
// one round trip). The server has no per-client counter of its own
// (pg_stat_statements is not loaded everywhere), so the benchmark reads
// this one from each process's /metrics. The label is the process's
// binary name.
var roundTripsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "printfleet_db_round_trips_total",
	Help: "Round trips to PostgreSQL (queries and batches; BEGIN and COMMIT count as queries).",
}, []string{"service"})

// roundTrips feeds printfleet_db_round_trips_total; every pool has it.
type roundTrips struct{ c prometheus.Counter }

func newRoundTrips() roundTrips {
	return roundTrips{roundTripsTotal.WithLabelValues(filepath.Base(os.Args[0]))}
}

func (r roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.c.Inc()
	return ctx
}

func (roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.c.Inc()
	return ctx
}

func (roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

type multiTracer [2]pgx.QueryTracer

func (m multiTracer) TraceBatchStart(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	for _, t := range m {
		if bt, ok := t.(pgx.BatchTracer); ok {
			ctx = bt.TraceBatchStart(ctx, c, d)
		}
	}
	return ctx
}

func (m multiTracer) TraceBatchQuery(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchQueryData) {
	for _, t := range m {
		if bt, ok := t.(pgx.BatchTracer); ok {
			bt.TraceBatchQuery(ctx, c, d)
		}
	}
}

func (m multiTracer) TraceBatchEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceBatchEndData) {
	for i := len(m) - 1; i >= 0; i-- {
		if bt, ok := m[i].(pgx.BatchTracer); ok {
			bt.TraceBatchEnd(ctx, c, d)
		}
	}
}

func (m multiTracer) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	for _, t := range m {
		if t != nil {
			ctx = t.TraceQueryStart(ctx, c, d)
		}
	}
	return ctx
}

func (m multiTracer) TraceQueryEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	for i := len(m) - 1; i >= 0; i-- {
		if m[i] != nil {
			m[i].TraceQueryEnd(ctx, c, d)
		}
	}
}
