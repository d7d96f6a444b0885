package amqpapi

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/services/ops/internal/app"
	store "github.com/printfleet/printfleet/services/ops/internal/store/postgres"
)

func TestToIncomingReason(t *testing.T) {
	t.Parallel()
	death := []any{amqp091.Table{"reason": "delivery_limit", "count": int64(1), "queue": "orders.worker"}}
	tests := []struct {
		name     string
		headers  map[string]any
		reason   string
		attempts int
		kept     []string
	}{
		{"consumer's error", map[string]any{amqp.HeaderError: "permanent: bad body", amqp.HeaderAttempts: int32(6), "traceparent": "00-a-b-01"},
			"permanent: bad body", 6, []string{"traceparent"}},
		{"broker's reason", map[string]any{"x-death": death, "x-first-death-reason": "delivery_limit", "x-delivery-count": int64(2), "tenant": int32(7)},
			"delivery_limit", 1, []string{"tenant"}},
		{"nothing", nil, "", 0, nil},
	}
	for _, tt := range tests {
		in := ToIncoming("orders.worker", amqp.Delivery{ID: "m", Type: "orders.order_paid.v1", Headers: tt.headers})
		if in.Reason != tt.reason || in.Attempts != tt.attempts || len(in.Headers) != len(tt.kept) {
			t.Errorf("%s: reason %q attempts %d headers %v; want %q %d %v", tt.name, in.Reason, in.Attempts, in.Headers, tt.reason, tt.attempts, tt.kept)
		}
		for _, k := range tt.kept {
			if _, ok := in.Headers[k]; !ok {
				t.Errorf("%s: header %s dropped", tt.name, k)
			}
		}
	}
}

// TestParkingHoldsTheMessageWhileTheDatabaseIsDown: with the ops database
// unreachable, parking fails as "unavailable", so the consumer holds the
// dead letter and calls again instead of requeueing it (which would spend a
// quorum queue's delivery limit).
func TestParkingHoldsTheMessageWhileTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://printfleet@127.0.0.1:1/ops?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	h := Handler(app.New(app.Options{Store: store.New(pool)}), "orders.worker")
	err = h(context.Background(), amqp.Delivery{ID: "m-1", Type: "orders.order_paid.v1", Body: []byte{0x0a}})
	if err == nil || !amqp.Unavailable(err) || amqp.IsPermanent(err) {
		t.Fatalf("parking with the database down: %v, want an unavailable error", err)
	}
}
