package e2e

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// breakerState reads the orders-worker's payment breaker gauge (-1 unknown).
func (fx *faultFleet) breakerState(ctx context.Context) float64 {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+fx.layout.Admin(9207)+"/metrics", nil)
	resp, err := fx.httpc.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "printfleet_orders_payment_breaker_state "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// The payment breaker gauge's values.
const (
	breakerClosed = 0
	breakerOpen   = 2
)

// waitBreaker polls the breaker gauge until it reads want, for as long as
// since is less than within ago; it returns how long after since it read
// want, 0 when it never did.
func (fx *faultFleet) waitBreaker(ctx context.Context, want float64, since time.Time, within time.Duration) time.Duration {
	for time.Since(since) < within {
		if fx.breakerState(ctx) == want {
			return time.Since(since)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0
}

// testPaymentOutage places orders while the payment provider answers 503:
// the breaker opens, nothing is paid or failed meanwhile, and every order is
// paid once after healing.
func testPaymentOutage(ctx context.Context, t *testing.T, fx *faultFleet) {
	pay := fx.layout.PaymentURL()
	heal := paymentOutage(t, pay)
	outageAt := time.Now()
	st := &loadStats{}
	fx.load(ctx, st, loadOpts{n: 24, conc: 8})
	orders := st.snapshot()
	if len(orders) != 24 {
		t.Fatalf("creates during the payment outage: %s %v", st, st.rejected)
	}
	openedAfter := fx.waitBreaker(ctx, breakerOpen, outageAt, 60*time.Second)
	time.Sleep(3 * time.Second)
	during := fx.inspect(ctx, orders)
	stateBeforeHeal := fx.breakerState(ctx)
	heal()
	healedAt := time.Now()
	s, took, ok := fx.settle(ctx, orders, 60*time.Second, nil)
	closedAfter := fx.waitBreaker(ctx, breakerClosed, healedAt, 30*time.Second)
	e := fx.effectsOf(t, orders, s)

	t.Logf("PAYMENT OUTAGE — %d orders placed while the provider answered 503", len(orders))
	if openedAfter > 0 {
		t.Logf("  printfleet_orders_payment_breaker_state = 2 (open) %v after the outage began; %v just before healing", openedAfter.Round(time.Millisecond), stateBeforeHeal)
	} else {
		t.Logf("  the breaker never reported open within 60s (last %v)", stateBeforeHeal)
	}
	t.Logf("  during the outage: %s", during)
	t.Logf("  after healing: end state in %v: %s; breaker closed again after %v", took.Round(time.Millisecond), s, closedAfter.Round(time.Millisecond))
	t.Logf("  effects: %s", e)
	if openedAfter == 0 {
		t.Errorf("the payment breaker never opened during the outage")
	}
	if n := during.byStatus["PAID"] + during.byStatus["IN_PRODUCTION"] + during.byStatus["PAYMENT_FAILED"]; n != 0 {
		t.Errorf("%d orders were paid or failed while the provider was down: %s", n, during)
	}
	if !ok {
		t.Errorf("orders not paid within 60 s of healing: %s", s)
	}
	if closedAfter == 0 {
		t.Errorf("the breaker did not close within 30 s of healing")
	}
	assertNoLossNoDuplicates(t, "payment outage", s, e)
}
