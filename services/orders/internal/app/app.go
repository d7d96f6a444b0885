// Package app holds the orders use cases: placing an order (idempotently,
// priced by pricing, checked against catalog), reading and listing orders
// through the cache, cancelling and shipping, the timeline, and the worker's
// reactions to stock, payment, print-file and marketplace events. It declares
// the small interfaces it needs; adapters implement them.
package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

type outboxEvent = outbox.Event

// ErrAlreadyProcessed is returned by Store.UpdateOrder when the inbox claim
// shows the message was handled before; nothing was changed.
var ErrAlreadyProcessed = errors.New("message already processed")

// Change is what a transition writes besides the order itself, in the same
// transaction: timeline entries and outbox events.
type Change struct {
	Timeline []domain.TimelineEntry
	Events   []outbox.Event
	// CarrierUpdate, when set, records a carrier update as applied; a
	// repeat of its event id rolls the change back (ErrAlreadyProcessed).
	CarrierUpdate *AppliedCarrierUpdate
}

// AppliedCarrierUpdate is a carrier update as recorded: what it answered.
type AppliedCarrierUpdate struct {
	EventID, OrderID, ShipmentID string
	Status                       domain.ShipmentStatus
	OccurredAt                   time.Time
}

// InboxClaim names a message whose processing the update records.
type InboxClaim struct {
	Consumer  string
	MessageID string
}

// UpdateOptions scope an update.
type UpdateOptions struct {
	// OwnerID, when set, makes an order of anyone else not found (the SQL
	// filters on it).
	OwnerID string
	// Inbox, when set, is claimed in the transaction; a repeated claim
	// yields ErrAlreadyProcessed.
	Inbox *InboxClaim
}

// IdempotencyRecord is the idempotency key a create takes, with the
// response it stores for replays and how long it replays it.
type IdempotencyRecord struct {
	UserID, Key string
	Hash        []byte
	Response    []byte
	TTL         time.Duration
}

// ListQuery selects a page of one user's orders (or every owner's),
// newest first.
type ListQuery struct {
	UserID string
	// AllOwners lists every owner's orders; UserID is then ignored.
	AllOwners bool
	Status    domain.Status // StatusUnspecified: any
	// StoreID and ExternalOrderID: "" means any.
	StoreID, ExternalOrderID string
	// CreatedAfter (inclusive) and CreatedBefore (exclusive): zero means
	// unbounded.
	CreatedAfter, CreatedBefore time.Time
	// After is the keyset position (exclusive); zero for the first page.
	AfterCreatedAt time.Time
	AfterID        string
	Limit          int
	// Primary reads the primary instead of the read replica: the user
	// changed an order moments ago, and the replica may not have replayed
	// it yet (read-your-writes).
	Primary bool
}

// Store is the orders' persistence.
type Store interface {
	// CreateOrder takes the idempotency key with its response and writes
	// the order, its items, the timeline entry and the events, in one
	// transaction. When the key is already taken it writes nothing and
	// returns the stored response (replay) if the key was completed with
	// the same hash, errs.IdempotencyMismatch if it was used with another
	// hash and errs.Conflict while another request holds it. A create that
	// fails leaves the key free.
	CreateOrder(ctx context.Context, o *domain.Order, c Change, idem IdempotencyRecord) (replay []byte, err error)
	// GetOrder reads one order; ownerID "" means any owner.
	GetOrder(ctx context.Context, id, ownerID string) (*domain.Order, error)
	// ListOrders reads a page of orders (from the read replica unless
	// q.Primary).
	ListOrders(ctx context.Context, q ListQuery) ([]*domain.Order, error)
	// ListTimeline reads timeline entries after seq, oldest first.
	ListTimeline(ctx context.Context, orderID string, afterSeq int64, limit int) ([]domain.TimelineEntry, error)
	// UpdateOrder loads the order, runs fn and writes the result with a
	// compare-and-set on its version together with fn's Change (and the
	// inbox claim), retrying fn on a lost race. It returns the order as
	// committed.
	UpdateOrder(ctx context.Context, id string, opts UpdateOptions, fn func(o *domain.Order) (Change, error)) (*domain.Order, error)
	// SweepIdempotencyKeys deletes expired keys and reports how many.
	SweepIdempotencyKeys(ctx context.Context) (int64, error)
	// FindShipment names the order and package of a carrier's tracking
	// number (the newest when several match), or errs.NotFound.
	FindShipment(ctx context.Context, carrier, trackingNumber string) (orderID, shipmentID string, err error)
	// CarrierUpdate reads the applied update eventID; ok is false when it
	// was not applied.
	CarrierUpdate(ctx context.Context, eventID string) (u AppliedCarrierUpdate, ok bool, err error)
}

