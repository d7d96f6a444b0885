// Package worker is the marketplace worker's message side: it consumes
// OrderShipped, looks the order's store up in the catalog, pushes the tracking
// to the store's marketplace through the adapters, writes a receipt of the
// push to S3 and publishes MarketplacePushed.
//
// It has no database. Exactly once in effect comes from three things: the
// adapters make a resend of a shipment a no-op at the marketplace (Amazon
// packageReferenceId derived from the shipment id, Shopify's closed
// fulfillment order, Etsy reading the receipt's tracking first); deliveries
// of the same shipment are serialised inside the process; and the receipt key
// and the MarketplacePushed message id are deterministic, so a redelivery
// overwrites the same receipt and republishes the same event, which the
// orders worker's inbox drops. The event is published only after the receipt
// is stored, and the delivery acked only after the broker confirmed the event.
//
// OrderStatusChanged is consumed too, and acked without a push: tracking is
// carried by OrderShipped, and none of the marketplaces has a status the
// worker maintains (see HandleStatusChanged).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/adapters"
)

// Routing keys (= event types) consumed and published.
const (
	TypeOrderShipped       = "orders.order_shipped.v1"
	TypeOrderStatusChanged = "orders.order_status_changed.v1"
	TypeMarketplacePushed  = "marketplace.push_completed.v1"
)

// Stores looks a store up with its decrypted credentials.
type Stores interface {
	// Store returns the store, its endpoints unset. An error wrapping
	// ErrStoreUnusable is permanent; others are retried.
	Store(ctx context.Context, storeID, ownerID string) (adapters.Store, error)
}

// Receipts stores receipts.
type Receipts interface {
	// PutReceipt returns once the receipt is durably stored.
	PutReceipt(ctx context.Context, key string, body []byte) error
}

// Publisher publishes events with broker confirms.
type Publisher interface {
	Publish(ctx context.Context, msgs ...amqp.Message) error
}

// Deps are the worker's collaborators.
type Deps struct {
	Stores    Stores
	Pusher    adapters.Pusher
	Receipts  Receipts
	Publisher Publisher
	// Tokens, when set, is the adapters' token cache: refreshed tokens found
	// there are redacted from receipts too.
	Tokens *adapters.Tokens
	Log    *slog.Logger
}

// Worker handles the marketplace.push queue.
type Worker struct {
	opt       Options
	endpoints Endpoints
	d         Deps
	log       *slog.Logger
	locks     keyLocks

	// cut ends pushes still running DrainTimeout after a stop was asked.
	cut    context.Context
	cutNow context.CancelFunc
}

// New returns a Worker; Options' zero values take their defaults.
func New(opt Options, ep Endpoints, d Deps) (*Worker, error) {
	if err := ep.Validate(); err != nil {
		return nil, fmt.Errorf("marketplace endpoints: %w", err)
	}
	if d.Stores == nil || d.Pusher == nil || d.Receipts == nil || d.Publisher == nil {
		return nil, errors.New("worker: Stores, Pusher, Receipts and Publisher are required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	w := &Worker{opt: opt.withDefaults(), endpoints: ep, d: d, log: d.Log}
	w.cut, w.cutNow = context.WithCancel(context.Background())
	return w, nil
}

// NewRouter returns the three marketplace adapters behind one Router, sharing
// one token cache (refreshed tokens live only in memory: the catalog has no
// call to save them) and one set of rate budgets, per process.
func NewRouter(opt Options, log *slog.Logger) (adapters.Router, *adapters.Tokens) {
	opt = opt.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	tokens := adapters.NewTokens(func(s adapters.Store, _ adapters.Credentials) {
		tokenRefreshes.WithLabelValues(string(s.Marketplace), "ok").Inc()
		log.Info("marketplace token refreshed; kept in memory", "marketplace", string(s.Marketplace), "store_id", s.ID)
	})
	return newRouter(opt.adapterOptions(tokens, adapters.NewBudgets())), tokens
}

// Run consumes the queue on conn until ctx is cancelled, then stops taking
// deliveries, lets the pushes in flight finish (cutting those still running
// after DrainTimeout, whose deliveries are requeued) and returns.
func (w *Worker) Run(ctx context.Context, conn *amqp.Conn) error {
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(w.opt.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			w.cutNow()
		case <-w.cut.Done():
		}
	})
	defer stop()
	defer w.cutNow() // runs first: ends the drain timer
	return amqp.Consume(ctx, conn, amqp.ConsumerConfig{
		Queue:       w.opt.Queue,
		RoutingKeys: []string{TypeOrderShipped, TypeOrderStatusChanged},
		Prefetch:    w.opt.Concurrency,
		Concurrency: w.opt.Concurrency,
		Handler:     w.Handle,
	})
}

