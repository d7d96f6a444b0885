package amqpapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

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
	exec := sqlExec(t, s)
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
	// pending stays PENDING: its stock answer was lost.
	// SHIPPED to a marketplace store, no push outcome.
	exec(`UPDATE orders SET status = 5, payment_id = 'pi_push' WHERE id = $1`, push)
	exec(`INSERT INTO shipments (id, order_id, carrier, tracking_number, tracking_url, created_at, push_pending)
		VALUES ($1, $2, 'ups', '1Z999', 'https://ups.example/1Z999', now(), true)`, uuid.NewString(), push)
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

// An order whose stock answer was lost stays PENDING: the reconciler places
// it again (the create's OrderPlaced, under the create's routing key — the
// coupon one for an order with a coupon — with a fresh message id) and notes
// it on the timeline, once per threshold. The catalog's answer to it, and
// the late original arriving as well, charge the order once.
func TestReconcilerPlacesAStuckPendingOrderAgain(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	pay := &testenv.Payments{}
	w := testenv.NewWorker(t, s.Store, pay)
	h := amqpapi.Handler(w)
	r := app.NewReconciler(s.Store, w, app.ReconcilerConfig{StuckAfter: time.Minute})
	ctx := context.Background()
	plain := placed(t, s, f, 1)[0]
	req := f.Request("alice")
	req.CouponCode = "TENOFF"
	coupon, err := s.Client.CreateOrder(s.User("alice", "key-coupon"), req)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{plain.Id, coupon.Id}
	keys := map[string]string{plain.Id: eventsv1.KeyOrderPlaced, coupon.Id: eventsv1.KeyOrderPlacedCoupon}
	if _, err := s.Pool.Exec(ctx, `UPDATE orders SET updated_at = now() - interval '1 hour' WHERE id = ANY($1)`, ids); err != nil {
		t.Fatal(err)
	}
	// placedRows are the order's OrderPlaced outbox rows, oldest first.
	placedRows := func(id string) (msgIDs []string, payloads []*eventsv1.OrderPlaced) {
		t.Helper()
		rows, err := s.Pool.Query(ctx, `SELECT id::text, payload FROM outbox WHERE type = $1 ORDER BY seq`, keys[id])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var msgID string
			var b []byte
			if err := rows.Scan(&msgID, &b); err != nil {
				t.Fatal(err)
			}
			var ev eventsv1.OrderPlaced
			if err := proto.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.GetOrderId() == id {
				msgIDs, payloads = append(msgIDs, msgID), append(payloads, &ev)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return msgIDs, payloads
	}

	res, err := r.Pass(ctx)
	t.Logf("first pass: stuck %v, re-driven %v", res.Stuck, res.Redriven)
	if err != nil || res.Stuck[app.StepPlace] != 2 || res.Redriven[app.StepPlace] != 2 {
		t.Fatalf("pass: %+v %v; want 2 PENDING orders placed again", res, err)
	}
	for _, id := range ids {
		msgIDs, evs := placedRows(id)
		if len(evs) != 2 || msgIDs[0] == msgIDs[1] {
			t.Fatalf("order %s: OrderPlaced rows %v under %s, want 2 with distinct ids", id, msgIDs, keys[id])
		}
		if !proto.Equal(evs[0], evs[1]) {
			t.Fatalf("order %s placed again as %v, want the create's %v", id, evs[1], evs[0])
		}
		if n := testenv.Count(t, s.Pool, "order_events", "order_id = $1 AND type = $2 AND attributes->>'step' = 'place'", id, "order.redriven"); n != 1 {
			t.Fatalf("order %s: %d re-drive timeline entries, want 1", id, n)
		}
	}
	if _, evs := placedRows(coupon.Id); evs[1].GetCouponCode() != "TENOFF" {
		t.Fatalf("coupon order placed again without its coupon: %v", evs[1])
	}
	if res, err := r.Pass(ctx); err != nil || len(res.Redriven) != 0 {
		t.Fatalf("second pass within the threshold re-drove: %+v %v", res, err)
	}

	// The catalog announces its reservation again; the original answer
	// arrives late too. One charge, one PAID.
	for range 2 {
		if err := h(ctx, delivery(t, eventsv1.KeyStockReserved, &eventsv1.StockReserved{OrderId: plain.Id, ReservationId: "r1"})); err != nil {
			t.Fatal(err)
		}
	}
	if pay.Charges[plain.Id] != 1 || testenv.Count(t, s.Pool, "orders", "id = $1 AND status IN (3, 4) AND payment_id <> ''", plain.Id) != 1 {
		t.Fatalf("charges %v; want the order paid, charged once", pay.Charges)
	}
	t.Logf("charges of the re-placed order after two StockReserved: %d", pay.Charges[plain.Id])
}

// The reconciler re-drives the push of every package no push outcome names,
// of a PARTIALLY_SHIPPED order as of a SHIPPED one, and only those: a
// package whose push was reported is not pushed again.
func TestReconcilerRedrivesEachUnpushedPackage(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	w := testenv.NewWorker(t, s.Store, &testenv.Payments{})
	r := app.NewReconciler(s.Store, w, app.ReconcilerConfig{StuckAfter: time.Minute})
	ctx := context.Background()
	exec := sqlExec(t, s)
	orders := placed(t, s, f, 4)
	partial, shipped, done, direct := orders[0].Id, orders[1].Id, orders[2].Id, orders[3].Id
	pkg := func(order string, age int) string {
		id := uuid.NewString()
		// As the store records a marketplace order's package.
		exec(`INSERT INTO shipments (id, order_id, carrier, tracking_number, tracking_url, created_at, push_pending)
			VALUES ($1, $2, 'ups', $3, 'https://ups.example/' || $3, now() - $4 * interval '1 minute', true)`, id, order, "1Z"+id[:8], age)
		return id
	}
	pushed := func(order, shipment string) {
		if err := w.MarketplacePushed(ctx, uuid.NewString(), app.MarketplacePush{OrderID: order, ShipmentID: shipment,
			Marketplace: "etsy", Succeeded: true, Attempts: 1, HTTPStatus: 201}); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE orders SET status = 12, payment_id = 'pi_p' WHERE id = $1`, partial)
	a, b := pkg(partial, 90), pkg(partial, 80)
	pushed(partial, a)
	exec(`UPDATE orders SET status = 5, payment_id = 'pi_s' WHERE id = $1`, shipped)
	c, d := pkg(shipped, 90), pkg(shipped, 80)
	exec(`UPDATE orders SET status = 12, payment_id = 'pi_d' WHERE id = $1`, done)
	e := pkg(done, 90)
	pushed(done, e)
	// A package of an order typed in over REST (no store) is never pushed.
	exec(`UPDATE orders SET status = 5, payment_id = 'pi_n', store_id = '' WHERE id = $1`, direct)
	exec(`INSERT INTO shipments (id, order_id, carrier, tracking_number, tracking_url, created_at)
		VALUES ($1, $2, 'ups', '1Z0', 'https://ups.example/1Z0', now())`, uuid.NewString(), direct)
	exec(`UPDATE orders SET updated_at = now() - interval '1 hour' WHERE id = ANY($1)`, []string{partial, shipped, done, direct})
	if n := testenv.Count(t, s.Pool, "shipments", "push_pending"); n != 3 {
		t.Fatalf("%d packages wait for a push, want 3: the outcomes did not end the waits of the other two", n)
	}

	shippedIDs := func() map[string]int {
		rows, err := s.Pool.Query(ctx, `SELECT payload FROM outbox WHERE type = $1`, eventsv1.KeyOrderShipped)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]int{}
		for rows.Next() {
			var body []byte
			if err := rows.Scan(&body); err != nil {
				t.Fatal(err)
			}
			var ev eventsv1.OrderShipped
			if err := proto.Unmarshal(body, &ev); err != nil {
				t.Fatal(err)
			}
			got[ev.GetShipmentId()]++
		}
		return got
	}
	res, err := r.Pass(ctx)
	if err != nil || !res.Ran {
		t.Fatalf("pass: %+v %v", res, err)
	}
	if res.Stuck[app.StepMarketplacePush] != 2 || res.Redriven[app.StepMarketplacePush] != 2 {
		t.Fatalf("push step: %d stuck, %d re-driven; want 2 and 2 (%+v)", res.Stuck[app.StepMarketplacePush], res.Redriven[app.StepMarketplacePush], res)
	}
	got := shippedIDs()
	if len(got) != 3 || got[b] != 1 || got[c] != 1 || got[d] != 1 {
		t.Fatalf("OrderShipped announced again for %v; want one each for %s (partial), %s and %s (shipped)", got, b, c, d)
	}
	res, err = r.Pass(ctx)
	if err != nil || len(res.Redriven) != 0 {
		t.Fatalf("second pass re-drove again: %+v %v", res, err)
	}
}

// sqlExec runs statements on s's database, failing t on an error.
func sqlExec(t *testing.T, s *testenv.Server) func(q string, args ...any) {
	return func(q string, args ...any) {
		t.Helper()
		if _, err := s.Pool.Exec(context.Background(), q, args...); err != nil {
			t.Fatal(err)
		}
	}
}
