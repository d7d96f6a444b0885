package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

func TestOversellIsImpossible(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, err := e.app.Catalog.CreateProduct(e.admin(), domainProduct(50))
	if err != nil {
		t.Fatal(err)
	}
	vid := p.Variants[0].ID
	const orders = 200
	outcomes := make([]app.ReserveOutcome, orders)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range orders {
		wg.Go(func() {
			<-start
			var err error
			outcomes[i], err = e.app.Stock.Reserve(context.Background(), uuid.NewString(), fmt.Sprintf("order-%03d", i),
				[]domain.OrderItem{{VariantID: vid, Quantity: 1}, {VariantID: p.Variants[1].ID, Quantity: 2}})
			if err != nil {
				t.Errorf("order %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	got := map[app.ReserveOutcome]int{}
	for _, o := range outcomes {
		got[o]++
	}
	if got[app.OutcomeReserved] != 50 || got[app.OutcomeRejected] != 150 {
		t.Fatalf("outcomes = %v, want 50 reserved and 150 rejected", got)
	}
	checks := []struct {
		sql  string
		want int
	}{
		{`SELECT available::int FROM variants WHERE id = '` + vid + `'`, 0},
		{`SELECT count(*) FROM reservations WHERE status = 'reserved'`, 50},
		{`SELECT coalesce(sum(quantity), 0)::int FROM reservation_items WHERE variant_id = '` + vid + `'`, 50},
		{`SELECT count(*) FROM outbox WHERE type = 'catalog.stock_reserved.v1'`, 50},
		{`SELECT count(*) FROM outbox WHERE type = 'catalog.stock_rejected.v1'`, 150},
		// created (1) + one bump when the variant crossed zero.
		{`SELECT version::int FROM products WHERE id = '` + p.ID + `'`, 2},
		{`SELECT count(*) FROM outbox WHERE type = 'catalog.product_changed.v1'`, 2},
	}
	for _, c := range checks {
		if n := e.count(c.sql); n != c.want {
			t.Errorf("%s = %d, want %d", c.sql, n, c.want)
		}
	}
	var rej eventsv1.StockRejected
	var body []byte
	if err := e.pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE type = 'catalog.stock_rejected.v1' LIMIT 1`).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(body, &rej); err != nil || rej.GetReason() != domain.ReasonInsufficientStock || rej.GetVariantId() != vid {
		t.Fatalf("rejection = %v (%v)", &rej, err)
	}
}

func domainProduct(stock int64) domain.Product {
	sku := "OV-" + uuid.NewString()[:8]
	return domain.Product{Title: "Mug", Active: true,
		Variants: []domain.Variant{
			{SKU: sku + "-A", Title: "A", Price: domain.Money{Currency: "USD", AmountMinor: 899}, Active: true, StockTracked: true, StockAvailable: stock},
			{SKU: sku + "-B", Title: "B", Price: domain.Money{Currency: "USD", AmountMinor: 999}, Active: true},
		},
		Placements: []domain.Placement{{Name: "wrap", WidthIn: 8.5, HeightIn: 3.5, MinDPI: 200, RecommendedDPI: 300}}}
}

func orderPlaced(t *testing.T, id, orderID string, items ...*eventsv1.OrderPlacedItem) amqp.Message {
	b, err := proto.Marshal(&eventsv1.OrderPlaced{OrderId: orderID, UserId: "u1", Items: items})
	if err != nil {
		t.Fatal(err)
	}
	return amqp.Message{ID: id, Type: app.EventOrderPlaced, Body: b}
}

func TestStockThroughTheBrokerIsIdempotentPerOrderAndReleasesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, err := e.app.Catalog.CreateProduct(e.admin(), domainProduct(3))
	if err != nil {
		t.Fatal(err)
	}
	vid := p.Variants[0].ID
	e.start(e.app, RoleStock, RoleRelay, RoleProjector, RoleAPI)
	// Something must be bound to what the catalog publishes (mandatory).
	ctx := context.Background()
	if err := e.conn.DeclareQueue(ctx, e.broker.Queue("orders-worker"), app.EventStockReserved, app.EventStockRejected, app.EventStockReleased); err != nil {
		t.Fatal(err)
	}

	item := &eventsv1.OrderPlacedItem{VariantId: vid, Quantity: 3}
	m := orderPlaced(t, uuid.NewString(), "order-1", item)
	// The same message twice (a redelivery) and a second message for the
	// same order (a re-publish): one reservation.
	e.publish(m, m, orderPlaced(t, uuid.NewString(), "order-1", item))
	e.eventually(10*time.Second, "three stock messages handled", func() (bool, string) {
		n := e.count(`SELECT count(*) FROM processed_messages WHERE consumer = 'catalog.stock'`)
		return n == 2, fmt.Sprintf("%d inbox rows", n)
	})
	time.Sleep(200 * time.Millisecond) // let a wrongly duplicated handler finish too
	if n := e.count(`SELECT available::int FROM variants WHERE id = $1`, vid); n != 0 {
		t.Fatalf("available = %d after one order of 3 out of 3", n)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE type = 'catalog.stock_reserved.v1'`); n != 1 {
		t.Fatalf("StockReserved events = %d, want 1", n)
	}
	// The variant crossed zero: the projection shows it out of stock.
	e.eventually(10*time.Second, "projection shows out of stock", func() (bool, string) {
		got, err := e.client.GetProduct(ctx, &catalogv1.GetProductRequest{ProductId: p.ID})
		if err != nil {
			return false, err.Error()
		}
		return !got.GetVariants()[0].GetInStock() && got.GetVersion() == 2, fmt.Sprintf("in_stock=%v version=%d", got.GetVariants()[0].GetInStock(), got.GetVersion())
	})

	// A second order is rejected for lack of stock.
	e.publish(orderPlaced(t, uuid.NewString(), "order-2", &eventsv1.OrderPlacedItem{VariantId: vid, Quantity: 1}))
	// Consumers run concurrently: wait for it before releasing order-1.
	e.eventually(10*time.Second, "order-2 rejected", func() (bool, string) {
		n := e.count(`SELECT count(*) FROM reservations WHERE order_id = 'order-2' AND status = 'rejected'`)
		return n == 1, ""
	})
	// Release order-1 twice (cancel redelivered) and once more by a payment failure.
	cancel, _ := proto.Marshal(&eventsv1.OrderCancelled{OrderId: "order-1"})
	failed, _ := proto.Marshal(&eventsv1.PaymentFailed{OrderId: "order-1"})
	cm := amqp.Message{ID: uuid.NewString(), Type: app.EventOrderCancelled, Body: cancel}
	e.publish(cm, cm, amqp.Message{ID: uuid.NewString(), Type: app.EventPaymentFailed, Body: failed})
	// A cancel that arrives before its order: the late order reserves nothing.
	early, _ := proto.Marshal(&eventsv1.OrderCancelled{OrderId: "order-3"})
	e.publish(amqp.Message{ID: uuid.NewString(), Type: app.EventOrderCancelled, Body: early})
	e.eventually(10*time.Second, "early cancel recorded", func() (bool, string) {
		n := e.count(`SELECT count(*) FROM reservations WHERE order_id = 'order-3'`)
		return n == 1, ""
	})
	e.publish(orderPlaced(t, uuid.NewString(), "order-3", &eventsv1.OrderPlacedItem{VariantId: vid, Quantity: 1}))

	e.eventually(10*time.Second, "all stock messages handled", func() (bool, string) {
		n := e.count(`SELECT count(*) FROM processed_messages WHERE consumer = 'catalog.stock'`)
		return n == 7, fmt.Sprintf("%d inbox rows", n)
	})
	time.Sleep(200 * time.Millisecond)
	want := map[string]int{
		`SELECT available::int FROM variants WHERE id = '` + vid + `'`:                          3,
		`SELECT count(*) FROM outbox WHERE type = 'catalog.stock_released.v1'`:                  1,
		`SELECT count(*) FROM outbox WHERE type = 'catalog.stock_rejected.v1'`:                  1,
		`SELECT count(*) FROM reservations WHERE order_id = 'order-1' AND status = 'released'`:  1,
		`SELECT count(*) FROM reservations WHERE order_id = 'order-3' AND status = 'cancelled'`: 1,
		`SELECT count(*) FROM reservation_items WHERE order_id = 'order-3'`:                     0,
	}
	for sql, n := range want {
		if got := e.count(sql); got != n {
			t.Errorf("%s = %d, want %d", sql, got, n)
		}
	}
	e.eventually(10*time.Second, "projection back in stock", func() (bool, string) {
		got, err := e.client.GetProduct(ctx, &catalogv1.GetProductRequest{ProductId: p.ID})
		if err != nil {
			return false, err.Error()
		}
		return got.GetVariants()[0].GetInStock(), fmt.Sprintf("version=%d", got.GetVersion())
	})
	// Everything the catalog wrote was published.
	e.eventually(10*time.Second, "outbox drained", func() (bool, string) {
		n := e.count(`SELECT count(*) FROM outbox WHERE published_at IS NULL`)
		return n == 0, fmt.Sprintf("%d unpublished", n)
	})
}

func TestMalformedStockMessageGoesToTheDLQ(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, RoleStock)
	e.publish(amqp.Message{ID: uuid.NewString(), Type: app.EventOrderPlaced, Body: []byte{0xff, 0xff, 0xff}})
	e.eventually(10*time.Second, "dead-lettered", func() (bool, string) {
		n, err := e.conn.QueueDepth(context.Background(), amqp.DLQName(e.queues.Stock))
		if err != nil {
			return false, err.Error()
		}
		return n == 1, fmt.Sprintf("dlq depth %d", n)
	})
	if n := e.count(`SELECT count(*) FROM reservations`); n != 0 {
		t.Fatalf("reservations = %d after a malformed message", n)
	}
}