// Cache is the cache-aside in front of GetOrder.
type Cache interface {
	// GetOrLoad returns the cached order or calls load (collapsing
	// concurrent misses for the same id and owner) and caches its result.
	GetOrLoad(ctx context.Context, id, ownerID string, load func(ctx context.Context) (*domain.Order, error)) (*domain.Order, error)
	// Invalidate drops the order after a committed change to version, so that
	// no read that started earlier can put an older version back.
	Invalidate(ctx context.Context, id string, version int64)
	// Prime caches an order whose creation has just committed, so that the
	// first read (the worker's, before it charges, or the owner's) is a hit.
	// Like any fill it is refused when a newer version or its tombstone is
	// there already.
	Prime(ctx context.Context, o *domain.Order)
}

// RecentWrites remembers, for longer than the replica lags, which users
// just changed one of their orders, so that their own lists read the
// primary (read-your-writes) while everyone else's read the replica.
type RecentWrites interface {
	// Mark records that user's orders changed now (best effort).
	Mark(ctx context.Context, userID string)
	// Recent reports whether user's orders changed within the window; when
	// it cannot tell, it says true (the primary is always right).
	Recent(ctx context.Context, userID string) bool
}

// NoRecentWrites is the RecentWrites of a service without a read replica:
// every list reads the one database there is.
type NoRecentWrites struct{}

func (NoRecentWrites) Mark(context.Context, string)        {}
func (NoRecentWrites) Recent(context.Context, string) bool { return false }

// Clock and IDs are swappable for tests.
type (
	Clock func() time.Time
	IDs   func() string
)

// Now is the default clock: UTC at PostgreSQL's precision, so that what a
// create answers equals what a later read returns.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// NewID returns a UUIDv7.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// Service is the orders API's use cases.
type Service struct {
	store    Store
	cache    Cache
	recent   RecentWrites
	catalog  Catalog
	pricing  Pricing
	tokens   *PageTokens
	log      *slog.Logger
	now      Clock
	newID    IDs
	inflight inflight
	imports  ImportStore
	// subscribers is the store when it records webhook subscribers.
	subscribers SubscriberStore
	// console is the store when it reads for the operator console.
	console  ConsoleStore
	listings ListingResolver
	// checkAddress validates an imported order's address as the API would
	// (the request's own rules); domain.NewAddress runs after it.
	checkAddress func(domain.AddressFields) error
	// IdempotencyTTL is how long a completed key replays.
	IdempotencyTTL time.Duration
	// DraftTTL is how long a DRAFT order lives unconfirmed (from its
	// creation or last edit).
	DraftTTL time.Duration
	// StuckAfter is the reconciler's threshold (the worker's
	// ReconcilerConfig.StuckAfter), for ListStuckOrders.
	StuckAfter time.Duration
}

// Deps are the Service's collaborators.
type Deps struct {
	Store Store
	Cache Cache
	// RecentWrites routes a user's lists to the primary just after the
	// user's own change (nil: no read replica, nothing to route).
	RecentWrites RecentWrites
	Catalog      Catalog
	Pricing      Pricing
	// Listings resolves imported lines; nil: Catalog when it implements
	// ListingResolver.
	Listings ListingResolver
	// CheckAddress validates an imported address (nil: only the domain's
	// rules).
	CheckAddress func(domain.AddressFields) error
	// TokenKey signs page tokens (at least 16 bytes).
	TokenKey []byte
	Log      *slog.Logger
	Now      Clock
	NewID    IDs
}

// NewService wires a Service.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = Now
	}
	if d.NewID == nil {
		d.NewID = NewID
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Cache == nil {
		d.Cache = NoCache{}
	}
	if d.RecentWrites == nil {
		d.RecentWrites = NoRecentWrites{}
	}
	if d.Listings == nil {
		d.Listings, _ = d.Catalog.(ListingResolver)
	}
	if d.CheckAddress == nil {
		d.CheckAddress = func(domain.AddressFields) error { return nil }
	}
	imports, _ := d.Store.(ImportStore)
	subscribers, _ := d.Store.(SubscriberStore)
	console, _ := d.Store.(ConsoleStore)
	return &Service{
		store: d.Store, cache: d.Cache, recent: d.RecentWrites, catalog: d.Catalog, pricing: d.Pricing,
		tokens: NewPageTokens(d.TokenKey), log: d.Log, now: d.Now, newID: d.NewID,
		imports: imports, subscribers: subscribers, console: console, listings: d.Listings, checkAddress: d.CheckAddress,
		IdempotencyTTL: 24 * time.Hour, DraftTTL: DefaultDraftTTL, StuckAfter: DefaultStuckAfter,
	}
}

// NoCache is a Cache that always loads.
type NoCache struct{}

// GetOrLoad calls load.
func (NoCache) GetOrLoad(ctx context.Context, _, _ string, load func(context.Context) (*domain.Order, error)) (*domain.Order, error) {
	return load(ctx)
}

// Invalidate does nothing.
func (NoCache) Invalidate(context.Context, string, int64) {}

// Prime does nothing.
func (NoCache) Prime(context.Context, *domain.Order) {}
