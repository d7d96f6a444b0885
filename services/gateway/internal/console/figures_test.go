package console_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/printfleet/printfleet/services/gateway/internal/console"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
)

func TestQuantile(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	for _, tc := range []struct {
		name    string
		buckets map[float64]float64
		q, want float64
		ok      bool
	}{
		{"empty", map[float64]float64{}, 0.99, 0, false},
		{"no requests", map[float64]float64{0.1: 0, inf: 0}, 0.99, 0, false},
		{"all in the first bucket", map[float64]float64{0.1: 100, 0.2: 100, inf: 100}, 0.5, 0.05, true},
		// 100 requests: 90 under 0.1s, 10 between 0.1 and 0.5: the 99th is
		// the 9th of those 10, 9/10 of the way through the bucket.
		{"interpolated", map[float64]float64{0.1: 90, 0.5: 100, inf: 100}, 0.99, 0.1 + 0.4*9/10, true},
		{"in +Inf", map[float64]float64{0.1: 10, 1: 10, inf: 100}, 0.99, 1, true},
	} {
		got, ok := console.Quantile(tc.q, tc.buckets)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// exposition is a mutable /metrics endpoint.
type exposition struct {
	mu   sync.Mutex
	text string
}

func (x *exposition) set(s string) { x.mu.Lock(); x.text = s; x.mu.Unlock() }

func (x *exposition) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	x.mu.Lock()
	defer x.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprint(w, x.text)
}

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestFigures: rates per minute from the transition counter's deltas, the
// create p99 from the gateway's own histogram's deltas, the budget gauge by
// store, a counter reset, an unreachable target named, and samples on
// demand no more often than the floor.
func TestFigures(t *testing.T) {
	t.Parallel()
	orders := &exposition{}
	orders.set(transitions(10, 5))
	ordersSrv := httptest.NewServer(orders)
	t.Cleanup(ordersSrv.Close)
	market := &exposition{}
	market.set("# TYPE printfleet_marketplace_budget_used_ratio gauge\n" +
		`printfleet_marketplace_budget_used_ratio{marketplace="shopify",shop="s-1"} 0.25` + "\n")
	marketSrv := httptest.NewServer(market)
	t.Cleanup(marketSrv.Close)

	reg := prometheus.NewRegistry()
	hist := edge.Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: console.MetricRequestDuration, Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method", "code"}))
	// Before the first sample: slow requests that must not count.
	for range 50 {
		hist.WithLabelValues("/v1/orders", "POST", "2xx").Observe(4)
	}
	hist.WithLabelValues("/v1/orders/{order_id}", "GET", "2xx").Observe(20) // another route

	clk := &clock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	targets, err := console.ParseTargets([]string{"orders=" + ordersSrv.URL + "/metrics", "marketplace=" + marketSrv.URL,
		"gone=http://127.0.0.1:1/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	f := console.NewFigures(ctx, console.FiguresOptions{Targets: targets, Gateway: reg, Now: clk.Now,
		Every: time.Hour, Floor: 5 * time.Second})

	first := f.Look(ctx)
	if first.Window != 0 || len(first.Rates) != 0 || first.HasP99 {
		t.Errorf("one sample gave rates: %+v", first)
	}
	if !first.Transitions {
		t.Error("the transition counter was not seen")
	}
	if len(first.Failures) != 1 || first.Failures[0][:5] != "gone:" {
		t.Errorf("failures: %v", first.Failures)
	}
	if b := f.Budgets(ctx); b[console.BudgetKey("shopify", "s-1")] != 0.25 || len(b) != 1 {
		t.Errorf("budgets: %v", b)
	}

	// 30 s later: 15 more PAID and 3 more SHIPPED; 100 fast creates.
	clk.add(30 * time.Second)
	orders.set(transitions(25, 8))
	for range 100 {
		hist.WithLabelValues("/v1/orders", "POST", "2xx").Observe(0.02)
	}
	snap := f.Look(ctx)
	if snap.Window != 30*time.Second {
		t.Fatalf("window %s", snap.Window)
	}
	want := map[string]float64{"PAID": 30, "SHIPPED": 6}
	if len(snap.Rates) != len(want) {
		t.Errorf("rates: %+v", snap.Rates)
	}
	for _, r := range snap.Rates {
		if math.Abs(r.PerMinute-want[r.State]) > 1e-9 {
			t.Errorf("%s: %v per minute, want %v", r.State, r.PerMinute, want[r.State])
		}
	}
	// All 100 new creates took 20 ms: p99 inside the 10–25 ms bucket, not
	// the 4 s of before the window.
	if !snap.HasP99 || snap.CreateP99 < 10*time.Millisecond || snap.CreateP99 > 25*time.Millisecond {
		t.Errorf("create p99 %s (%v)", snap.CreateP99, snap.HasP99)
	}

	// Within the floor no new sample is taken: the figures do not move.
	orders.set(transitions(1000, 1000))
	clk.add(time.Second)
	if again := f.Look(ctx); again.Window != 30*time.Second {
		t.Errorf("a look within the floor sampled again: window %s", again.Window)
	}

	// A restarted orders process (counter reset) counts from zero.
	clk.add(10 * time.Second)
	orders.set(transitions(2, 0))
	reset := f.Look(ctx)
	for _, r := range reset.Rates {
		if r.PerMinute < 0 {
			t.Errorf("negative rate after a reset: %+v", r)
		}
	}
}

func transitions(paid, shipped int) string {
	return "# TYPE printfleet_orders_transitions_total counter\n" +
		fmt.Sprintf("printfleet_orders_transitions_total{from=\"CONFIRMED\",to=\"PAID\"} %d\n", paid) +
		fmt.Sprintf("printfleet_orders_transitions_total{from=\"IN_PRODUCTION\",to=\"SHIPPED\"} %d\n", shipped)
}

// TestFiguresUnknown: without the transition counter or the budget gauge
// the figures say unknown rather than zero.
func TestFiguresUnknown(t *testing.T) {
	t.Parallel()
	empty := &exposition{}
	empty.set("# TYPE up gauge\nup 1\n")
	srv := httptest.NewServer(empty)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := console.NewFigures(ctx, console.FiguresOptions{Targets: []console.Target{{Name: "orders", URL: srv.URL}}, Every: time.Hour})
	if s := f.Look(ctx); s.Transitions || len(s.Failures) != 0 {
		t.Errorf("snapshot: %+v", s)
	}
	if b := f.Budgets(ctx); len(b) != 0 {
		t.Errorf("budgets: %v", b)
	}
}
