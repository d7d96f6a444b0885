package marketplace

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// The marketplaces' side of a push, as dashboards and alerts read it.
var (
	pushWait = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "printfleet_marketplace_push_wait_seconds",
		Help:    "Time a push spent off the wire: waiting for its rate budget, a Retry-After or a retry backoff.",
		Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"marketplace"})

	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_requests_total",
		Help: "HTTP requests to marketplaces by marketplace, kind (api, token) and answer (2xx, 4xx, 429, 5xx, error).",
	}, []string{"marketplace", "kind", "code"})

	throttledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_throttled_total",
		Help: "Marketplace answers saying the rate budget was spent (429, Shopify THROTTLED).",
	}, []string{"marketplace"})

	tokenRefreshes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_token_refreshes_total",
		Help: "OAuth token exchanges by marketplace and result (ok, adopted: another replica's, unsaved: the catalog did not take it).",
	}, []string{"marketplace", "result"})

	// budgetUsed has one series per shop this process pushed to or
	// imported from (the only shops whose budgets it sees), so its
	// cardinality is bounded by the stores it serves. The shop is the
	// marketplace's own id of the store (Store.ShopID): the fleet's label
	// values carry no UUIDs, and the console finds the store by its
	// marketplace and shop id.
	budgetUsed = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "printfleet_marketplace_budget_used_ratio",
		Help: "Share (0..1) of a shop's marketplace rate budget spent in the current window, as this worker last saw it (after its last request for the shop).",
	}, []string{"marketplace", "shop"})

	sharedBudgetErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_shared_budget_errors_total",
		Help: "Shared (Redis) rate budget calls that failed; the push then waited on this process's own bucket.",
	}, []string{"marketplace"})
)

// ObserveBudget records the share of store's rate budget at m spent (0..1),
// as the adapter saw it after a request for the store, under the store's
// shop id.
func ObserveBudget(m domain.Marketplace, store domain.Store, used float64) {
	if store.ShopID == "" {
		return
	}
	budgetUsed.WithLabelValues(string(m), store.ShopID).Set(min(1, max(0, used)))
}

// observeCalls counts a push's HTTP exchanges and the budget signals in them.
func observeCalls(m string, res domain.Result) {
	var wire time.Duration
	for _, c := range res.Calls {
		wire += c.Duration
		kind := "api"
		if c.Token {
			kind = "token"
			result := "ok"
			if c.Err != "" || c.Response.Status != 200 {
				result = "failed"
			}
			// Successful refreshes are counted where the token is stored
			// (once per refresh, however many pushes share it).
			if result == "failed" {
				tokenRefreshes.WithLabelValues(m, result).Inc()
			}
		}
		requestsTotal.WithLabelValues(m, kind, codeClass(c)).Inc()
		if c.Response.Status == 429 || (m == string(domain.Shopify) && strings.Contains(c.Response.Body, `"THROTTLED"`)) {
			throttledTotal.WithLabelValues(m).Inc()
		}
	}
	if res.Duration > 0 {
		pushWait.WithLabelValues(m).Observe(max(0, res.Duration-wire).Seconds())
	}
}

func codeClass(c domain.Call) string {
	switch s := c.Response.Status; {
	case c.Err != "" || s == 0:
		return "error"
	case s == 429:
		return "429"
	case s >= 500:
		return "5xx"
	case s >= 400:
		return "4xx"
	case s >= 300:
		return "3xx"
	}
	return "2xx"
}