// Handle is the consumer's handler: nil acks, an error retries with backoff
// (then dead-letters), amqp.Permanent dead-letters at once.
func (w *Worker) Handle(ctx context.Context, d amqp.Delivery) error {
	switch d.Type {
	case TypeOrderShipped:
		return w.HandleOrderShipped(ctx, d)
	case TypeOrderStatusChanged:
		return w.HandleStatusChanged(ctx, d)
	}
	return amqp.Permanent(fmt.Errorf("unexpected message type %q", d.Type))
}

// HandleStatusChanged acks an OrderStatusChanged without pushing anything.
// Tracking travels with OrderShipped (the SHIPPED transition's own event,
// which carries carrier and number); the other transitions have no
// counterpart the worker maintains: Etsy has no API to cancel a receipt,
// Amazon takes cancellations only as feed documents, and cancelling a Shopify
// order (refunds, restock) is the merchant's call. A cancelled marketplace
// order is logged so an operator can see it.
func (w *Worker) HandleStatusChanged(ctx context.Context, d amqp.Delivery) error {
	var ev eventsv1.OrderStatusChanged
	if err := proto.Unmarshal(d.Body, &ev); err != nil {
		return amqp.Permanent(fmt.Errorf("decode %s %s: %w", d.Type, d.ID, err))
	}
	action := "ignored"
	if ev.GetStoreId() == "" {
		action = "no_store"
	} else if ev.GetToStatus() == ordersv1.OrderStatus_ORDER_STATUS_CANCELLED.String() {
		w.log.InfoContext(ctx, "marketplace order cancelled; the marketplace is not told (no adapter pushes cancellations)",
			"order_id", ev.GetOrderId(), "store_id", ev.GetStoreId())
	}
	eventsTotal.WithLabelValues("order_status_changed", action).Inc()
	return nil
}

// safeID is what an id must look like to become part of an object key.
var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// HandleOrderShipped pushes one shipment's tracking to the store it came from.
func (w *Worker) HandleOrderShipped(ctx context.Context, d amqp.Delivery) error {
	var ev eventsv1.OrderShipped
	if err := proto.Unmarshal(d.Body, &ev); err != nil {
		return amqp.Permanent(fmt.Errorf("decode %s %s: %w", d.Type, d.ID, err))
	}
	if ev.GetStoreId() == "" {
		eventsTotal.WithLabelValues("order_shipped", "no_store").Inc()
		return nil // not a marketplace order
	}
	for _, f := range []struct{ name, v string }{{"store_id", ev.GetStoreId()}, {"shipment_id", ev.GetShipmentId()}, {"order_id", ev.GetOrderId()}} {
		if !safeID.MatchString(f.v) {
			// A producer bug, not something a retry fixes: park it in the .dlq.
			return amqp.Permanent(fmt.Errorf("OrderShipped %s: %s %q is not a valid id", d.ID, f.name, f.v))
		}
	}
	eventsTotal.WithLabelValues("order_shipped", "push").Inc()
	pushesInFlight.Inc()
	defer pushesInFlight.Dec()

	ctx, cancel := context.WithTimeout(ctx, w.opt.PushTimeout)
	defer cancel()
	defer context.AfterFunc(w.cut, cancel)()
	ctx, span := otel.Tracer("github.com/printfleet/printfleet/workers/marketplace").Start(ctx, "marketplace push")
	defer span.End()

	release, err := w.locks.lock(ctx, ev.GetStoreId()+"/"+ev.GetShipmentId())
	if err != nil {
		return fmt.Errorf("wait for another delivery of shipment %s: %w", ev.GetShipmentId(), err)
	}
	defer release()

	p := w.push(ctx, &ev, d)
	span.SetAttributes(attribute.String("marketplace", p.marketplace), attribute.String("outcome", p.outcome),
		attribute.Int("attempts", p.res.Attempts), attribute.Int("http_status", p.httpStatus()))
	log := w.log.With("order_id", ev.GetOrderId(), "shipment_id", ev.GetShipmentId(), "store_id", ev.GetStoreId(),
		"marketplace", p.marketplace, "message_id", d.ID, "delivery_attempt", d.Attempt)
	pushDuration.WithLabelValues(p.marketplace, p.outcome).Observe(p.finished.Sub(p.started).Seconds())
	if p.pushed {
		observeCalls(p.marketplace, p.res)
	}
	// pushes_total counts how each delivery ended: a push whose receipt or
	// event fails is given back to the queue too.
	outcome := outcomeRetry
	defer func() { pushesTotal.WithLabelValues(p.marketplace, outcome).Inc() }()

	if p.outcome == outcomeRetry {
		switch adapters.ReasonOf(p.err) {
		case adapters.ReasonBudget:
			budgetExhausted.WithLabelValues(p.marketplace, "budget").Inc()
		case adapters.ReasonThrottled:
			budgetExhausted.WithLabelValues(p.marketplace, "throttled").Inc()
		}
		span.SetStatus(codes.Error, "retry")
		log.WarnContext(ctx, "marketplace push failed; will retry", "err", p.redact.String(p.err.Error()),
			"attempts", p.res.Attempts, "http_status", p.httpStatus())
		// No receipt: the key holds final outcomes only, and a resend may
		// already have written one.
		return &redactedError{msg: "push shipment " + ev.GetShipmentId() + ": " + p.redact.String(p.err.Error()), err: p.err}
	}

	key := ReceiptKey(ev.GetStoreId(), ev.GetShipmentId())
	body, err := p.receiptJSON()
	if err != nil {
		return fmt.Errorf("encode receipt: %w", err)
	}
	sctx, scancel := context.WithTimeout(ctx, w.opt.StorageTimeout)
	err = w.d.Receipts.PutReceipt(sctx, key, body)
	scancel()
	if err != nil {
		span.SetStatus(codes.Error, "receipt")
		return fmt.Errorf("write receipt %s: %w", key, err)
	}
	if err := w.publish(ctx, p.event(key)); err != nil {
		span.SetStatus(codes.Error, "publish")
		return err
	}
	outcome = p.outcome
	if p.outcome == outcomeFailed {
		log.WarnContext(ctx, "marketplace push failed permanently", "err", p.message(), "http_status", p.httpStatus(), "receipt_key", key)
	} else {
		log.InfoContext(ctx, "marketplace push done", "outcome", p.outcome, "attempts", p.res.Attempts,
			"http_status", p.httpStatus(), "receipt_key", key)
	}
	return nil
}

