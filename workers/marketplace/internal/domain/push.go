package domain

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ErrInvalidRequest means a push request can never be handled as it stands
// (a producer bug, not something a retry fixes).
var ErrInvalidRequest = errors.New("invalid push request")

// PushRequest asks for one shipment's tracking to be pushed to the store the
// order came from: the content of one OrderShipped delivery.
type PushRequest struct {
	// StoreID is the order's marketplace store; empty when the order did not
	// come from a marketplace.
	StoreID string
	// UserID is the order's user: the store must be theirs.
	UserID   string
	Shipment Shipment
	// MessageID and DeliveryAttempt name the delivery, for the receipt.
	MessageID       string
	DeliveryAttempt int
}

// safeID is what an id must look like to become part of an object key.
var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// Validate checks that the ids that name the receipt (and the shipment's lock)
// are safe to use as parts of an object key. A failure wraps
// ErrInvalidRequest.
func (r PushRequest) Validate() error {
	for _, f := range []struct{ name, v string }{{"store_id", r.StoreID}, {"shipment_id", r.Shipment.ShipmentID}, {"order_id", r.Shipment.OrderID}} {
		if !safeID.MatchString(f.v) {
			return fmt.Errorf("%w: %s %q is not a valid id", ErrInvalidRequest, f.name, f.v)
		}
	}
	return nil
}

// ReceiptKey is where this request's receipt lives.
func (r PushRequest) ReceiptKey() string { return ReceiptKey(r.StoreID, r.Shipment.ShipmentID) }

// Outcome is how a push ended (the metrics' label values).
type Outcome string

// Outcomes.
const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeDuplicate Outcome = "duplicate" // succeeded: the marketplace already had it
	OutcomeFailed    Outcome = "failed_permanent"
	OutcomeRetry     Outcome = "retry" // given back to the queue
)

// UnknownMarketplace names the marketplace of a push whose store could not be
// looked up.
const UnknownMarketplace = "unknown"

// Push is what one push did: the store it went to, what the marketplace
// answered and the error it ended with. Everything that leaves the process
// (receipt, report, error text) is derived from it with Redact applied.
type Push struct {
	Request     PushRequest
	Marketplace string // UnknownMarketplace until the store is known
	ShopID      string
	Result      Result
	Err         error
	Started     time.Time
	Finished    time.Time
	Redact      Redactor
}

// NewPush starts the record of r's push.
func NewPush(r PushRequest, started time.Time) *Push {
	return &Push{Request: r, Marketplace: UnknownMarketplace, Started: started}
}

// Outcome classifies the push: a store that can never be pushed for or a
// permanent marketplace error is final, any other error is worth a retry.
func (p *Push) Outcome() Outcome {
	switch {
	case p.Err == nil && p.Result.Duplicate:
		return OutcomeDuplicate
	case p.Err == nil:
		return OutcomeSucceeded
	case errors.Is(p.Err, ErrStoreUnusable) || IsPermanent(p.Err):
		return OutcomeFailed
	}
	return OutcomeRetry
}

// HTTPStatus is the status of the marketplace's last answer, 0 without one.
func (p *Push) HTTPStatus() int {
	if p.Result.Status != 0 {
		return p.Result.Status
	}
	var e *Error
	if errors.As(p.Err, &e) {
		return e.Status
	}
	return 0
}

const maxMessage = 500

// Message is the outcome in a sentence for the order timeline.
func (p *Push) Message() string {
	var m string
	switch {
	case p.Err != nil:
		m = p.Redact.String(p.Err.Error())
	case p.Result.Duplicate:
		m = "already at the marketplace; nothing new pushed"
	default:
		m = "tracking pushed"
	}
	if p.Err == nil && p.Result.Reference != "" {
		m += " (reference " + p.Result.Reference + ")"
	}
	return clip(m, maxMessage)
}

// Report is how a push ended, as the fleet is told (MarketplacePushed).
type Report struct {
	OrderID, ShipmentID, StoreID, Marketplace string
	// Failed: the push failed permanently; otherwise it succeeded (the
	// marketplace may already have had it).
	Failed     bool
	Attempts   int
	HTTPStatus int
	Message    string
	ReceiptKey string
}

// Report is the push's final outcome with the key its receipt was stored at.
func (p *Push) Report(receiptKey string) Report {
	return Report{
		OrderID: p.Request.Shipment.OrderID, ShipmentID: p.Request.Shipment.ShipmentID, StoreID: p.Request.StoreID,
		Marketplace: p.Marketplace, Failed: p.Outcome() == OutcomeFailed, Attempts: p.Result.Attempts,
		HTTPStatus: p.HTTPStatus(), Message: p.Message(), ReceiptKey: receiptKey,
	}
}

// ReceiptJSON is the push's receipt, indented, with every known secret
// redacted.
func (p *Push) ReceiptJSON() ([]byte, error) {
	s := p.Request.Shipment
	outcome := "SUCCEEDED"
	if p.Outcome() == OutcomeFailed {
		outcome = "FAILED_PERMANENT"
	}
	r := Receipt{
		Version: 1, Outcome: outcome,
		OrderID: s.OrderID, ShipmentID: s.ShipmentID, StoreID: p.Request.StoreID,
		Marketplace: p.Marketplace, ShopID: p.ShopID, ExternalOrderID: s.ExternalOrderID,
		Carrier: s.Carrier, TrackingNumber: s.TrackingNumber,
		MessageID: p.Request.MessageID, DeliveryAttempt: p.Request.DeliveryAttempt,
		Duplicate: p.Result.Duplicate, Reference: p.Result.Reference, HTTPStatus: p.HTTPStatus(), Attempts: p.Result.Attempts,
		StartedAt: p.Started.UTC(), FinishedAt: p.Finished.UTC(), DurationMS: millis(p.Finished.Sub(p.Started)),
		Request: p.Result.Request, Response: p.Result.Response, Calls: toReceiptCalls(p.Result.Calls),
	}
	if p.Err != nil {
		r.Error = &ReceiptError{Reason: string(ReasonOf(p.Err)), Message: p.Message()}
		var e *Error
		if errors.As(p.Err, &e) {
			r.Error.Code = e.Code
		}
	}
	b, err := jsonIndent(r)
	if err != nil {
		return nil, err
	}
	return p.Redact.Bytes(b), nil
}
