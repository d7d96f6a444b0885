package amqpapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/amqpapi"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/clients/payment"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// An OrderCancelled event about an order that is not cancelled refunds
// nothing: the order's state decides, and the message is dead-lettered.
func TestOrderCancelledRefundsOnlyACancelledOrder(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	pay := &testenv.Payments{}
	h := amqpapi.Handler(testenv.NewWorker(t, s.Store, pay))
	ctx := context.Background()
	o := placed(t, s, f, 1)[0]
	if err := h(ctx, delivery(t, eventsv1.KeyStockReserved, &eventsv1.StockReserved{OrderId: o.Id})); err != nil {
		t.Fatal(err)
	}
	err := h(ctx, delivery(t, eventsv1.KeyOrderCancelled, &eventsv1.OrderCancelled{OrderId: o.Id, WasPaid: true}))
	if !amqp.IsPermanent(err) {
		t.Fatalf("OrderCancelled for a PAID order: %v, want a permanent error", err)
	}
	if len(pay.Refunds) != 0 || testenv.Count(t, s.Pool, "orders", "id = $1 AND refund_id = ''", o.Id) != 1 {
		t.Fatalf("a paid order that is not cancelled was refunded: %v", pay.Refunds)
	}
	// Once it is cancelled, the same event refunds it.
	if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: o.Id}); err != nil {
		t.Fatal(err)
	}
	if err := h(ctx, delivery(t, eventsv1.KeyOrderCancelled, &eventsv1.OrderCancelled{OrderId: o.Id, WasPaid: true})); err != nil {
		t.Fatal(err)
	}
	if pay.Refunds["refund-"+o.Id] != 1 {
		t.Fatalf("refunds %v, want one", pay.Refunds)
	}
}

// down is a provider that never answers.
type down struct{}

func (down) Charge(context.Context, app.ChargeRequest) (app.ChargeResult, error) {
	return app.ChargeResult{}, &payment.TransientError{Status: 503, Err: errors.New("outage")}
}

func (down) Refund(context.Context, app.RefundRequest) (app.RefundResult, error) {
	return app.RefundResult{}, &payment.TransientError{Status: 429, Err: errors.New("slow down")}
}