// pushNamespace scopes the worker's derived message ids.
var pushNamespace = uuid.MustParse("6f0b7a52-8c1e-4d0f-b4a9-3c2d1e0f9a81")

// publish sends MarketplacePushed. Its message id derives from the store,
// the shipment and the outcome, so every resend that ends the same way
// republishes the same id and the orders worker records it once.
func (w *Worker) publish(ctx context.Context, ev *eventsv1.MarketplacePushed) error {
	body, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", TypeMarketplacePushed, err)
	}
	id := uuid.NewSHA1(pushNamespace, []byte(ev.GetStoreId()+"/"+ev.GetShipmentId()+"/"+ev.GetOutcome().String())).String()
	if err := w.d.Publisher.Publish(ctx, amqp.Message{ID: id, Type: TypeMarketplacePushed, Body: body, Timestamp: time.Now()}); err != nil {
		return fmt.Errorf("publish %s: %w", TypeMarketplacePushed, err)
	}
	return nil
}

// redactedError prints without secrets but still unwraps to the adapters'
// classified error.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// pushRecord is what one push did.
type pushRecord struct {
	ev          *eventsv1.OrderShipped
	delivery    amqp.Delivery
	marketplace string
	shopID      string
	pushed      bool // the adapter was called
	res         adapters.Result
	err         error
	outcome     string
	started     time.Time
	finished    time.Time
	redact      redactor
}

// push looks the store up and pushes the shipment; it never returns an error
// of its own: the record says what happened.
func (w *Worker) push(ctx context.Context, ev *eventsv1.OrderShipped, d amqp.Delivery) *pushRecord {
	p := &pushRecord{ev: ev, delivery: d, marketplace: unknownMarketplace, started: time.Now()}
	defer func() {
		p.finished = time.Now()
		switch {
		case p.err == nil && p.res.Duplicate:
			p.outcome = outcomeDuplicate
		case p.err == nil:
			p.outcome = outcomeSucceeded
		case errors.Is(p.err, ErrStoreUnusable) || adapters.IsPermanent(p.err):
			p.outcome = outcomeFailed
		default:
			p.outcome = outcomeRetry
		}
	}()
	store, err := w.d.Stores.Store(ctx, ev.GetStoreId(), ev.GetUserId())
	if err != nil {
		p.err = err
		return p
	}
	p.marketplace, p.shopID = string(store.Marketplace), store.ShopID
	p.redact = newRedactor(store.Credentials.APIKey, store.Credentials.AccessToken, store.Credentials.RefreshToken,
		store.Credentials.ClientSecret)
	if store, err = w.endpoints.apply(store); err != nil {
		p.err = err
		return p
	}
	p.pushed = true
	p.res, p.err = w.d.Pusher.PushShipment(ctx, store, toShipment(ev))
	if w.d.Tokens != nil {
		cur := w.d.Tokens.Current(store)
		p.redact = append(p.redact, newRedactor(cur.Access, cur.Refresh)...)
	}
	return p
}

