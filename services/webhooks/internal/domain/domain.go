// Package domain holds the webhooks service's entities and rules: a
// subscription (endpoint) and what it wants, a delivery and its retry
// schedule. No proto, no SQL.
package domain

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
)

// MaxEndpointsPerOwner bounds one owner's subscriptions.
const MaxEndpointsPerOwner = 20

// PreviousSecretValidity is how long a rotated-out secret still signs.
const PreviousSecretValidity = 24 * time.Hour

// APIVersion is the payload's api_version.
const APIVersion = "2026-12-01"

// EventTypes are the webhook event types; "*" subscribes to all.
var EventTypes = []string{
	"order.created", "order.on_hold", "order.paid", "order.payment_failed",
	"order.rejected", "order.in_production", "order.shipped", "order.delivered",
	"order.cancelled", "order.refunded", "design.ready", "design.rejected",
}

// AllTypes subscribes to every event type.
const AllTypes = "*"

// EndpointStatus says whether an endpoint receives deliveries.
type EndpointStatus string

// Endpoint statuses.
const (
	EndpointActive   EndpointStatus = "active"
	EndpointDisabled EndpointStatus = "disabled"
)

// Reasons an endpoint is disabled.
const (
	ReasonGone    = "endpoint answered 410 Gone"
	ReasonFailing = "every delivery failed for longer than the retry window"
)

// Endpoint is one subscription. Secrets are kept sealed; the store never
// sees them in clear.
type Endpoint struct {
	ID                   string
	OwnerID              string
	URL                  string
	EventTypes           []string
	Description          string
	SecretSealed         []byte
	PrevSecretSealed     []byte
	PrevSecretExpiresAt  time.Time // zero: none
	Status               EndpointStatus
	DisabledReason       string
	FailingSince         time.Time // zero: healthy
	OldestPendingAt      time.Time // zero: nothing pending (read only)
	CreatedAt, UpdatedAt time.Time
}

// ValidateEventTypes checks a subscription's event types.
func ValidateEventTypes(types []string) error {
	if len(types) == 0 {
		return errs.Field("event_types", "at least one event type is required")
	}
	for _, t := range types {
		if t != AllTypes && !slices.Contains(EventTypes, t) {
			return errs.Field("event_types", "unknown event type "+t)
		}
	}
	return nil
}

// Wants reports whether e receives events of type t.
func (e Endpoint) Wants(t string) bool {
	return e.Status == EndpointActive && (slices.Contains(e.EventTypes, AllTypes) || slices.Contains(e.EventTypes, t))
}

// Event is one notice to deliver: its id is the message id it came in with.
type Event struct {
	ID         string
	Type       string
	OwnerID    string
	OccurredAt time.Time
	Body       []byte
	// OrderID is the order an order notice is about ("" for other events).
	OrderID string
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliverySucceeded DeliveryStatus = "succeeded"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Delivery is one event sent (or to be sent) to one endpoint.
type Delivery struct {
	ID             string
	EndpointID     string
	EventID        string
	EventType      string
	Status         DeliveryStatus
	Attempts       int
	ResponseStatus int
	ResponseBody   string
	Error          string
	Latency        time.Duration
	NextAttemptAt  time.Time
	LastAttemptAt  time.Time
	DeliveredAt    time.Time
	CreatedAt      time.Time
}

// Outcome classifies one attempt's result.
type Outcome string

// Outcomes (also the deliveries_total metric's labels).
const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeRetry     Outcome = "retry"
	OutcomeFailed    Outcome = "failed"
	OutcomeDisabled  Outcome = "disabled"
)

// Classify maps an HTTP answer to what happens next: 2xx succeeded, 410
// disables the endpoint, anything else (3xx too, and no answer) is retried.
func Classify(status int) Outcome {
	switch {
	case status >= 200 && status < 300:
		return OutcomeSucceeded
	case status == 410:
		return OutcomeDisabled
	}
	return OutcomeRetry
}

// Schedule is the delay before each retry: Schedule[0] after the first
// attempt, and so on. Past its end a delivery fails.
type Schedule []time.Duration

// DefaultSchedule is about a day of retries.
var DefaultSchedule = Schedule{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour}

// Next returns when attempt number attempts+1 is due after attempt number
// attempts failed at now, with ±20% jitter, or false when the schedule is
// exhausted.
func (s Schedule) Next(attempts int, now time.Time) (time.Time, bool) {
	if attempts < 1 || attempts > len(s) {
		return time.Time{}, false
	}
	d := s[attempts-1]
	j := time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return now.Add(d + j), true
}
