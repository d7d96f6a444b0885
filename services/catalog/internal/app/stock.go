package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/events"
)

var stockOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "catalog_stock_events_total",
	Help: "Stock messages by outcome (reserved, rejected, released, noop, duplicate).",
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
)

// Reserve handles an OrderPlaced message: all items or none, in one
// transaction with the inbox claim, the reservation record and the event
// (StockReserved or StockRejected). A redelivered message or another
// message for the same order reserves nothing.
func (s *Stock) Reserve(ctx context.Context, msg InboxClaim, orderID string, items []domain.OrderItem) (ReserveOutcome, error) {
	var outcome ReserveOutcome
	err := s.store.InTx(ctx, func(tx Tx) error {
		outcome = OutcomeDuplicate
		first, err := tx.Claim(ctx, msg.Consumer, msg.MessageID)
		if err != nil || !first {
			return err
		}
		resID := newID()
		fresh, err := tx.StartReservation(ctx, orderID, resID)
		if err != nil || !fresh {
			return err
		}
		merged, rej := domain.MergeItems(items)
		var vars map[string]StockVariant
		if rej == nil {
			ids := make([]string, len(merged))
			for i, it := range merged {
				ids[i] = it.VariantID
			}
			if vars, err = tx.StockVariants(ctx, ids); err != nil {
				return err
			}
			rej = check(merged, vars)
		}
		var zeroed []string
		if rej == nil {
			var short string
			if short, zeroed, err = tx.Reserve(ctx, merged, vars); err != nil {
				return err
			}
			if short != "" {
				rej = &domain.Rejection{Reason: domain.ReasonInsufficientStock, VariantID: short}
			}
		}
		if rej != nil {
			outcome = OutcomeRejected
			if err := tx.FinishReservation(ctx, orderID, domain.ReservationRejected, rej.Reason, nil); err != nil {
				return err
			}
			return tx.Emit(ctx, events.StockRejected(orderID, *rej))
		}
		outcome = OutcomeReserved
		if err := tx.FinishReservation(ctx, orderID, domain.ReservationReserved, "", merged); err != nil {
			return err
		}
		if err := tx.Emit(ctx, events.StockReserved(orderID, resID)); err != nil {
			return err
		}
		return emitChanged(ctx, tx, zeroed)
	})
	if err != nil {
		return "", fmt.Errorf("reserve stock for order %s: %w", orderID, err)
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
// projector refreshes in_stock.
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
// comes back exactly once, announced by StockReleased.
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
		if err := tx.Emit(ctx, events.StockReleased(orderID)); err != nil {
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
