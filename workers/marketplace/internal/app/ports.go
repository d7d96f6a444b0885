package app

import (
	"context"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Stores looks a store up with its decrypted credentials.
type Stores interface {
	// Store returns ownerID's store storeID, its endpoints unset. An error
	// wrapping domain.ErrStoreUnusable is permanent; others are retried.
	Store(ctx context.Context, storeID, ownerID string) (domain.Store, error)
}

// Marketplaces pushes a shipment through the adapter of the store's
// marketplace (chosen by its name). A push of the same shipment again is safe:
// it leaves one effective push at the marketplace. Errors are classified as
// *domain.Error (or wrap domain.ErrStoreUnusable).
type Marketplaces interface {
	PushShipment(ctx context.Context, store domain.Store, s domain.Shipment) (domain.Result, error)
}

// Tokens are the adapters' OAuth tokens: tokens refreshed during a push are
// kept out of its receipt and report too.
type Tokens interface {
	// Secrets returns the store's freshest known tokens.
	Secrets(store domain.Store) []string
}

// Receipts stores receipts.
type Receipts interface {
	// PutReceipt returns once the receipt is durably stored.
	PutReceipt(ctx context.Context, key string, body []byte) error
}

// Announcer tells the fleet how a push ended.
type Announcer interface {
	// Announce returns once the broker has confirmed the report. Announcing
	// the same push again must be recognisable as the same announcement.
	Announce(ctx context.Context, r domain.Report) error
}

// Locker serialises work on one key across every replica of the worker
// (Redis): two replicas handling deliveries of the same shipment at once would
// otherwise both read "not pushed yet" from a marketplace and both push.
type Locker interface {
	// Lock waits for key's lock until ctx ends and returns its release.
	Lock(ctx context.Context, key string) (release func(), err error)
}

// Reconnections records that a marketplace refused a store's credentials,
// so its seller is asked to connect it again.
type Reconnections interface {
	MarkNeedsReconnection(ctx context.Context, storeID, reason string) error
}

// ---------------------------------------------------------------- imports

// ImportStore is a store the importer polls, without its credentials.
type ImportStore struct {
	ID          string
	Marketplace domain.Marketplace
	// Cursor is the adapter's opaque cursor of the last poll; empty before
	// the first.
	Cursor string
	// LastImportAt is when a poll of the store last finished (any
	// replica's); zero before the first. CreatedAt stands in for it then.
	LastImportAt, CreatedAt time.Time
}

// ImportStores are the catalog's side of importing: which stores to poll,
// how far each was polled, and a store's owner and credentials.
type ImportStores interface {
	// ListImportStores returns every store to poll (those needing
	// reconnection are left out).
	ListImportStores(ctx context.Context) ([]ImportStore, error)
	// SaveImportCursor records a finished poll of the store.
	SaveImportCursor(ctx context.Context, storeID, cursor string) error
	// StoreByID returns the store with its owner and decrypted credentials,
	// its endpoints unset. An error wrapping domain.ErrStoreUnusable is
	// permanent; others are retried.
	StoreByID(ctx context.Context, storeID string) (domain.Store, error)
}

// Importers read orders from the marketplaces: a page of a store's orders
// through its adapter, or an order out of a webhook's body. Errors are
// classified as *domain.Error (or wrap domain.ErrStoreUnusable).
type Importers interface {
	PollOrders(ctx context.Context, store domain.Store, cursor string, since time.Time) (domain.OrderPage, error)
	ParseOrderWebhook(m domain.Marketplace, body []byte) (domain.ExternalOrder, error)
}

// Orders imports marketplace orders into printfleet. Importing the same
// order again is safe: the orders service keeps one order per marketplace
// order.
type Orders interface {
	// ImportOrder imports o for store's owner. A failure that may pass
	// wraps domain.ErrRetryable; an order refused as invalid wraps
	// domain.ErrOrderRejected.
	ImportOrder(ctx context.Context, store domain.Store, o domain.ExternalOrder) (domain.ImportOutcome, error)
}

// TryLocker takes a lock across every replica without waiting: one replica
// polls a store at a time.
type TryLocker interface {
	// TryLock returns ok=false when another holder has key's lock.
	TryLock(ctx context.Context, key string) (release func(), ok bool, err error)
}
