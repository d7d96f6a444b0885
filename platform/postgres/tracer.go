package postgres

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
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

// Counter counts queries; tests use it to prove a hot path never touches
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

type multiTracer [2]pgx.QueryTracer

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