// toShipment maps the event to what the adapters push. The marketplace's own
// order id is the order's external_order_id. Items carry our item id as
// their external id: the events do not yet carry the marketplace's line ids
// (Amazon needs its orderItemId).
func toShipment(ev *eventsv1.OrderShipped) adapters.Shipment {
	s := adapters.Shipment{
		ShipmentID:      ev.GetShipmentId(),
		OrderID:         ev.GetOrderId(),
		ExternalOrderID: ev.GetExternalOrderId(),
		Carrier:         ev.GetCarrier(),
		TrackingNumber:  ev.GetTrackingNumber(),
		TrackingURL:     ev.GetTrackingUrl(),
	}
	if ts := ev.GetShippedAt(); ts != nil && ts.IsValid() {
		s.ShippedAt = ts.AsTime()
	}
	for _, it := range ev.GetItems() {
		// The marketplace's own line item id when the order was imported;
		// ours otherwise (marketplaces that need theirs then refuse the push
		// as a permanent validation error, recorded on the timeline).
		external := it.GetExternalItemId()
		if external == "" {
			external = it.GetItemId()
		}
		s.Items = append(s.Items, adapters.Item{ExternalID: external, SKU: it.GetSku(), Quantity: int(it.GetQuantity())})
	}
	return s
}

func (p *pushRecord) httpStatus() int {
	if p.res.Status != 0 {
		return p.res.Status
	}
	var e *adapters.Error
	if errors.As(p.err, &e) {
		return e.Status
	}
	return 0
}

const maxMessage = 500

// message is the outcome in a sentence for the order timeline.
func (p *pushRecord) message() string {
	var m string
	switch {
	case p.err != nil:
		m = p.redact.String(p.err.Error())
	case p.res.Duplicate:
		m = "already at the marketplace; nothing new pushed"
	default:
		m = "tracking pushed"
	}
	if p.err == nil && p.res.Reference != "" {
		m += " (reference " + p.res.Reference + ")"
	}
	return clip(m, maxMessage)
}

func (p *pushRecord) protoOutcome() eventsv1.PushOutcome {
	if p.outcome == outcomeFailed {
		return eventsv1.PushOutcome_PUSH_OUTCOME_FAILED_PERMANENT
	}
	return eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED
}

func (p *pushRecord) event(receiptKey string) *eventsv1.MarketplacePushed {
	return &eventsv1.MarketplacePushed{
		OrderId: p.ev.GetOrderId(), ShipmentId: p.ev.GetShipmentId(), StoreId: p.ev.GetStoreId(),
		Marketplace: p.marketplace, Outcome: p.protoOutcome(), Attempts: int32(p.res.Attempts),
		HttpStatus: int32(p.httpStatus()), Message: p.message(), ReceiptKey: receiptKey,
	}
}

func (p *pushRecord) receiptJSON() ([]byte, error) {
	r := Receipt{
		Version: 1, Outcome: p.protoOutcome().String()[len("PUSH_OUTCOME_"):],
		OrderID: p.ev.GetOrderId(), ShipmentID: p.ev.GetShipmentId(), StoreID: p.ev.GetStoreId(),
		Marketplace: p.marketplace, ShopID: p.shopID, ExternalOrderID: p.ev.GetExternalOrderId(),
		Carrier: p.ev.GetCarrier(), TrackingNumber: p.ev.GetTrackingNumber(),
		MessageID: p.delivery.ID, DeliveryAttempt: p.delivery.Attempt,
		Duplicate: p.res.Duplicate, Reference: p.res.Reference, HTTPStatus: p.httpStatus(), Attempts: p.res.Attempts,
		StartedAt: p.started.UTC(), FinishedAt: p.finished.UTC(), DurationMS: millis(p.finished.Sub(p.started)),
		Request: p.res.Request, Response: p.res.Response, Calls: toReceiptCalls(p.res.Calls),
	}
	if p.err != nil {
		r.Error = &ReceiptError{Reason: string(adapters.ReasonOf(p.err)), Message: p.message()}
		var e *adapters.Error
		if errors.As(p.err, &e) {
			r.Error.Code = e.Code
		}
	}
	b, err := jsonIndent(r)
	if err != nil {
		return nil, err
	}
	return p.redact.Bytes(b), nil
}
