package app

import (
	"context"

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
