package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (fx *faultFleet) marketFaults(t *testing.T, marketplace, patch string) {
	t.Helper()
	resp, err := http.Post(fx.layout.MarketplacesURL()+"/_sandbox/faults?marketplace="+marketplace, "application/json", strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("marketplace faults %s %s: %s", marketplace, patch, resp.Status)
	}
}

// testMarketplaceThrottleStorm ships Etsy orders into a forced 429 storm:
// every push lands once, none ignores the budget or Retry-After.
func testMarketplaceThrottleStorm(ctx context.Context, t *testing.T, fx *faultFleet) {
	const n = 12
	st := &loadStats{}
	fx.load(ctx, st, loadOpts{n: n, conc: 4, stores: n})
	orders := st.snapshot()
	if len(orders) != n {
		t.Fatalf("store orders: %s %v", st, st.rejected)
	}
	if s, _, ok := fx.settle(ctx, orders, 60*time.Second, nil); !ok {
		t.Fatalf("store orders not in production: %s", s)
	}
	before, err := fx.etsy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fx.marketFaults(t, "etsy", `{"throttle":true}`)
	stormAt := time.Now()
	off := false
	defer func() {
		if !off {
			fx.marketFaults(t, "etsy", `{"throttle":false}`)
		}
	}()
	for _, o := range orders {
		body, _ := json.Marshal(map[string]any{"carrier": "UPS", "tracking_number": "1ZSTORM" + o.Receipt})
		code, raw, err := fx.send(ctx, http.MethodPost, "/v1/orders/"+o.ID+"/shipments", fx.fulfilment, body)
		if err != nil || code != http.StatusCreated {
			t.Fatalf("ship %s: %d %v %s", o.ID, code, err, raw)
		}
	}
	time.Sleep(5 * time.Second)
	fx.marketFaults(t, "etsy", `{"throttle":false}`)
	off = true
	stormLasted := time.Since(stormAt)
	s, took, ok := fx.settle(ctx, orders, 90*time.Second, fx.pushesRecorded(ctx, orders))
	after, err := fx.etsy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := fx.effectsOf(t, orders, s)
	d := func(a, b int) int { return a - b }
	t.Logf("MARKETPLACE 429 STORM — %d Etsy orders shipped into a %v forced-throttle storm", n, stormLasted.Round(time.Millisecond))
	t.Logf("  Etsy counters during the run: requests +%d, throttled (forced) +%d, rejected for budget +%d, over_budget +%d, accepted +%d, duplicates +%d",
		d(after.Counters.Requests, before.Counters.Requests), d(after.Counters.ThrottledForced, before.Counters.ThrottledForced),
		d(after.Counters.RejectedBudget, before.Counters.RejectedBudget), d(after.Counters.OverBudget, before.Counters.OverBudget),
		d(after.Counters.Accepted, before.Counters.Accepted), d(after.Counters.Duplicates, before.Counters.Duplicates))
	t.Logf("  all pushed %v after the storm ended: %s; effects: %s", took.Round(time.Millisecond), s, e)
	if d(after.Counters.ThrottledForced, before.Counters.ThrottledForced) == 0 {
		t.Errorf("no push met the storm: the scenario proved nothing")
	}
	if d := d(after.Counters.OverBudget, before.Counters.OverBudget); d != 0 {
		t.Errorf("over_budget +%d during the storm: pushes ignored the budget or Retry-After", d)
	}
	if !ok {
		t.Errorf("not every shipment pushed within 90 s of the storm: %s", s)
	}
	if s.byStatus["SHIPPED"] != n {
		t.Errorf("%d of %d orders SHIPPED", s.byStatus["SHIPPED"], n)
	}
	assertNoLossNoDuplicates(t, "marketplace throttle storm", s, e)
}
