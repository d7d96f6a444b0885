package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/events"
)

var stockOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "catalog_stock_events_total",
	Help: "Stock messages by outcome (reserved, rejected, announced, released, noop, duplicate).",
}, []string{"outcome"})

// Stock reserves and releases blank stock for orders.
type Stock struct {
	store Store
	log   *slog.Logger
}

// NewStock returns the stock use cases.
func NewStock(store Store, log *slog.Logger) *Stock { return &Stock{store: store, log: log} }

// ReserveOutcome is what handling an OrderPlaced did.
type ReserveOutcome string

// Outcomes.
const (
	OutcomeReserved  ReserveOutcome = "reserved"
	OutcomeRejected  ReserveOutcome = "rejected"
	OutcomeDuplicate ReserveOutcome = "duplicate"
	// OutcomeAnnounced: a new message for an order decided before; its
	// decision was announced again.
	OutcomeAnnounced ReserveOutcome = "announced"
)

// Reserve handles an OrderPlaced message: all items or none, in one
// transaction with the inbox claim, the reservation record and the event
// (StockReserved or StockRejected). A redelivered message or another
// message for the same order reserves nothing. Another message for an order
// decided before (the orders reconciler placing a PENDING order again, when
// the first answer was lost) announces that decision again: StockReserved
// with the held reservation's id, or StockRejected with the stored reason;
// nothing for a released or cancelled reservation.
func (s *Stock) Reserve(ctx context.Context, msg InboxClaim, orderID string, items []domain.OrderItem) (ReserveOutcome, error) {
	merged, mergeRej := domain.MergeItems(items)
	var again bool
	r := Reservation{Claim: msg, OrderID: orderID, ReservationID: newID(), Again: func(d Decision) []outbox.Event {
		switch d.Status {
		case domain.ReservationReserved:
			again = true
			return []outbox.Event{events.StockReserved(orderID, d.ReservationID)}
		case domain.ReservationRejected:
			again = true
			return []outbox.Event{events.StockRejected(orderID, d.Rejection)}
		}
		return nil
	}}
	if mergeRej == nil {
		r.Items = merged
	}
	var outcome ReserveOutcome
	seen, err := s.store.ReserveStock(ctx, r, func(st ReservationState) (Verdict, error) {
		rej := mergeRej
		if rej == nil {
			rej = check(merged, st.Variants)
		}
		if rej == nil && st.Short != "" {
			rej = &domain.Rejection{Reason: domain.ReasonInsufficientStock, VariantID: st.Short}
		}
		if rej != nil {
			outcome = OutcomeRejected
			return Verdict{Rejection: rej, Events: []outbox.Event{events.StockRejected(orderID, *rej)}}, nil
		}
		outcome = OutcomeReserved
		return Verdict{
			Events:  []outbox.Event{events.StockReserved(orderID, r.ReservationID)},
			Changed: st.Moved, Announce: events.ProductChanged,
		}, nil
	})
	if err != nil {
		return "", fmt.Errorf("reserve stock for order %s: %w", orderID, err)
	}
	switch {
	case seen && again:
		outcome = OutcomeAnnounced
	case seen:
		outcome = OutcomeDuplicate
	}
	stockOutcomes.WithLabelValues(string(outcome)).Inc()
	return outcome, nil
}

func check(items []domain.OrderItem, vars map[string]StockVariant) *domain.Rejection {
	for _, it := range items {
		v, ok := vars[it.VariantID]
		switch {
		case !ok:
			return &domain.Rejection{Reason: domain.ReasonUnknownVariant, VariantID: it.VariantID}
		case !v.Active || !v.ProductActive:
			return &domain.Rejection{Reason: domain.ReasonInactive, VariantID: it.VariantID}
		}
	}
	return nil
}

// emitChanged bumps the products' versions and announces them, so the
// projector refreshes stock_available and in_stock.
func emitChanged(ctx context.Context, tx Tx, productIDs []string) error {
	if len(productIDs) == 0 {
		return nil
	}
	versions, err := tx.BumpVersions(ctx, productIDs)
	if err != nil {
		return err
	}
	for id, v := range versions {
		if err := tx.Emit(ctx, events.ProductChanged(id, v)); err != nil {
			return err
		}
	}
	return nil
}

// Release handles OrderCancelled and PaymentFailed: a reserved order's stock
// comes back exactly once. Nothing consumes a release announcement, so none
// is published; products whose tracked stock came back are announced
// (ProductChanged).
func (s *Stock) Release(ctx context.Context, msg InboxClaim, orderID string) (bool, error) {
	var released bool
	err := s.store.InTx(ctx, func(tx Tx) error {
		released = false
		first, err := tx.Claim(ctx, msg.Consumer, msg.MessageID)
		if err != nil || !first {
			return err
		}
		var restocked []string
		if released, restocked, err = tx.Release(ctx, orderID); err != nil || !released {
			return err
		}
		return emitChanged(ctx, tx, restocked)
	})
	if err != nil {
		return false, fmt.Errorf("release stock of order %s: %w", orderID, err)
	}
	if released {
		stockOutcomes.WithLabelValues("released").Inc()
	} else {
		stockOutcomes.WithLabelValues("noop").Inc()
	}
	return released, nil
}
