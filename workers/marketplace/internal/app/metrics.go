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

// The import side.
var (
	importsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_imports_total",
		Help: "Marketplace orders handled by the importer, by marketplace, source (webhook, poll) and outcome (imported, held, duplicate, cancelled, ignored, skipped, failed).",
	}, []string{"marketplace", "source", "outcome"})

	importLag = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "printfleet_marketplace_import_lag_seconds",
		Help: "Seconds since the marketplace's least recently polled store last finished a poll (by any replica), updated every poll round; each store's time is its last_import_at.",
	}, []string{"marketplace"})

	importPolls = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_marketplace_import_polls_total",
		Help: "Store polls by marketplace and outcome (ok, failed, locked: another replica was polling it, budget: the store's rate budget had no room yet).",
	}, []string{"marketplace", "outcome"})
)
