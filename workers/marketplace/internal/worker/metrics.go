package worker

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/workers/marketplace/internal/adapters"
)

// Push outcomes (metric label values).
const (
	outcomeSucceeded = "succeeded"
	outcomeDuplicate = "duplicate" // succeeded: the marketplace already had it
	outcomeFailed    = "failed_permanent"
	outcomeRetry     = "retry" // given back to the queue
)

// unknownMarketplace labels pushes whose store could not be looked up.
const unknownMarketplace = "unknown"

var (
	pushesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_pushes_total",
		Help: "Shipment pushes by marketplace and outcome (succeeded, duplicate, failed_permanent, retry).",
	}, []string{"marketplace", "outcome"})

	pushDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "printfleet_marketplace_push_duration_seconds",
		Help:    "Time of one push (store lookup to marketplace answer), by marketplace and outcome.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"marketplace", "outcome"})

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

	budgetExhausted = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_budget_exhausted_total",
		Help: "Pushes given back to the queue because the rate budget had no room before the deadline (reason=budget) or throttling outlasted the retries (reason=throttled).",
	}, []string{"marketplace", "reason"})

	tokenRefreshes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_token_refreshes_total",
		Help: "OAuth token exchanges by marketplace and result (ok, failed).",
	}, []string{"marketplace", "result"})

	eventsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_events_total",
		Help: "Consumed events by type and what was done (push, no_store, ignored).",
	}, []string{"type", "action"})

	pushesInFlight = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "printfleet_marketplace_pushes_in_flight",
		Help: "Pushes being handled (including those waiting for budget).",
	})
)

// observeCalls counts a push's HTTP exchanges and the budget signals in them.
func observeCalls(m string, res adapters.Result) {
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
		if c.Response.Status == 429 || (m == string(adapters.Shopify) && strings.Contains(c.Response.Body, `"THROTTLED"`)) {
			throttledTotal.WithLabelValues(m).Inc()
		}
	}
	if res.Duration > 0 {
		pushWait.WithLabelValues(m).Observe(max(0, res.Duration-wire).Seconds())
	}
}

func codeClass(c adapters.Call) string {
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
