// Package app holds the catalog's use cases: product writes and projected
// reads, variant resolution for orders, designs, marketplace stores, blank
// stock reservations and the projector. The caller is passed in explicitly
// by the transport (grpcapi) and checked here, where the data is. It
// declares the small interfaces it needs from PostgreSQL, Redis and S3;
// adapters implement them.
package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// InboxClaim names a delivered message: the use case records it in the
// inbox under Consumer in the transaction of its effect, so a redelivery
// changes nothing. amqpapi fills it (Consumer is the queue's name).
type InboxClaim struct {
	Consumer  string
	MessageID string
}

// Store is the catalog's PostgreSQL.
type Store interface {
	InTx(ctx context.Context, fn func(Tx) error) error
	// Product reads one product from the primary (ErrNotFound kind NotFound).
	Product(ctx context.Context, id string) (domain.Product, error)
	// Products pages products by id after afterID; fromReader reads the
	// replica when there is one.
	Products(ctx context.Context, afterID string, limit int, activeOnly, fromReader bool) ([]domain.Product, error)
	ProductsByID(ctx context.Context, ids []string) ([]domain.Product, error)
	Resolve(ctx context.Context, variantIDs, designIDs []string) ([]ResolvedVariant, []domain.Design, error)
	Design(ctx context.Context, id string) (domain.Design, error)
	// Stores pages ownerID's stores by id; ownerID "" pages every owner's.
	Stores(ctx context.Context, ownerID, afterID string, limit int) ([]domain.Store, error)
	SealedStore(ctx context.Context, id string) (domain.Store, []byte, error)
	// Listing reads a store's listing; Listings pages them by id;
	// MatchListing finds the one an order line maps to.
	Listing(ctx context.Context, storeID, id string) (domain.Listing, error)
	Listings(ctx context.Context, storeID, afterID string, limit int) ([]domain.Listing, error)
	MatchListing(ctx context.Context, storeID string, line domain.ExternalLine) (domain.Listing, error)
	// ImportStores pages by id the stores the importer polls (those not
	// needing reconnection) with their cursors; SaveImportCursor records a
	// finished poll (NotFound for no such store); PruneWebhooks forgets a
	// store's webhook deliveries received before a time.
	ImportStores(ctx context.Context, afterID string, limit int) ([]domain.ImportStore, error)
	SaveImportCursor(ctx context.Context, id, cursor string) (domain.Store, error)
	PruneWebhooks(ctx context.Context, storeID string, before time.Time) (int64, error)
	// ReserveStock runs an OrderPlaced's transaction: the inbox claim, the
	// order's pending reservation, and the decrement of every tracked item
	// or none; decide (called only when this message starts the order's
	// reservation) turns what was found into the outcome. seen means the
	// message or the order was handled before, and nothing was reserved.
	// A new message for an order decided before queues r.Again's events in
	// the claim's transaction; a redelivered message queues nothing.
	ReserveStock(ctx context.Context, r Reservation, decide func(ReservationState) (Verdict, error)) (seen bool, err error)
}

// Reservation is one OrderPlaced to reserve stock for.
type Reservation struct {
	Claim         InboxClaim
	OrderID       string
	ReservationID string
	// Items are merged (one per variant); none when the order is rejected
	// before the lookup.
	Items []domain.OrderItem
	// Again, when set, announces an earlier decision for the order again
	// (a new message for an order whose outcome may have been lost).
	Again func(Decision) []outbox.Event
}

// Decision is how the catalog handled an order earlier.
type Decision struct {
	// Status is a domain.Reservation* status.
	Status        string
	ReservationID string
	// Rejection is set when Status is rejected.
	Rejection domain.Rejection
}

// ReservationState is what the store found and took, before the verdict.
type ReservationState struct {
	// Variants are the items' variants that exist, by id.
	Variants map[string]StockVariant
	// Short is the first tracked item short of stock; when set, nothing
	// stays reserved unless the verdict keeps it (it must reject).
	Short string
	// Moved are the products whose tracked stock the reservation took
	// (their projection shows stock_available, so each is announced).
	Moved []string
}

// Verdict is a reservation's outcome: rejected (the store undoes what it
// took) or reserved, and the events to publish with it.
type Verdict struct {
	Rejection *domain.Rejection
	Events    []outbox.Event
	// Changed products get a new version, announced by Announce(id, version).
	Changed  []string
	Announce func(productID string, version int64) outbox.Event
}

// Tx is one PostgreSQL transaction.
type Tx interface {
	Claim(ctx context.Context, consumer, messageID string) (bool, error)
	Emit(ctx context.Context, ev outbox.Event) error

	InsertProduct(ctx context.Context, p *domain.Product) error
	LockProduct(ctx context.Context, id string) (domain.Product, error)
	SaveProduct(ctx context.Context, p *domain.Product) error
	BumpVersions(ctx context.Context, productIDs []string) (map[string]int64, error)

	// Release gives a reserved order's stock back (once), reporting the
	// products whose tracked stock it gave back; false if nothing was
	// reserved. A release of an order never seen records it as cancelled.
	Release(ctx context.Context, orderID string) (released bool, restocked []string, err error)

	InsertDesign(ctx context.Context, d domain.Design) error
	LockDesign(ctx context.Context, id string) (domain.Design, error)
	// UpdateDesign writes d's status, size, keys and report and sets
	// d.UpdatedAt to the time it recorded.
	UpdateDesign(ctx context.Context, d *domain.Design) error
	ActivePlacements(ctx context.Context) ([]domain.Placement, error)

	InsertStore(ctx context.Context, s domain.Store, sealed []byte) error
	LockSealedStore(ctx context.Context, id string) (domain.Store, []byte, error)
	LockStoreByShop(ctx context.Context, ownerID string, m domain.Marketplace, shopID string) (domain.Store, error)
	SaveStoreCredentials(ctx context.Context, id string, sealed []byte) error
	MarkStoreNeedsReconnection(ctx context.Context, id, reason string) error
	// SaveStoreSettings replaces how a store's imports are paid and its
	// Amazon region.
	SaveStoreSettings(ctx context.Context, id, paymentMethod, region, orderImport string) error
	// InsertWebhook records a store's webhook delivery once per webhook id:
	// false when it was recorded before.
	InsertWebhook(ctx context.Context, storeID, webhookID, topic string, receivedAt time.Time) (bool, error)

	// Listing writes answer AlreadyExists when the store has a listing for
	// the same external variant id or SKU (or product named alone), and
	// NotFound for a listing not of the store.
	InsertListing(ctx context.Context, l domain.Listing) error
	UpdateListing(ctx context.Context, l domain.Listing) (domain.Listing, error)
	DeleteListing(ctx context.Context, storeID, id string) error
}

// StockVariant is what a reservation needs to know about a variant.
type StockVariant struct {
	ID            string
	ProductID     string
	Active        bool
	ProductActive bool
	Tracked       bool
	Available     int64
}

// ResolvedVariant is a variant with its product's placements.
type ResolvedVariant struct {
	Variant         domain.Variant
	ProductTitle    string
	ProductActive   bool
	ProductImageKey string
	Placements      []domain.Placement
}

// Clock is time.Now, replaceable in tests.
type Clock func() time.Time

func newID() string {
	u, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return u.String()
}
