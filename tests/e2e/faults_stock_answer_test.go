package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// takeStockAnswer takes the catalog's StockReserved for orderID off the
// orders-worker's queue (the worker is stopped) and drops it; the other
// messages it looked at go back to the queue when the channel closes.
func (fx *faultFleet) takeStockAnswer(ctx context.Context, orderID string) (bool, error) {
	conn, err := amqp091.Dial(fx.mq.URL())
	if err != nil {
		return false, err
	}
	defer conn.Close()
	stop := time.AfterFunc(30*time.Second, func() { _ = conn.Close() })
	defer stop.Stop()
	ch, err := conn.Channel()
	if err != nil {
		return false, err
	}
	for ctx.Err() == nil {
		d, ok, err := ch.Get(eventsv1.QueueOrdersWorker, false)
		if err != nil || !ok {
			return false, err
		}
		var ev eventsv1.StockReserved
		if d.Type == eventsv1.KeyStockReserved && proto.Unmarshal(d.Body, &ev) == nil && ev.GetOrderId() == orderID {
			return true, d.Ack(false)
		}
	}
	return false, ctx.Err()
}

// testLostStockAnswer: the catalog reserves an order's stock but its
// StockReserved never reaches the orders-worker, so the order stays
// PENDING. The reconciler (threshold compressed to 3 s) places it again; the
// catalog announces its reservation again without reserving twice, and the
// order is charged once and moves on.
func testLostStockAnswer(t *testing.T, fx *faultFleet) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	worker := fx.procSpec(t, "orders-worker")
	if err := fx.fleet.Kill(worker.Name, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	defer fx.restartWith(context.Background(), t, worker, nil)
	if earlier, err := fx.deadLetters(); err != nil {
		t.Fatal(err)
	} else if len(earlier) > 0 {
		t.Logf("dead letters left by earlier scenarios, taken off first: %d", len(earlier))
	}

	user, body, p := fx.orderSpec(0, false)
	o, ok := fx.create(ctx, &loadStats{}, user, body, p, 30*time.Second)
	if !ok {
		t.Fatal("create failed")
	}
	var dropped bool
	for deadline := time.Now().Add(30 * time.Second); !dropped; time.Sleep(200 * time.Millisecond) {
		var err error
		if dropped, err = fx.takeStockAnswer(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s: no StockReserved on %s", o.ID, eventsv1.QueueOrdersWorker)
		}
	}
	status := func() int {
		var st int
		if err := fx.withDB(ctx, "orders", func(c *pgx.Conn) error {
			return c.QueryRow(ctx, `SELECT status FROM orders WHERE id = $1`, o.ID).Scan(&st)
		}); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); st != stPending {
		t.Fatalf("order with its StockReserved dropped is %s, want PENDING", statusName[st])
	}

	restarted := time.Now()
	fx.restartWith(ctx, t, worker, map[string]string{
		"PRINTFLEET_ORDERS_STUCK_AFTER":     "3s",
		"PRINTFLEET_ORDERS_RECONCILE_EVERY": "1s",
	})
	var st int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if st = status(); st == stPaid || st == stInProduction {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s still %s 60 s after the worker came back", o.ID, statusName[st])
		}
	}
	took := time.Since(restarted)

	var redriven, placedAgain int
	if err := fx.withDB(ctx, "orders", func(c *pgx.Conn) error {
		if err := c.QueryRow(ctx, `SELECT count(*) FROM order_events WHERE order_id = $1 AND type = 'order.redriven'
			AND attributes->>'step' = 'place'`, o.ID).Scan(&redriven); err != nil {
			return err
		}
		return c.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE type = $1 AND position($2::bytea IN payload) > 0`,
			eventsv1.KeyOrderPlaced, []byte(o.ID)).Scan(&placedAgain)
	}); err != nil {
		t.Fatal(err)
	}
	var reservations, reservedEvents int
	if err := fx.withDB(ctx, "catalog", func(c *pgx.Conn) error {
		if err := c.QueryRow(ctx, `SELECT count(*) FROM reservations WHERE order_id = $1 AND status = 'reserved'`, o.ID).Scan(&reservations); err != nil {
			return err
		}
		return c.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE type = $1 AND position($2::bytea IN payload) > 0`,
			eventsv1.KeyStockReserved, []byte(o.ID)).Scan(&reservedEvents)
	}); err != nil {
		t.Fatal(err)
	}
	var ledger paymentsLedger
	if err := getJSON(ctx, fx.httpc, fx.layout.PaymentURL()+"/_sandbox/payments", &ledger); err != nil {
		t.Fatal(err)
	}
	charges := ledger.Orders[o.ID].SuccessfulCharges
	dead, err := fx.deadLetters()
	if err != nil {
		t.Fatal(err)
	}
	redrives := fx.metric(ctx, worker.Admin, `printfleet_orders_redrives_total{outcome="ok",step="place"}`)
	fmt.Printf("lost stock answer: order %s %s %v after the worker came back; OrderPlaced rows %d, re-drive entries %d, redrives_total{place,ok} %v; catalog reservations %d, StockReserved rows %d; successful charges %d; dead letters %d %v\n",
		o.ID, statusName[st], took.Round(time.Millisecond), placedAgain, redriven, redrives, reservations, reservedEvents, charges, len(dead), dead)
	switch {
	case placedAgain < 2 || redriven < 1:
		t.Errorf("the PENDING order was not placed again (%d OrderPlaced rows, %d re-drive entries)", placedAgain, redriven)
	case reservations != 1 || reservedEvents < 2:
		t.Errorf("catalog: %d reservations, %d StockReserved; want one reservation announced again", reservations, reservedEvents)
	case charges != 1:
		t.Errorf("order charged %d times, want once", charges)
	case len(dead) != 0:
		t.Errorf("dead letters: %v", dead)
	}
}
