package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/events"
)

// Step is what a stuck order waits for.
type Step string

// The steps the reconciler drives again.
const (
	// StepPlace: PENDING, the catalog's answer (StockReserved or
	// StockRejected) never arrived.
	StepPlace Step = "place"
	// StepCharge: CONFIRMED without a payment.
	StepCharge Step = "charge"
	// StepRefund: cancelled with a payment and no refund.
	StepRefund Step = "refund"
	// StepPrintFiles: PAID, waiting for its print files.
	StepPrintFiles Step = "print_files"
	// StepMarketplacePush: a marketplace order (shipped, partially or
	// delivered) with a package no push outcome has named yet.
	StepMarketplacePush Step = "marketplace_push"
)

// Steps lists every step (the gauge reports each, zero included).
var Steps = []Step{StepPlace, StepCharge, StepRefund, StepPrintFiles, StepMarketplacePush}

// StuckOrder is an order that has not moved past Step for too long.
type StuckOrder struct {
	ID   string
	Step Step
	// Shipments are, at StepMarketplacePush, the packages without a push
	// outcome, oldest first.
	Shipments []string
}

// StuckStore finds stuck orders and serialises reconciler passes across
// replicas.
type StuckStore interface {
	// StuckOrders lists, oldest first and at most limit, the orders waiting
	// for a step since before `before` and not re-driven since then.
	StuckOrders(ctx context.Context, before time.Time, limit int) ([]StuckOrder, error)
	// WithReconcileLock runs fn while holding the reconciler's lock; it
	// reports false without running fn when another replica holds it.
	WithReconcileLock(ctx context.Context, fn func(ctx context.Context) error) (bool, error)
}

var (
	stuckOrders = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "printfleet_orders_stuck",
		Help: "Orders stuck in a non-final state past the reconciler's threshold, by the step they wait for (as of the last pass).",
	}, []string{"step"})
	redrives = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_orders_redrives_total",
		Help: "Stuck orders the reconciler drove again, by step and outcome (ok, unavailable, error).",
	}, []string{"step", "outcome"})
)

// ReconcilerConfig tunes the reconciler.
type ReconcilerConfig struct {
	// Every is the time between passes.
	Every time.Duration
	// StuckAfter is how long an order may wait for a step before it is
	// driven again (and again after as long, if it is still stuck).
	StuckAfter time.Duration
	// Batch is the most orders one pass drives.
	Batch int
}

// Reconciler finds orders stuck in a non-final state and drives them again
// through the worker's own code paths: every step is idempotent (a
// placement by order id at the catalog and pricing, charges and refunds by
// order id at the provider, print files and marketplace pushes by order and
// shipment), so a re-drive that races the original message, or another
// re-drive, does no harm.
type Reconciler struct {
	store  StuckStore
	orders Store
	w      *Worker
	cfg    ReconcilerConfig
	log    *slog.Logger
}

// NewReconciler wires a reconciler that re-drives through w.
func NewReconciler(s StuckStore, w *Worker, cfg ReconcilerConfig) *Reconciler {
	if cfg.Every <= 0 {
		cfg.Every = 30 * time.Second
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = DefaultStuckAfter
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	for _, st := range Steps {
		stuckOrders.WithLabelValues(string(st))
		for _, oc := range []string{"ok", "unavailable", "error"} {
			redrives.WithLabelValues(string(st), oc)
		}
	}
	return &Reconciler{store: s, orders: w.store, w: w, cfg: cfg, log: w.log.With("component", "reconciler")}
}

// Run passes every cfg.Every until ctx is done.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile pass", "err", err)
		}
	}
}

// PassResult is what one pass found and drove.
type PassResult struct {
	// Ran is false when another replica held the lock.
	Ran      bool
	Stuck    map[Step]int
	Redriven map[Step]int
}

