package postgres

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const tracerName = "github.com/printfleet/printfleet/services/orders/internal/store/postgres"

// traceParent is the W3C traceparent of the span in ctx, "" without one.
func traceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c.Get("traceparent")
}

// orderTrace returns the context the events of a change to order orderID are
// written under: ctx itself when it already belongs to the order's trace (the
// worker, continuing a message of the order) or the order has none; otherwise
// (a later request, such as a shipment) a short span in the order's trace,
// placed by parent, that links to ctx's span. The outbox stores that context
// with the events, so their consumers continue the order's trace. end ends
// the span.
func orderTrace(ctx context.Context, orderID, parent string) (_ context.Context, end func()) {
	noop := func() {}
	if parent == "" {
		return ctx, noop
	}
	order := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
		propagation.MapCarrier{"traceparent": parent}))
	current := trace.SpanContextFromContext(ctx)
	if !order.IsValid() || order.TraceID() == current.TraceID() {
		return ctx, noop
	}
	opts := []trace.SpanStartOption{trace.WithAttributes(attribute.String("printfleet.order_id", orderID))}
	if current.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: current}))
	}
	ctx, span := otel.Tracer(tracerName).Start(trace.ContextWithRemoteSpanContext(ctx, order), "order events", opts...)
	return ctx, func() { span.End() }
}

// traceIDOf is the trace id of a W3C traceparent ("00-<trace id>-<span
// id>-<flags>"), "" when parent is not a valid one.
func traceIDOf(parent string) string {
	if parent == "" {
		return ""
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
		propagation.MapCarrier{"traceparent": parent}))
	if !sc.TraceID().IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
