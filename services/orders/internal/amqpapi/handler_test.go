package amqpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/amqpapi"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

func delivery(t *testing.T, typ string, m proto.Message) amqp.Delivery {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return amqp.Delivery{ID: uuid.NewString(), Type: typ, Body: b, Attempt: 1}
}

// snapshot is everything a handler may change, as text.
func snapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, status, payment_id, refund_id, failure_reason, stock_reserved, version, updated_at FROM orders ORDER BY id`,
		`SELECT id, print_file_key FROM order_items ORDER BY id`,
		`SELECT order_id, type, from_status, to_status, message FROM order_events ORDER BY seq`,
		`SELECT type, payload FROM outbox ORDER BY seq`,
		`SELECT consumer, message_id FROM processed_messages ORDER BY 1, 2`,
		`SELECT id FROM shipments ORDER BY id`,
	} {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, _ := rows.Values()
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

// placed creates n orders through the API use case.
func placed(t *testing.T, s *testenv.Server, f *testenv.Fixture, n int) []*ordersv1.Order {
	t.Helper()
	var out []*ordersv1.Order
	for i := range n {
		o, err := s.Client.CreateOrder(s.User("alice", fmt.Sprint("key-", i)), f.Request("alice"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

func TestEveryConsumerRunTwiceEqualsOnce(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	pay := &testenv.Payments{}
	h := amqpapi.Handler(testenv.NewWorker(t, s.Store, pay))
	ctx := context.Background()
	orders := placed(t, s, f, 4)
	paid, rejected, cancelled, declined := orders[0], orders[1], orders[2], orders[3]

	steps := []struct {
		name string
		d    amqp.Delivery
		pre  func()
	}{
		{name: "stock reserved → paid", d: delivery(t, eventsv1.KeyStockReserved, &eventsv1.StockReserved{OrderId: paid.Id, ReservationId: "r1"})},
		{name: "stock rejected", d: delivery(t, eventsv1.KeyStockRejected, &eventsv1.StockRejected{OrderId: rejected.Id, Reason: "out of stock", VariantId: f.VariantA})},
		{name: "print files ready", d: delivery(t, eventsv1.KeyPrintFilesReady, &eventsv1.PrintFilesReady{OrderId: paid.Id,
			Files: []*eventsv1.PrintFile{{ItemId: paid.Items[0].Id, PrintFileKey: "renders/" + paid.Id + "/0.png"}}})},
		{name: "marketplace pushed", d: delivery(t, eventsv1.KeyMarketplacePushed, &eventsv1.MarketplacePushed{OrderId: paid.Id,
			ShipmentId: uuid.NewString(), Marketplace: "shopify", Outcome: eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED, Attempts: 2, HttpStatus: 201})},
		{name: "stock reserved for the order to cancel", d: delivery(t, eventsv1.KeyStockReserved, &eventsv1.StockReserved{OrderId: cancelled.Id})},
		{name: "cancelled after payment → refund", pre: func() {
			if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: cancelled.Id}); err != nil {
				t.Fatal(err)
			}
		}, d: delivery(t, eventsv1.KeyOrderCancelled, &eventsv1.OrderCancelled{OrderId: cancelled.Id, WasPaid: true, StockReserved: true})},
		{name: "declined payment", pre: func() { pay.Decline = true },
			d: delivery(t, eventsv1.KeyStockReserved, &eventsv1.StockReserved{OrderId: declined.Id})},
	}
	for _, st := range steps {
		if st.pre != nil {
			st.pre()
		}
		if err := h(ctx, st.d); err != nil {
			t.Fatalf("%s: first run: %v", st.name, err)
		}
		once := snapshot(t, s.Pool)
		if err := h(ctx, st.d); err != nil {
			t.Fatalf("%s: second run: %v", st.name, err)
		}
		if twice := snapshot(t, s.Pool); twice != once {
			t.Fatalf("%s: state after two runs differs from one run:\n%s\nvs\n%s", st.name, once, twice)
		}
	}
	want := map[string]ordersv1.OrderStatus{
		paid.Id: ordersv1.OrderStatus_ORDER_STATUS_IN_PRODUCTION, rejected.Id: ordersv1.OrderStatus_ORDER_STATUS_REJECTED,
		cancelled.Id: ordersv1.OrderStatus_ORDER_STATUS_CANCELLED, declined.Id: ordersv1.OrderStatus_ORDER_STATUS_PAYMENT_FAILED,
	}
	admin := s.As("root", []string{principal.RoleAdmin}, "")
	for id, st := range want {
		o, err := s.Client.GetOrder(admin, &ordersv1.GetOrderRequest{OrderId: id})
		if err != nil || o.Status != st {
			t.Fatalf("order %s: %v %v, want %v", id, o.GetStatus(), err, st)
		}
	}
	if pay.Refunds["refund-"+cancelled.Id] != 1 {
		t.Fatalf("refunds %v, want one for the cancelled order", pay.Refunds)
	}
	var paidEvent []byte
	if err := s.Pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE type = $1`, eventsv1.KeyOrderPaid).Scan(&paidEvent); err != nil {
		t.Fatal(err)
	}
	var op eventsv1.OrderPaid
	if err := proto.Unmarshal(paidEvent, &op); err != nil {
		t.Fatal(err)
	}
	if len(op.RenderItems) != 1 || op.RenderItems[0].DesignKey == "" || op.RenderItems[0].Placement.GetWidthIn() != 12 {
		t.Fatalf("OrderPaid render items %v", op.RenderItems)
	}
	if n := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyPaymentFailed); n != 1 {
		t.Fatalf("%d PaymentFailed, want 1", n)
	}
}

func TestPoisonMessagesAreDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	h := amqpapi.Handler(testenv.NewWorker(t, s.Store, nil))
	for name, d := range map[string]amqp.Delivery{
		"garbage body":  {ID: uuid.NewString(), Type: eventsv1.KeyStockReserved, Body: []byte{0xff, 0xff, 0xff}},
		"bad order id":  delivery(t, eventsv1.KeyStockReserved, &eventsv1.StockReserved{OrderId: "42"}),
		"unknown order": delivery(t, eventsv1.KeyStockRejected, &eventsv1.StockRejected{OrderId: uuid.NewString()}),
		"unknown type":  {ID: uuid.NewString(), Type: "orders.something_else.v1"},
	} {
		if err := h(context.Background(), d); !amqp.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error", name, err)
		}
	}
}

func TestStockReservedAfterCancelReleasesIt(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	pay := &testenv.Payments{}
	w := testenv.NewWorker(t, s.Store, pay)
	o := placed(t, s, f, 1)[0]
	if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: o.Id}); err != nil {
		t.Fatal(err)
	}
	if err := w.StockReserved(context.Background(), uuid.NewString(), o.Id); err != nil {
		t.Fatal(err)
	}
	if len(pay.Charges) != 0 {
		t.Fatal("a cancelled order was charged")
	}
	var payload []byte
	err := s.Pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE type = $1 ORDER BY seq DESC LIMIT 1`, eventsv1.KeyOrderCancelled).Scan(&payload)
	if err != nil {
		t.Fatal(err)
	}
	var oc eventsv1.OrderCancelled
	if err := proto.Unmarshal(payload, &oc); err != nil || !oc.StockReserved {
		t.Fatalf("late reservation not released: %v %v", &oc, err)
	}
}

// The queue's bindings and the handler's switch name the same keys: every
// bound key is decoded (a garbage body is a decode error, not an unexpected
// type), and any other key is refused as unexpected.
func TestRoutingKeysAreTheHandledKeys(t *testing.T) {
	t.Parallel()
	h := amqpapi.Handler(nil)
	bound := map[string]bool{}
	for _, key := range amqpapi.RoutingKeys {
		bound[key] = true
		err := h(context.Background(), amqp.Delivery{ID: uuid.NewString(), Type: key, Body: []byte{0xff, 0xff, 0xff}})
		if !amqp.IsPermanent(err) || !strings.Contains(err.Error(), "decode "+key) {
			t.Errorf("%s is bound but not decoded: %v", key, err)
		}
	}
	for _, key := range eventsv1.Keys {
		if bound[key] {
			continue
		}
		err := h(context.Background(), amqp.Delivery{ID: uuid.NewString(), Type: key, Body: []byte{0xff, 0xff, 0xff}})
		if !amqp.IsPermanent(err) || !strings.Contains(err.Error(), "unexpected message type") {
			t.Errorf("%s is not bound but handled: %v", key, err)
		}
	}
}

// An order cancelled while the worker charges it is refunded, and the stock
// reserved for it is handed back, in one transaction after the refund.
func TestCancelledDuringTheChargeIsRefundedAndReleased(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	pay := &testenv.CancellingPayments{Cancel: func(id string) {
		if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: id}); err != nil {
			t.Error(err)
		}
	}}
	w := testenv.NewWorker(t, s.Store, pay)
	o := placed(t, s, f, 1)[0]
	msg := uuid.NewString()
	if err := w.StockReserved(context.Background(), msg, o.Id); err != nil {
		t.Fatal(err)
	}
	got, err := s.Store.GetOrder(context.Background(), o.Id, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status() != domain.StatusCancelled || got.PaymentID() == "" || got.RefundID() == "" || pay.Refunds["refund-"+o.Id] != 1 {
		t.Fatalf("status %v, payment %q, refund %q, refunds %v; want cancelled, captured and refunded once", got.Status(), got.PaymentID(), got.RefundID(), pay.Refunds)
	}
	var payload []byte
	err = s.Pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE type = $1 ORDER BY seq DESC LIMIT 1`, eventsv1.KeyOrderCancelled).Scan(&payload)
	if err != nil {
		t.Fatal(err)
	}
	var oc eventsv1.OrderCancelled
	if err := proto.Unmarshal(payload, &oc); err != nil || !oc.StockReserved {
		t.Fatalf("reservation not released: %v %v", &oc, err)
	}
	// A redelivery changes nothing.
	if err := w.StockReserved(context.Background(), msg, o.Id); err != nil {
		t.Fatal(err)
	}
	if n := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderCancelled); n != 2 {
		t.Fatalf("%d OrderCancelled, want 2 (the cancellation and the release)", n)
	}
}