// A provider outage fails a charge and a refund as "dependency unavailable"
// (the consumer holds such messages without counting a delivery), within
// the per-call deadline, and with the breaker open at once.
func TestProviderOutageIsUnavailableNotAFailure(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	pay := payment.NewResilient(down{}, payment.Config{RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond,
		RetryDeadline: 100 * time.Millisecond, BreakerMinRequests: 3, BreakerOpenFor: time.Minute})
	h := amqpapi.Handler(testenv.NewWorker(t, s.Store, pay))
	ctx := context.Background()
	o := placed(t, s, f, 1)[0]
	for i := range 3 {
		start := time.Now()
		err := h(ctx, delivery(t, eventsv1.KeyStockReserved, &eventsv1.StockReserved{OrderId: o.Id}))
		took := time.Since(start)
		t.Logf("delivery %d: %v after %v (breaker %v)", i+1, err, took.Round(time.Millisecond), pay.State())
		if err == nil || amqp.IsPermanent(err) || !amqp.Unavailable(err) {
			t.Fatalf("charge during an outage: %v, want unavailable", err)
		}
		if took > 2*time.Second {
			t.Fatalf("one delivery spent %v retrying", took)
		}
	}
	if got := pay.State().String(); got != "open" {
		t.Fatalf("breaker %s, want open", got)
	}
	if n := testenv.Count(t, s.Pool, "orders", "id = $1 AND status = $2", o.Id, int16(ordersv1.OrderStatus_ORDER_STATUS_PENDING)); n != 1 {
		t.Fatal("the order moved during the outage")
	}
	// The refund path the same way.
	if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: o.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE orders SET payment_id = 'pi_x' WHERE id = $1`, o.Id); err != nil {
		t.Fatal(err)
	}
	err := h(ctx, delivery(t, eventsv1.KeyOrderCancelled, &eventsv1.OrderCancelled{OrderId: o.Id, WasPaid: true}))
	if err == nil || amqp.IsPermanent(err) || !amqp.Unavailable(err) {
		t.Fatalf("refund during an outage: %v, want unavailable", err)
	}
}

// The reconciler finds an order stuck at each step and drives it again
// through the worker's paths, once: a second pass finds nothing.
func TestReconcilerRedrivesStuckOrders(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	pay := &testenv.Payments{}
	w := testenv.NewWorker(t, s.Store, pay)
	r := app.NewReconciler(s.Store, w, app.ReconcilerConfig{StuckAfter: time.Minute})
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.Pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	orders := placed(t, s, f, 6)
	charge, refund, files, push, fresh, pending := orders[0].Id, orders[1].Id, orders[2].Id, orders[3].Id, orders[4].Id, orders[5].Id
	// CONFIRMED without a charge.
	exec(`UPDATE orders SET status = 2, stock_reserved = true WHERE id = $1`, charge)
	// Paid, cancelled, OrderCancelled lost.
	if err := w.StockReserved(ctx, uuid.NewString(), refund); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: refund}); err != nil {
		t.Fatal(err)
	}
	// PAID, print files never came; a fresh PAID one is not stuck yet.
	for _, id := range []string{files, fresh} {
		if err := w.StockReserved(ctx, uuid.NewString(), id); err != nil {
			t.Fatal(err)
		}
	}
	// SHIPPED to a marketplace store, no push outcome.
	exec(`UPDATE orders SET status = 5, payment_id = 'pi_push' WHERE id = $1`, push)
	exec(`INSERT INTO shipments (id, order_id, carrier, tracking_number, tracking_url, created_at)
		VALUES ($1, $2, 'ups', '1Z999', 'https://ups.example/1Z999', now())`, uuid.NewString(), push)
	exec(`UPDATE orders SET updated_at = now() - interval '1 hour' WHERE id = ANY($1)`, []string{charge, refund, files, push, pending})
	outbox := func(typ string) int { return testenv.Count(t, s.Pool, "outbox", "type = $1", typ) }
	paidBefore, shippedBefore := outbox(eventsv1.KeyOrderPaid), outbox(eventsv1.KeyOrderShipped)
	chargesBefore := pay.Charges[charge]

	// Another replica holding the lock: this one skips its pass.
	held, err := s.Store.WithReconcileLock(ctx, func(ctx context.Context) error {
		res, err := r.Pass(ctx)
		if err != nil || res.Ran {
			t.Errorf("a pass ran while another held the lock: %+v %v", res, err)
		}
		return nil
	})
	if err != nil || !held {
		t.Fatalf("lock: %v %v", held, err)
	}

	res, err := r.Pass(ctx)
	if err != nil || !res.Ran {
		t.Fatalf("pass: %+v %v", res, err)
	}
	t.Logf("first pass: stuck %v, re-driven %v", res.Stuck, res.Redriven)
	for _, st := range app.Steps {
		if res.Stuck[st] != 1 || res.Redriven[st] != 1 {
			t.Errorf("step %s: %d stuck, %d re-driven; want 1 and 1", st, res.Stuck[st], res.Redriven[st])
		}
	}
	if pay.Charges[charge] != chargesBefore+1 || testenv.Count(t, s.Pool, "orders", "id = $1 AND status = 3 AND payment_id <> ''", charge) != 1 {
		t.Errorf("CONFIRMED order not charged and PAID (charges %v)", pay.Charges)
	}
	if pay.Refunds["refund-"+refund] != 1 || testenv.Count(t, s.Pool, "orders", "id = $1 AND refund_id <> ''", refund) != 1 {
		t.Errorf("cancelled paid order not refunded (refunds %v)", pay.Refunds)
	}
	// The charge's own OrderPaid, and the print files asked for again.
	if got := outbox(eventsv1.KeyOrderPaid) - paidBefore; got != 2 {
		t.Errorf("%d new OrderPaid, want 2", got)
	}
	if got := outbox(eventsv1.KeyOrderShipped) - shippedBefore; got != 1 {
		t.Errorf("%d new OrderShipped, want 1", got)
	}

	res, err = r.Pass(ctx)
	t.Logf("second pass: stuck %v, re-driven %v", res.Stuck, res.Redriven)
	if err != nil || len(res.Redriven) != 0 {
		t.Fatalf("second pass re-drove again: %+v %v", res, err)
	}
	if pay.Charges[charge] != chargesBefore+1 || pay.Refunds["refund-"+refund] != 1 {
		t.Fatalf("charged or refunded twice: %v %v", pay.Charges, pay.Refunds)
	}
}
