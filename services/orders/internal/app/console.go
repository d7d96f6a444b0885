package app

import (
	"context"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// Console page sizes.
const (
	DefaultStuckPageSize = 100
	MaxStuckPageSize     = 500
	MaxActivityStores    = 200
)

// DefaultStuckAfter is the reconciler's threshold when none is configured.
const DefaultStuckAfter = 10 * time.Minute

// StuckOrderView is a stuck order as the operator console shows it.
type StuckOrderView struct {
	Order *domain.Order
	Step  Step
	// WaitingSince is the order's last transition.
	WaitingSince time.Time
	// Redriven counts the reconciler's re-drives of the order (its
	// order.redriven entries); LastRedrivenAt is the newest, zero if none.
	Redriven       int
	LastRedrivenAt time.Time
}

// StoreActivity is what the orders know of one marketplace store. Zero
// times mean never.
type StoreActivity struct {
	StoreID      string
	LastImportAt time.Time
	// LastPushAt is the newest push outcome of the store's orders, and
	// LastPushOK whether it succeeded.
	LastPushAt time.Time
	LastPushOK bool
	// LastPushError and LastPushFailedAt are the newest failed push's.
	LastPushError    string
	LastPushFailedAt time.Time
	PushFailures24h  int
	OrdersOnHold     int
}

// ConsoleStore reads what the operator console shows.
type ConsoleStore interface {
	// ListStuckOrders lists, oldest first and at most limit, the orders
	// waiting for a step since before `before` (the reconciler's criterion,
	// whether or not it re-drove them since).
	ListStuckOrders(ctx context.Context, before time.Time, limit int) ([]StuckOrderView, error)
	// StoreActivity reads each store's activity, failures counted since
	// `since`; one entry per id, in order.
	StoreActivity(ctx context.Context, storeIDs []string, since time.Time) ([]StoreActivity, error)
}

// ListStuckOrders returns the orders stuck past StuckAfter, oldest first
// (admin or support).
func (s *Service) ListStuckOrders(ctx context.Context, caller principal.Principal, pageSize int32) ([]StuckOrderView, error) {
	if err := caller.RequireReader(); err != nil {
		return nil, err
	}
	size := int(pageSize)
	switch {
	case pageSize < 0:
		return nil, errs.Field("page_size", "must not be negative")
	case size == 0:
		size = DefaultStuckPageSize
	case size > MaxStuckPageSize:
		size = MaxStuckPageSize
	}
	if s.console == nil {
		return nil, errs.E(errs.Internal, "no console store")
	}
	return s.console.ListStuckOrders(ctx, s.now().Add(-s.StuckAfter), size)
}

// ListStoreActivity returns each named store's activity, in order (admin
// or support).
func (s *Service) ListStoreActivity(ctx context.Context, caller principal.Principal, storeIDs []string) ([]StoreActivity, error) {
	if err := caller.RequireReader(); err != nil {
		return nil, err
	}
	if len(storeIDs) > MaxActivityStores {
		return nil, errs.Field("store_ids", "at most 200 stores may be named")
	}
	for _, id := range storeIDs {
		if !domain.IsUUID(id) {
			return nil, errs.Field("store_ids", "must be UUIDs")
		}
	}
	if len(storeIDs) == 0 {
		return nil, nil
	}
	if s.console == nil {
		return nil, errs.E(errs.Internal, "no console store")
	}
	return s.console.StoreActivity(ctx, storeIDs, s.now().Add(-24*time.Hour))
}
