package app

import (
	"context"
	"fmt"
	"time"

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

// ownerScope is the owner filter of a change by caller: "" for an admin
// (any order), the caller's id otherwise. Any authenticated caller has one:
// what they may change is decided by the filter, not by a role.
func ownerScope(caller principal.Principal) (string, error) {
	if err := caller.Require(); err != nil {
		return "", err
	}
	if caller.IsAdmin() {
		return "", nil
	}
	return caller.Subject, nil
}

// readScope is the owner filter of a read by caller: "" for those who
// read every owner's orders (admin, support), the caller's id otherwise.
// A support operator's changes still go through ownerScope, where they
// find only their own orders, as any other user would.
func readScope(caller principal.Principal) (string, error) {
	if err := caller.Require(); err != nil {
		return "", err
	}
	if caller.ReadsAll() {
		return "", nil
	}
	return caller.Subject, nil
}

// GetOrder returns one order to its owner, an admin or support; to anyone
// else it does not exist. Reads go through the cache.
func (s *Service) GetOrder(ctx context.Context, caller principal.Principal, id string) (*domain.Order, error) {
	owner, err := readScope(caller)
	if err != nil {
		return nil, err
	}
	return s.getOrder(ctx, owner, id)
}

// getOrder reads order id through the cache; owner "" is any owner, any
// other owner finds only their own orders.
func (s *Service) getOrder(ctx context.Context, owner, id string) (*domain.Order, error) {
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
	// UserID is whose orders an admin (or support) lists; empty means the
	// caller's. Anyone else naming another user gets NOT_FOUND (their
	// orders are not the caller's to know about).
	UserID string
	// AllOwners lists every owner's orders: admin and support only
	// (PERMISSION_DENIED for anyone else), with UserID empty.
	AllOwners bool
	Status    domain.Status
	// StoreID and ExternalOrderID, when set, select the orders of a store
	// and a marketplace order number.
	StoreID, ExternalOrderID string
	// CreatedAfter (inclusive) and CreatedBefore (exclusive) bound the
	// creation time when not zero.
	CreatedAfter, CreatedBefore time.Time
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
	switch {
	case in.AllOwners && !caller.ReadsAll():
		return ListResult{}, errs.E(errs.PermissionDenied, "listing every owner's orders needs the admin or support role")
	case in.AllOwners && in.UserID != "":
		return ListResult{}, errs.Field("user_id", "must be empty when all_owners is set")
	case in.AllOwners:
		user = ""
	case in.UserID != "" && in.UserID != caller.Subject:
		if !caller.ReadsAll() {
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
	switch {
	case in.StoreID != "" && !domain.IsUUID(in.StoreID):
		return ListResult{}, errs.Field("store_id", "must be a UUID")
	case len(in.ExternalOrderID) > maxExternalOrderID:
		return ListResult{}, errs.Field("external_order_id", fmt.Sprintf("must be at most %d characters", maxExternalOrderID))
	case !in.CreatedAfter.IsZero() && !in.CreatedBefore.IsZero() && !in.CreatedBefore.After(in.CreatedAfter):
		return ListResult{}, errs.Field("created_before", "must be later than created_after")
	}
	// The token binds every filter: a position is only meaningful in the
	// sequence it was taken from.
	// A user id is never empty, so "" names every owner's sequence.
	scope := fmt.Sprintf("orders|%s|%d|%q|%q|%d|%d", user, in.Status, in.StoreID, in.ExternalOrderID,
		unixMicro(in.CreatedAfter), unixMicro(in.CreatedBefore))
	q := ListQuery{
		UserID: user, AllOwners: in.AllOwners, Status: in.Status, StoreID: in.StoreID, ExternalOrderID: in.ExternalOrderID,
		CreatedAfter: in.CreatedAfter, CreatedBefore: in.CreatedBefore,
		Limit: size + 1,
	}
	if !in.AllOwners {
		// Every owner's orders read the replica: no one user's recent
		// write decides for them.
		q.Primary = s.recent.Recent(ctx, user)
	}
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

// maxExternalOrderID is the longest marketplace order number a filter names.
const maxExternalOrderID = 128

func unixMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// TimelineResult is a page of an order's timeline.
type TimelineResult struct {
	Entries       []domain.TimelineEntry
	NextPageToken string
}

// ListOrderEvents returns an order's timeline, oldest first, to its owner,
// an admin or support; to anyone else the order does not exist.
func (s *Service) ListOrderEvents(ctx context.Context, caller principal.Principal, orderID string, pageSize int32, pageToken string) (TimelineResult, error) {
	if _, err := readScope(caller); err != nil {
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
