package postgres

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// transitions counts the order state transitions this process committed.
// The store counts them because every transition commits here (created,
// imported on hold, or changed by UpdateOrder), in the API and the worker
// alike; a repeat that changed nothing commits no transition.
var transitions = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "printfleet_orders_transitions_total",
	Help: "Order state transitions committed, by status before (NONE for a created order) and after.",
}, []string{"from", "to"})

// countChange records the transitions of a committed update: each status
// change its timeline records (one entry per step, so a commit that
// confirms and charges counts PENDING→CONFIRMED and CONFIRMED→PAID), or
// before → after when its timeline records none.
func countChange(before, after domain.Status, timeline []domain.TimelineEntry) {
	counted := false
	for _, e := range timeline {
		if e.From != e.To && e.From != domain.StatusUnspecified {
			countTransition(e.From, e.To)
			counted = true
		}
	}
	if !counted {
		countTransition(before, after)
	}
}

// countTransition records a committed change of status from → to (from is
// StatusUnspecified for a created order); an unchanged status is no
// transition.
func countTransition(from, to domain.Status) {
	if from == to {
		return
	}
	transitions.WithLabelValues(statusLabel(from), statusLabel(to)).Inc()
}

// statusLabel is the label value of s: its proto name without the
// ORDER_STATUS_ prefix, NONE before an order exists.
func statusLabel(s domain.Status) string {
	if s == domain.StatusUnspecified {
		return "NONE"
	}
	return s.String()
}
