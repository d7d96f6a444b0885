package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The pushes as dashboards and alerts read them; the marketplaces' HTTP side
// is counted by the marketplace client.
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

	budgetExhausted = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_budget_exhausted_total",
		Help: "Pushes given back to the queue because the rate budget had no room before the deadline (reason=budget) or throttling outlasted the retries (reason=throttled).",
	}, []string{"marketplace", "reason"})

	eventsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_events_total",
		Help: "Consumed events by type and what was done (push, no_store, ignored).",
	}, []string{"type", "action"})

	pushesInFlight = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "printfleet_marketplace_pushes_in_flight",
		Help: "Pushes being handled (including those waiting for budget).",
	})
)
