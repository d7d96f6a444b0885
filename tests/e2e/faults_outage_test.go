package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

// metric reads one sample (name with its labels, as exposed) from a
// process's /metrics; -1 when absent.
func (fx *faultFleet) metric(ctx context.Context, admin, sample string) float64 {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/metrics", nil)
	resp, err := fx.httpc.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// procSpec is the layout's spec of the named process.
func (fx *faultFleet) procSpec(t *testing.T, name string) fleet.Proc {
	for _, p := range fx.layout.Procs() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no process %s in the layout", name)
	return fleet.Proc{}
}

// restartWith restarts the named process with extra environment.
func (fx *faultFleet) restartWith(ctx context.Context, t *testing.T, p fleet.Proc, extra map[string]string) {
	t.Helper()
	if fx.fleet.Pid(p.Name) != 0 {
		if err := fx.fleet.Kill(p.Name, syscall.SIGTERM, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{}
	for k, v := range p.Env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	p.Env = env
	if err := fx.fleet.Start(ctx, p, 90*time.Second); err != nil {
		t.Fatal(err)
	}
}

// testPaymentLongOutage: the payment provider is down far longer than the
// delivery limit would last if each failed charge counted, while orders keep
// arriving and paid orders are cancelled; then it recovers. Every order is
// charged exactly once, every cancelled paid order refunded, and nothing is
// dead-lettered.
//
// The outage is compressed by configuration: the worker's per-call retry
// deadline is 500 ms instead of 5 s, so deliveries that counted would pass
// the queue's delivery limit (5) within 6–9 s of calls and backoff — 30 s
// of outage is several times that, as 10 minutes are against the
// production settings. The reconciler runs every second and calls an order
// stuck after 5 s, so it races the held messages for the refunds.
func testPaymentLongOutage(t *testing.T, fx *faultFleet) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	const outageFor = 30 * time.Second
	const cancelled = 6
	pay := fx.layout.PaymentURL()
	worker := fx.procSpec(t, "orders-worker")
	images := fx.procSpec(t, "images")
	fx.restartWith(ctx, t, worker, map[string]string{
		"PRINTFLEET_PAYMENT_RETRY_DEADLINE": "500ms",
		"PRINTFLEET_ORDERS_STUCK_AFTER":     "5s",
		"PRINTFLEET_ORDERS_RECONCILE_EVERY": "1s",
	})
	defer fx.restartWith(context.Background(), t, worker, nil)
	if earlier, err := fx.deadLetters(); err != nil {
		t.Fatal(err)
	} else if len(earlier) > 0 {
		t.Logf("dead letters left by earlier scenarios, taken off first: %d", len(earlier))
	}

	// Paid orders to cancel during the outage: a design keeps them PAID
	// while the images worker is away.
	user := fx.users[1]
	mug, wrap := demoItem(t, fx.environment, "Ceramic Mug 11oz", "White", "wrap")
	design := readyDesign(t, fx.environment, user, designPNG(t, 2550, 1050))
	if err := fx.fleet.Kill("images", syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if fx.fleet.Pid("images") == 0 {
			if err := fx.fleet.Start(context.Background(), images, 90*time.Second); err != nil {
				t.Error(err)
			}
		}
	}()
	var toCancel []placed
	st0 := &loadStats{}
	for range cancelled {
		body, _ := json.Marshal(map[string]any{
			"items":            []any{map[string]any{"variant_id": mug, "quantity": 1, "design_id": design, "placement_id": wrap}},
			"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
		})
		p, ok := fx.create(ctx, st0, user, body, placed{User: user, Variant: mug, Qty: 1}, 30*time.Second)
		if !ok {
			t.Fatalf("design order: %s %v", st0, st0.rejected)
		}
		toCancel = append(toCancel, p)
	}
	waitPaid := func() bool {
		s := fx.inspect(ctx, toCancel)
		return s.byStatus["PAID"] == cancelled
	}
	for deadline := time.Now().Add(60 * time.Second); !waitPaid(); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("design orders not PAID: %s", fx.inspect(ctx, toCancel))
		}
	}

	// The outage, with orders arriving all along and the paid ones cancelled.
	heal := paymentOutage(t, pay)
	outageAt := time.Now()
	st := &loadStats{}
	stopLoad := fx.loadUntilStopped(ctx, st, 2)
	time.Sleep(2 * time.Second)
	for _, o := range toCancel {
		code, raw, err := fx.send(ctx, http.MethodPost, "/v1/orders/"+o.ID+":cancel", o.User, []byte(`{"reason":"changed my mind"}`))
		if err != nil || code != http.StatusOK {
			t.Fatalf("cancel %s: %d %s %v", o.ID, code, raw, err)
		}
	}
	var midDead []string
	var maxStuck float64
	for time.Since(outageAt) < outageFor {
		time.Sleep(time.Second)
		maxStuck = max(maxStuck, fx.metric(ctx, worker.Admin, `printfleet_orders_stuck{step="refund"}`))
	}
	stopLoad()
	orders := st.snapshot()
	during := fx.inspect(ctx, orders)
	cancelledDuring := fx.inspect(ctx, toCancel)
	breaker := fx.breakerState(ctx)
	unavailRedrives := fx.metric(ctx, worker.Admin, `printfleet_orders_redrives_total{outcome="unavailable",step="refund"}`)
	d, err := fx.deadLetters()
	if err != nil {
		t.Fatal(err)
	}
	midDead = append(midDead, d...)

	heal()
	refunded := func() bool {
		var ledger paymentsLedger
		if err := getJSON(ctx, fx.httpc, pay+"/_sandbox/payments", &ledger); err != nil {
			return false
		}
		for _, o := range toCancel {
			if ledger.Orders[o.ID].AmountRefunded == 0 {
				return false
			}
		}
		return true
	}
	s, took, ok := fx.settle(ctx, orders, 90*time.Second, refunded)
	refundRedrives := fx.metric(ctx, worker.Admin, `printfleet_orders_redrives_total{outcome="ok",step="refund"}`)
	e := fx.effectsOf(t, orders, s)
	e.deadLetters = append(midDead, e.deadLetters...)

	// The cancelled orders: charged once, refunded in full, recorded.
	var ledger paymentsLedger
	if err := getJSON(ctx, fx.httpc, pay+"/_sandbox/payments", &ledger); err != nil {
		t.Fatal(err)
	}
	var refundedOK int
	var refundProblems []string
	for _, o := range toCancel {
		l := ledger.Orders[o.ID]
		if l.SuccessfulCharges == 1 && l.AmountCharged > 0 && l.AmountRefunded == l.AmountCharged {
			refundedOK++
		} else {
			refundProblems = append(refundProblems, fmt.Sprintf("%s: charges %d charged %d refunded %d", o.ID, l.SuccessfulCharges, l.AmountCharged, l.AmountRefunded))
		}
	}
	var recorded int
	err = fx.withDB(ctx, "orders", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT count(*) FROM orders WHERE id = ANY($1::uuid[]) AND status = $2 AND refund_id <> ''`,
			ids(toCancel), stCancelled).Scan(&recorded)
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Logf("LONG PAYMENT OUTAGE — provider down %v (compressed: per-call deadline 500 ms, delivery limit 5); %d orders placed meanwhile (%s), %d paid orders cancelled",
		outageFor, len(orders), st, cancelled)
	t.Logf("  during the outage: %s; cancelled orders: %s; breaker %v; stuck refunds (gauge) up to %v; reconciler refund re-drives refused as unavailable: %v",
		during, cancelledDuring, breaker, maxStuck, unavailRedrives)
	t.Logf("  dead letters during the outage: %d", len(midDead))
	t.Logf("  after recovery: end state in %v: %s", took.Round(time.Millisecond), s)
	t.Logf("  effects: %s", e)
	t.Logf("  refunds: %d/%d cancelled orders charged once and refunded in full (%d recorded on the order; %v refund re-drives by the reconciler succeeded)",
		refundedOK, cancelled, recorded, refundRedrives)

	if n := during.byStatus["PAID"] + during.byStatus["IN_PRODUCTION"] + during.byStatus["PAYMENT_FAILED"]; n != 0 {
		t.Errorf("%d orders were paid or failed while the provider was down: %s", n, during)
	}
	if maxStuck != cancelled {
		t.Errorf("the reconciler counted at most %v stuck refunds during the outage, want %d", maxStuck, cancelled)
	}
	if len(orders) < 40 {
		t.Errorf("only %d orders placed during the outage (%s %v)", len(orders), st, st.rejected)
	}
	if !ok {
		t.Errorf("not settled within 90 s of recovery: %s (refunds %d/%d)", s, refundedOK, cancelled)
	}
	if refundedOK != cancelled || recorded != cancelled {
		t.Errorf("refunds: %d paid in full, %d recorded, of %d: %v", refundedOK, recorded, cancelled, refundProblems)
	}
	if e.paid != len(orders) {
		t.Errorf("%d of %d orders paid", e.paid, len(orders))
	}
	assertNoLossNoDuplicates(t, "long payment outage", s, e)
}
