package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/events"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// outboxTraceparent is the traceparent stored with the outbox row of event id.
func outboxTraceparent(t *testing.T, pool *pgxpool.Pool, id string) string {
	t.Helper()
	var raw []byte
	if err := pool.QueryRow(context.Background(), `SELECT headers FROM outbox WHERE id = $1`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h["traceparent"]
}

// Events that a later request writes about an order (a shipment, a
// cancellation) continue the trace of the request that placed it, through a
// span linked to the later request; events written inside the order's trace
// (the worker) keep their own context.
func TestEventsContinueTheOrdersTrace(t *testing.T) {
	// Not parallel: installs the global tracer provider and propagator.
	mem := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(mem))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })
	tr := tp.Tracer("test")

	pool, store := testenv.DB(t)
	f := testenv.NewFixture("alice")
	svc := app.NewService(app.Deps{Store: store, Catalog: f.Catalog, Pricing: f.Pricing, Log: testenv.Log()})
	createCtx, create := tr.Start(context.Background(), "POST /v1/orders")
	var placed *domain.Order
	_, err := svc.CreateOrder(createCtx, alice, uuid.NewString(), []byte("h"), app.CreateOrderInput{
		Items: []app.RequestedItem{{VariantID: f.VariantA, Quantity: 1}}, Address: testAddress(), Currency: "USD", PaymentMethod: 1,
	}, func(o *domain.Order) ([]byte, error) { placed = o; return []byte("x"), nil })
	create.End()
	if err != nil {
		t.Fatal(err)
	}
	orderTrace := create.SpanContext().TraceID().String()

	update := func(ctx context.Context) string {
		t.Helper()
		id := uuid.NewString()
		_, err := store.UpdateOrder(ctx, placed.ID(), app.UpdateOptions{}, func(o *domain.Order) (app.Change, error) {
			ev := events.PaymentFailed(o, "trace test")
			ev.ID = id
			return app.Change{Events: []outbox.Event{ev}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return outboxTraceparent(t, pool, id)
	}

	// Inside the order's trace: the event carries the caller's own span.
	wctx, worker := tr.Start(createCtx, "process printfleet.events")
	got := update(wctx)
	worker.End()
	if want := worker.SpanContext().SpanID().String(); !strings.Contains(got, orderTrace+"-"+want) {
		t.Errorf("event written in the order's trace: traceparent %q, want the worker's span %s", got, want)
	}

	// A later request in a trace of its own: the event joins the order's.
	mem.Reset()
	sctx, ship := tr.Start(context.Background(), "POST /v1/orders/{id}/shipments")
	got = update(sctx)
	ship.End()
	if !strings.Contains(got, "-"+orderTrace+"-") {
		t.Fatalf("event of a later request: traceparent %q, want the order's trace %s", got, orderTrace)
	}
	var anchor *tracetest.SpanStub
	for _, s := range mem.GetSpans() {
		if s.Name == "order events" {
			anchor = &s
		}
	}
	switch {
	case anchor == nil:
		t.Fatalf("no span bridging the request to the order's trace; spans: %v", mem.GetSpans().Snapshots())
	case anchor.SpanContext.TraceID().String() != orderTrace || anchor.Parent.SpanID() != create.SpanContext().SpanID():
		t.Errorf("bridge span in trace %s under %s, want trace %s under the create span %s",
			anchor.SpanContext.TraceID(), anchor.Parent.SpanID(), orderTrace, create.SpanContext().SpanID())
	case len(anchor.Links) != 1 || anchor.Links[0].SpanContext.SpanID() != ship.SpanContext().SpanID():
		t.Errorf("bridge span links %v, want the shipment request's span %s", anchor.Links, ship.SpanContext().SpanID())
	case !strings.Contains(got, anchor.SpanContext.SpanID().String()):
		t.Errorf("event traceparent %q is not the bridge span %s", got, anchor.SpanContext.SpanID())
	}
}