// Pass runs one reconciliation under the lock.
func (r *Reconciler) Pass(ctx context.Context) (PassResult, error) {
	res := PassResult{Stuck: map[Step]int{}, Redriven: map[Step]int{}}
	ran, err := r.store.WithReconcileLock(ctx, func(ctx context.Context) error {
		stuck, err := r.store.StuckOrders(ctx, r.w.now().Add(-r.cfg.StuckAfter), r.cfg.Batch)
		if err != nil {
			return err
		}
		for _, s := range stuck {
			res.Stuck[s.Step]++
		}
		for _, st := range Steps {
			stuckOrders.WithLabelValues(string(st)).Set(float64(res.Stuck[st]))
		}
		// A provider that is down fails every charge and refund alike:
		// stop asking it for the rest of this pass.
		providerDown := false
		for _, s := range stuck {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if providerDown && (s.Step == StepCharge || s.Step == StepRefund) {
				continue
			}
			err := r.redrive(ctx, s)
			outcome := "ok"
			switch {
			case err == nil:
				res.Redriven[s.Step]++
			case errs.Is(err, errs.Unavailable):
				outcome = "unavailable"
				providerDown = providerDown || s.Step == StepCharge || s.Step == StepRefund
			default:
				outcome = "error"
			}
			redrives.WithLabelValues(string(s.Step), outcome).Inc()
			if err != nil {
				r.log.Warn("re-drive stuck order", "order_id", s.ID, "step", s.Step, "err", err)
			} else {
				r.log.Info("re-drove stuck order", "order_id", s.ID, "step", s.Step)
			}
		}
		return nil
	})
	res.Ran = ran
	if !ran && err == nil {
		// Another replica reports: a stale figure here would mislead a max().
		for _, st := range Steps {
			stuckOrders.WithLabelValues(string(st)).Set(0)
		}
	}
	return res, err
}

// redrive drives one order again. Each re-drive is its own message as far
// as the inbox is concerned (a fresh id).
func (r *Reconciler) redrive(ctx context.Context, s StuckOrder) error {
	msgID := r.w.newID()
	switch s.Step {
	case StepPlace:
		// The catalog answers a new OrderPlaced for an order it decided
		// before by announcing its decision again, and reserves otherwise.
		return r.republish(ctx, msgID, s, when(domain.StatusPending, events.OrderPlaced))
	case StepCharge:
		return r.w.StockReserved(ctx, msgID, s.ID)
	case StepRefund:
		o, err := r.orders.GetOrder(ctx, s.ID, "")
		if err != nil {
			return err
		}
		if o.Status() != domain.StatusCancelled {
			return nil // moved on meanwhile
		}
		return r.w.refundCancelled(ctx, msgID, o)
	case StepPrintFiles:
		return r.republish(ctx, msgID, s, when(domain.StatusPaid, events.OrderPaid))
	case StepMarketplacePush:
		return r.republish(ctx, msgID, s, func(o *domain.Order) []outboxEvent {
			if st := o.Status(); st != domain.StatusShipped && st != domain.StatusPartiallyShipped && st != domain.StatusDelivered {
				return nil
			}
			var evs []outboxEvent
			for _, sh := range o.Shipments() {
				if slices.Contains(s.Shipments, sh.ID()) {
					evs = append(evs, events.OrderShipped(o, sh))
				}
			}
			return evs
		})
	}
	return errs.E(errs.Internal, "unknown step %q", s.Step)
}

// when is the event of an order still in status want, none otherwise.
func when(want domain.Status, event func(*domain.Order) outboxEvent) func(*domain.Order) []outboxEvent {
	return func(o *domain.Order) []outboxEvent {
		if o.Status() != want {
			return nil
		}
		return []outboxEvent{event(o)}
	}
}

// republish announces again the events that ask for s's step, while the
// order still waits for it (announce answers some), with a timeline note that
// also keeps the next passes from re-driving it before StuckAfter has passed
// again.
func (r *Reconciler) republish(ctx context.Context, msgID string, s StuckOrder, announce func(*domain.Order) []outboxEvent) error {
	_, err := r.w.update(ctx, s.ID, r.w.inbox, msgID, func(o *domain.Order) (Change, error) {
		evs := announce(o)
		if len(evs) == 0 {
			return Change{}, nil
		}
		return Change{
			Timeline: []domain.TimelineEntry{r.w.note(o, domain.EventRedriven, "stuck order driven again",
				map[string]string{"step": string(s.Step)})},
			Events: withIDs(r.w.newID, evs...),
		}, nil
	})
	if errors.Is(err, ErrAlreadyProcessed) {
		return nil
	}
	return err
}
