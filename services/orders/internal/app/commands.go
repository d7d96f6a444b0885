package app

import (
	"context"
	"unicode/utf8"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// update runs a transition through the store and invalidates the cache once
// it is committed.
func (s *Service) update(ctx context.Context, id string, opts UpdateOptions, fn func(o *domain.Order) (Change, error)) (*domain.Order, error) {
	return updateAndInvalidate(ctx, s.store, s.cache, id, opts, fn)
}

func updateAndInvalidate(ctx context.Context, st Store, c Cache, id string, opts UpdateOptions, fn func(o *domain.Order) (Change, error)) (*domain.Order, error) {
	o, err := st.UpdateOrder(ctx, id, opts, fn)
	if err != nil {
		return nil, err
	}
	c.Invalidate(context.WithoutCancel(ctx), id, o.Version())
	return o, nil
}

// transitionEntry is the timeline entry of a move from → o.Status().
func transitionEntry(newID IDs, o *domain.Order, from domain.Status, typ, msg string, attrs map[string]string) domain.TimelineEntry {
	return domain.TimelineEntry{
		ID: newID(), OrderID: o.ID(), Type: typ, From: from, To: o.Status(),
		Message: msg, Attributes: attrs, CreatedAt: o.UpdatedAt(),
	}
}

// CancelOrder cancels an order of the caller (any order for an admin) until
// it is in production. Stock is released and a paid order refunded by the
// consumers of OrderCancelled.
func (s *Service) CancelOrder(ctx context.Context, caller principal.Principal, id, reason string) (*domain.Order, error) {
	owner, err := ownerScope(caller)
	if err != nil {
		return nil, err
	}
	if !domain.IsUUID(id) {
		return nil, errs.Field("order_id", "must be a UUID")
	}
	if utf8.RuneCountInString(reason) > domain.MaxReasonLen {
		return nil, errs.Field("reason", "is longer than 500 characters")
	}
	if reason == "" {
		reason = "cancelled by " + roleOf(caller)
	}
	o, err := s.update(ctx, id, UpdateOptions{OwnerID: owner}, func(o *domain.Order) (Change, error) {
		from := o.Status()
		if err := o.Cancel(reason, s.now()); err != nil {
			return Change{}, err
		}
		return s.cancelChange(o, from, domain.EventCancelled, reason, nil), nil
	})
	if err != nil {
		return nil, err
	}
	s.recent.Mark(ctx, o.UserID())
	s.log.InfoContext(ctx, "order cancelled", "order_id", o.ID(), "by", roleOf(caller))
	return o, nil
}

func roleOf(p principal.Principal) string {
	if p.IsAdmin() {
		return "admin"
	}
	return "customer"
}
