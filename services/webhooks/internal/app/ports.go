package app

import (
	"context"
	"net/http"
	"time"

	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
	"github.com/printfleet/printfleet/services/webhooks/internal/egress"
)

// Store is the service's persistence (internal/store/postgres).
type Store interface {
	// CreateEndpoint inserts e unless its owner already has max endpoints
	// (errs.FailedPrecondition).
	CreateEndpoint(ctx context.Context, e domain.Endpoint, max int) error
	// GetEndpoint returns an endpoint or errs.NotFound.
	GetEndpoint(ctx context.Context, id string) (domain.Endpoint, error)
	ListEndpoints(ctx context.Context, q EndpointQuery) ([]domain.Endpoint, error)
	// UpdateEndpoint changes an endpoint under a row lock through fn.
	UpdateEndpoint(ctx context.Context, id string, fn func(*domain.Endpoint) error) (domain.Endpoint, error)
	// DeleteEndpoint deletes an endpoint with its deliveries and returns how
	// many active endpoints its owner has left.
	DeleteEndpoint(ctx context.Context, id string) (int, error)
	// ActiveEndpoints returns an owner's active endpoints (one read).
	ActiveEndpoints(ctx context.Context, ownerID string) ([]domain.Endpoint, error)
	// RecordEvent claims messageID for consumer in the inbox and, the first
	// time only, stores ev with one pending delivery per endpoint still
	// active, due at now, in one transaction. It reports whether it was the
	// first time.
	RecordEvent(ctx context.Context, consumer string, ev domain.Event, endpointIDs []string, now time.Time) (bool, error)
	// Claim leases due deliveries (FOR UPDATE SKIP LOCKED) and counts their
	// attempt.
	Claim(ctx context.Context, r ClaimRequest) ([]Claimed, error)
	// RecordAttempt records an attempt's outcome unless a later claim took
	// the delivery; it reports whether the endpoint was disabled by it.
	RecordAttempt(ctx context.Context, a Attempt) (bool, error)
	ListDeliveries(ctx context.Context, q DeliveryQuery) ([]domain.Delivery, error)
	// ListOrderDeliveries lists the deliveries of the events about one
	// order, to any endpoint, newest first.
	ListOrderDeliveries(ctx context.Context, q OrderDeliveryQuery) ([]domain.Delivery, error)
	// Redeliver makes an endpoint's delivery pending and due at now.
	Redeliver(ctx context.Context, endpointID, deliveryID string, now time.Time) (domain.Delivery, error)
	Stats(ctx context.Context, now time.Time) (Stats, error)
	// Purge deletes deliveries and events created before cutoff.
	Purge(ctx context.Context, cutoff time.Time) (int64, error)
}

// EndpointQuery selects endpoints, newest first, after a position.
type EndpointQuery struct {
	OwnerID      string // empty: every owner's
	AfterCreated time.Time
	AfterID      string
	Limit        int
}

// DeliveryQuery selects an endpoint's deliveries, newest first.
type DeliveryQuery struct {
	EndpointID   string
	Status       domain.DeliveryStatus // empty: all
	EventID      string                // empty: all
	AfterCreated time.Time
	AfterID      string
	Limit        int
}

// OrderDeliveryQuery selects the deliveries about one order, newest
// first, after a position.
type OrderDeliveryQuery struct {
	OrderID      string
	AfterCreated time.Time
	AfterID      string
	Limit        int
}

// ClaimRequest asks for at most Limit due deliveries, at most
// PerEndpoint-Busy[id] of each endpoint.
type ClaimRequest struct {
	Now         time.Time
	Lease       time.Duration
	Limit       int
	PerEndpoint int
	Busy        map[string]int
}

// Claimed is a leased delivery with what sending it takes.
type Claimed struct {
	DeliveryID          string
	EndpointID          string
	EventID             string
	EventType           string
	Attempt             int
	URL                 string
	SecretSealed        []byte
	PrevSecretSealed    []byte
	PrevSecretExpiresAt time.Time
	Body                []byte
}

// Attempt is the outcome of one attempt, as recorded.
type Attempt struct {
	DeliveryID     string
	EndpointID     string
	Attempt        int
	At             time.Time
	Status         domain.DeliveryStatus
	NextAttemptAt  time.Time // when Status is pending
	ResponseStatus int
	ResponseBody   string
	Error          string
	Latency        time.Duration
	// Succeeded clears the endpoint's failing_since; otherwise it is set
	// if unset.
	Succeeded bool
	// Disable disables the endpoint with this reason (410).
	Disable string
	// DisableFailingBefore disables the endpoint when its failing_since is
	// older.
	DisableFailingBefore time.Time
}

// Stats feed the gauges.
type Stats struct {
	Pending       int64
	OldestDueAt   time.Time // zero: nothing due
	EndpointCount map[domain.EndpointStatus]int64
}

// Orders marks the users whose order events orders announces.
type Orders interface {
	SetWebhookSubscriber(ctx context.Context, userID string, subscribed bool) error
}

// Poster sends one attempt (egress.Client).
type Poster interface {
	Post(ctx context.Context, url string, h http.Header, body []byte) egress.Result
}

// URLChecker validates a subscription URL (egress.Client); its error
// message is safe to show.
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// Sealer seals and opens signing secrets (platform/secret.Box).
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
}
