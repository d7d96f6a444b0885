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
	p, err := e.app.Catalog.CreateProduct(context.Background(), adminCaller, domainProduct(50))
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
			outcomes[i], err = e.app.Stock.Reserve(context.Background(), app.InboxClaim{Consumer: eventsv1.QueueCatalogStock, MessageID: uuid.NewString()}, fmt.Sprintf("order-%03d", i),
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
	outboxByType := `SELECT count(*) FROM outbox WHERE type = $1`
	checks := []struct {
		sql  string
		arg  string
		want int
	}{
		{`SELECT available::int FROM variants WHERE id = $1`, vid, 0},
		{`SELECT count(*) FROM reservations WHERE status = $1`, "reserved", 50},
		{`SELECT coalesce(sum(quantity), 0)::int FROM reservation_items WHERE variant_id = $1`, vid, 50},
		{outboxByType, eventsv1.KeyStockReserved, 50},
		{outboxByType, eventsv1.KeyStockRejected, 150},
		// created (1) + one bump per reservation that took tracked stock
		// (the projection shows stock_available); rejections take none.
		{`SELECT version::int FROM products WHERE id = $1`, p.ID, 51},
		{outboxByType, eventsv1.KeyProductChanged, 51},
	}
	for _, c := range checks {
		if n := e.count(c.sql, c.arg); n != c.want {
			t.Errorf("%s [%s] = %d, want %d", c.sql, c.arg, n, c.want)
		}
	}
	var rej eventsv1.StockRejected
	var body []byte
	if err := e.pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE type = $1 LIMIT 1`, eventsv1.KeyStockRejected).Scan(&body); err != nil {
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
	return amqp.Message{ID: id, Type: eventsv1.KeyOrderPlaced, Body: b}
}

func TestStockThroughTheBrokerIsIdempotentPerOrderAndReleasesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, err := e.app.Catalog.CreateProduct(context.Background(), adminCaller, domainProduct(3))
	if err != nil {
		t.Fatal(err)
	}
	vid := p.Variants[0].ID
	e.start(e.app, partStock, partRelay, partProjector, partAPI)
	// Something must be bound to what the catalog publishes (mandatory).
	ctx := context.Background()
	if err := e.conn.DeclareQueue(ctx, e.broker.Queue("orders-worker"), eventsv1.KeyStockReserved, eventsv1.KeyStockRejected, eventsv1.KeyStockReleased); err != nil {
		t.Fatal(err)
	}
	// And to the variant prices pricing reads.
	if err := e.conn.DeclareQueue(ctx, e.broker.Queue("pricing"), eventsv1.KeyVariantPricesChanged); err != nil {
		t.Fatal(err)
	}

	item := &eventsv1.OrderPlacedItem{VariantId: vid, Quantity: 3}
	m := orderPlaced(t, uuid.NewString(), "order-1", item)
	// The same message twice (a redelivery) and a second message for the
	// same order (a re-publish, under the key of orders with a coupon, which
	// the stock consumer binds too): one reservation, announced once per
	// message (the re-publish asks again because the answer may be lost).
	again := orderPlaced(t, uuid.NewString(), "order-1", item)
	again.Type = eventsv1.KeyOrderPlacedCoupon
	e.publish(m, m, again)
	e.eventually(10*time.Second, "three stock messages handled", func() (bool, string) {
		n := e.inboxed(eventsv1.QueueCatalogStock)
		return n == 2, fmt.Sprintf("%d inbox rows", n)
	})
	time.Sleep(200 * time.Millisecond) // let a wrongly duplicated handler finish too
	if n := e.count(`SELECT available::int FROM variants WHERE id = $1`, vid); n != 0 {
		t.Fatalf("available = %d after one order of 3 out of 3", n)
	}
	if n := e.events(eventsv1.KeyStockReserved); n != 2 {
		t.Fatalf("StockReserved events = %d, want 2 (the first message's and the re-publish's)", n)
	}
	if n := e.count(`SELECT count(*) FROM reservations WHERE order_id = 'order-1'`); n != 1 {
		t.Fatalf("%d reservations of order-1, want 1", n)
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
	cm := amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyOrderCancelled, Body: cancel}
	e.publish(cm, cm, amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyPaymentFailed, Body: failed})
	// A cancel that arrives before its order: the late order reserves nothing.
	early, _ := proto.Marshal(&eventsv1.OrderCancelled{OrderId: "order-3"})
	e.publish(amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyOrderCancelled, Body: early})
	e.eventually(10*time.Second, "early cancel recorded", func() (bool, string) {
		n := e.count(`SELECT count(*) FROM reservations WHERE order_id = 'order-3'`)
		return n == 1, ""
	})
	e.publish(orderPlaced(t, uuid.NewString(), "order-3", &eventsv1.OrderPlacedItem{VariantId: vid, Quantity: 1}))

	e.eventually(10*time.Second, "all stock messages handled", func() (bool, string) {
		n := e.inboxed(eventsv1.QueueCatalogStock)
		return n == 7, fmt.Sprintf("%d inbox rows", n)
	})
	time.Sleep(200 * time.Millisecond)
	want := map[string]int{
		`SELECT available::int FROM variants WHERE id = '` + vid + `'`:                          3,
		`SELECT count(*) FROM reservations WHERE order_id = 'order-1' AND status = 'released'`:  1,
		`SELECT count(*) FROM reservations WHERE order_id = 'order-3' AND status = 'cancelled'`: 1,
		`SELECT count(*) FROM reservation_items WHERE order_id = 'order-3'`:                     0,
	}
	for sql, n := range want {
		if got := e.count(sql); got != n {
			t.Errorf("%s = %d, want %d", sql, got, n)
		}
	}
	// Nothing consumes a release announcement, so none is published.
	for key, n := range map[string]int{eventsv1.KeyStockReleased: 0, eventsv1.KeyStockRejected: 1} {
		if got := e.events(key); got != n {
			t.Errorf("%s events = %d, want %d", key, got, n)
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
	e.start(e.app, partStock)
	e.publish(amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyOrderPlaced, Body: []byte{0xff, 0xff, 0xff}})
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
