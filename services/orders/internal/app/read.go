package app

import (
	"context"
	"fmt"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// Page sizes.
const (
	DefaultPageSize         = 20
	MaxPageSize             = 100
	DefaultTimelinePageSize = 50
	MaxTimelinePageSize     = 200
)

func notFound() error { return errs.E(errs.NotFound, "order not found") }

// ownerScope is the owner filter for caller: "" for an admin (any order),
// the caller's id otherwise. Any authenticated caller has one: what they
// may see is decided by the filter, not by a role.
func ownerScope(caller principal.Principal) (string, error) {
	if err := caller.Require(); err != nil {
		return "", err
	}
	if caller.IsAdmin() {
		return "", nil
	}
	return caller.Subject, nil
}

// GetOrder returns one order to its owner or an admin; to anyone else it
// does not exist. Reads go through the cache.
func (s *Service) GetOrder(ctx context.Context, caller principal.Principal, id string) (*domain.Order, error) {
	owner, err := ownerScope(caller)
	if err != nil {
		return nil, err
	}
	if !domain.IsUUID(id) {
		return nil, errs.Field("order_id", "must be a UUID")
	}
	o, err := s.cache.GetOrLoad(ctx, id, owner, func(ctx context.Context) (*domain.Order, error) {
		return s.store.GetOrder(ctx, id, owner)
	})
	if err != nil {
		return nil, err
	}
	// A cached order was stored for whoever asked first: check again.
	if owner != "" && !o.OwnedBy(owner) {
		return nil, notFound()
	}
	return o, nil
}

// ListInput selects a page of orders.
type ListInput struct {
	PageSize  int32
	PageToken string
	// UserID is whose orders an admin lists; empty means the caller's. A
	// non-admin naming anyone else gets NOT_FOUND (their orders are not the
	// caller's to know about).
	UserID string
	Status domain.Status
}

// ListResult is a page of orders.
type ListResult struct {
	Orders        []*domain.Order
	NextPageToken string
}

// ListOrders pages through one user's orders, newest first.
func (s *Service) ListOrders(ctx context.Context, caller principal.Principal, in ListInput) (ListResult, error) {
	if err := caller.Require(); err != nil {
		return ListResult{}, err
	}
	user := caller.Subject
	if in.UserID != "" && in.UserID != caller.Subject {
		if !caller.IsAdmin() {
			return ListResult{}, errs.E(errs.NotFound, "user not found")
		}
		user = in.UserID
	}
	if in.Status != domain.StatusUnspecified && !in.Status.Valid() {
		return ListResult{}, errs.Field("status", "is not an order status")
	}
	size := int(in.PageSize)
	switch {
	case in.PageSize < 0:
		return ListResult{}, errs.Field("page_size", "must not be negative")
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	scope := fmt.Sprintf("orders|%s|%d", user, in.Status)
	q := ListQuery{UserID: user, Status: in.Status, Limit: size + 1, Primary: s.recent.Recent(ctx, user)}
	if in.PageToken != "" {
		at, id, err := s.tokens.ParseOrderPosition(scope, in.PageToken)
		if err != nil {
			return ListResult{}, err
		}
		q.AfterCreatedAt, q.AfterID = at, id
	}
	orders, err := s.store.ListOrders(ctx, q)
	if err != nil {
		return ListResult{}, err
	}
	var res ListResult
	if len(orders) > size {
		orders = orders[:size]
		last := orders[size-1]
		res.NextPageToken = s.tokens.OrderPosition(scope, last.CreatedAt(), last.ID())
	}
	res.Orders = orders
	return res, nil
}

// TimelineResult is a page of an order's timeline.
type TimelineResult struct {
	Entries       []domain.TimelineEntry
	NextPageToken string
}

// ListOrderEvents returns an order's timeline, oldest first, to its owner
// or an admin; to anyone else the order does not exist.
func (s *Service) ListOrderEvents(ctx context.Context, caller principal.Principal, orderID string, pageSize int32, pageToken string) (TimelineResult, error) {
	if _, err := ownerScope(caller); err != nil {
		return TimelineResult{}, err
	}
	if !domain.IsUUID(orderID) {
		return TimelineResult{}, errs.Field("order_id", "must be a UUID")
	}
	size := int(pageSize)
	switch {
	case pageSize < 0:
		return TimelineResult{}, errs.Field("page_size", "must not be negative")
	case size == 0:
		size = DefaultTimelinePageSize
	case size > MaxTimelinePageSize:
		size = MaxTimelinePageSize
	}
	scope := "timeline|" + orderID
	var after int64
	if pageToken != "" {
		var err error
		if after, err = s.tokens.ParseSeq(scope, pageToken); err != nil {
			return TimelineResult{}, err
		}
	}
	// Ownership is checked on the order itself (through the cache).
	if _, err := s.GetOrder(ctx, caller, orderID); err != nil {
		return TimelineResult{}, err
	}
	entries, err := s.store.ListTimeline(ctx, orderID, after, size+1)
	if err != nil {
		return TimelineResult{}, err
	}
	var res TimelineResult
	if len(entries) > size {
		entries = entries[:size]
		res.NextPageToken = s.tokens.Seq(scope, entries[size-1].Seq)
	}
	res.Entries = entries
	return res, nil
}
