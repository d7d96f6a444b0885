// Package app is the marketplace worker's use case: push a shipment's
// tracking to the marketplace store its order came from, keep a receipt of
// the push and announce how it ended. It owns its ports (Stores,
// Marketplaces, Tokens, Receipts, Announcer) and knows neither protobuf nor
// S3.
//
// The worker has no database. Exactly once in effect comes from three things:
// the marketplace adapters make a resend of a shipment a no-op at the
// marketplace (Amazon packageReferenceId derived from the shipment id,
// Shopify's closed fulfillment order, Etsy reading the receipt's tracking
// first); pushes of the same shipment are serialised inside the process; and
// the receipt key and the announcement are deterministic, so a redelivery
// overwrites the same receipt and repeats the same announcement, which the
// orders worker's inbox drops. The outcome is announced only after the receipt
// is stored, and a push returns (its delivery is acked) only after the
// announcement was confirmed.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Options bound a push.
type Options struct {
	// PushTimeout bounds one push: store lookup, the push with its budget
	// waits and retries, the receipt and the announcement.
	PushTimeout time.Duration
	// StorageTimeout bounds the receipt write.
	StorageTimeout time.Duration
}

// Deps are the use case's adapters.
type Deps struct {
	Stores       Stores
	Marketplaces Marketplaces
	// Tokens is optional: without it only the store's own credentials are
	// redacted.
	Tokens    Tokens
	Receipts  Receipts
	Announcer Announcer
	// Locks is optional: without it pushes of a shipment are serialised in
	// this process only.
	Locks Locker
	// Reconnections is optional: without it a refused store is only
	// reported as failed.
	Reconnections Reconnections
	Log           *slog.Logger
}

// Service pushes shipments.
type Service struct {
	opt   Options
	d     Deps
	log   *slog.Logger
	locks keyLocks
}

// New returns the use case over d.
func New(opt Options, d Deps) (*Service, error) {
	if d.Stores == nil || d.Marketplaces == nil || d.Receipts == nil || d.Announcer == nil {
		return nil, errors.New("marketplace app: Stores, Marketplaces, Receipts and Announcer are required")
	}
	if opt.PushTimeout <= 0 || opt.StorageTimeout <= 0 {
		return nil, fmt.Errorf("marketplace app: push timeout %v and storage timeout %v must be positive", opt.PushTimeout, opt.StorageTimeout)
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Service{opt: opt, d: d, log: d.Log}, nil
}

// Pending reports how many shipments have a push running or waiting for its
// turn; zero when the service is idle.
func (s *Service) Pending() int { return s.locks.held() }

// StatusChange is an order's status transition, as far as the worker cares.
type StatusChange struct {
	OrderID, StoreID string
	Cancelled        bool
}

// StatusChanged pushes nothing. Tracking travels with the shipment (the
// SHIPPED transition's own event, which carries carrier and number); the
// other transitions have no counterpart the worker maintains: Etsy has no API
// to cancel a receipt, Amazon takes cancellations only as feed documents, and
// cancelling a Shopify order (refunds, restock) is the merchant's call. A
// cancelled marketplace order is logged so an operator can see it.
func (s *Service) StatusChanged(ctx context.Context, c StatusChange) error {
	action := "ignored"
	if c.StoreID == "" {
		action = "no_store"
	} else if c.Cancelled {
		s.log.InfoContext(ctx, "marketplace order cancelled; the marketplace is not told (no adapter pushes cancellations)",
			"order_id", c.OrderID, "store_id", c.StoreID)
	}
	eventsTotal.WithLabelValues("order_status_changed", action).Inc()
	return nil
}

// PushShipment pushes one shipment's tracking to the store it came from and
// returns nil once the push is final (succeeded, or failed for good) and its
// receipt and announcement are durable. Any error means "try again later",
// except one wrapping domain.ErrInvalidRequest, which never gets better.
// A request without a store is not a marketplace order: nothing to do.
func (s *Service) PushShipment(ctx context.Context, r domain.PushRequest) error {
	if r.StoreID == "" {
		eventsTotal.WithLabelValues("order_shipped", "no_store").Inc()
		return nil
	}
	if err := r.Validate(); err != nil {
		return err
	}
	eventsTotal.WithLabelValues("order_shipped", "push").Inc()
	pushesInFlight.Inc()
	defer pushesInFlight.Dec()

	ctx, cancel := context.WithTimeout(ctx, s.opt.PushTimeout)
	defer cancel()
	ctx, span := otel.Tracer("github.com/printfleet/printfleet/workers/marketplace").Start(ctx, "marketplace push")
	defer span.End()

	sh := r.Shipment
	release, err := s.locks.lock(ctx, r.StoreID+"/"+sh.ShipmentID)
	if err != nil {
		return fmt.Errorf("wait for another delivery of shipment %s: %w", sh.ShipmentID, err)
	}
	defer release()
	if s.d.Locks != nil {
		release, err := s.d.Locks.Lock(ctx, r.StoreID+"/"+sh.ShipmentID)
		if err != nil {
			return fmt.Errorf("wait for another replica's delivery of shipment %s: %w", sh.ShipmentID, err)
		}
		defer release()
	}

	p := s.push(ctx, r)
	result := p.Outcome()
	span.SetAttributes(attribute.String("marketplace", p.Marketplace), attribute.String("outcome", string(result)),
		attribute.Int("attempts", p.Result.Attempts), attribute.Int("http_status", p.HTTPStatus()))
	log := s.log.With("order_id", sh.OrderID, "shipment_id", sh.ShipmentID, "store_id", r.StoreID,
		"marketplace", p.Marketplace, "message_id", r.MessageID, "delivery_attempt", r.DeliveryAttempt)
	pushDuration.WithLabelValues(p.Marketplace, string(result)).Observe(p.Finished.Sub(p.Started).Seconds())
	// pushes_total counts how each delivery ended: a push whose receipt or
	// announcement fails is given back to the queue too.
	outcome := domain.OutcomeRetry
	defer func() { pushesTotal.WithLabelValues(p.Marketplace, string(outcome)).Inc() }()

	if result == domain.OutcomeRetry {
		switch domain.ReasonOf(p.Err) {
		case domain.ReasonBudget:
			budgetExhausted.WithLabelValues(p.Marketplace, "budget").Inc()
		case domain.ReasonThrottled:
			budgetExhausted.WithLabelValues(p.Marketplace, "throttled").Inc()
		}
		span.SetStatus(codes.Error, "retry")
		log.WarnContext(ctx, "marketplace push failed; will retry", "err", p.Redact.String(p.Err.Error()),
			"attempts", p.Result.Attempts, "http_status", p.HTTPStatus())
		// No receipt: the key holds final outcomes only, and a resend may
		// already have written one.
		return &redactedError{msg: "push shipment " + sh.ShipmentID + ": " + p.Redact.String(p.Err.Error()), err: p.Err}
	}

	if s.d.Reconnections != nil && domain.ReasonOf(p.Err) == domain.ReasonAuth {
		// Before the receipt and the announcement: if the mark does not
		// take, the delivery comes back and the push is refused again.
		if err := s.d.Reconnections.MarkNeedsReconnection(ctx, r.StoreID, clip(strings.TrimSpace(p.Message()), 400)); err != nil {
			span.SetStatus(codes.Error, "mark store")
			return fmt.Errorf("mark store %s as needing reconnection: %w", r.StoreID, err)
		}
		log.WarnContext(ctx, "marketplace refused the store's credentials; store marked as needing reconnection")
	}

	key := r.ReceiptKey()
	body, err := p.ReceiptJSON()
	if err != nil {
		return fmt.Errorf("encode receipt: %w", err)
	}
	sctx, scancel := context.WithTimeout(ctx, s.opt.StorageTimeout)
	err = s.d.Receipts.PutReceipt(sctx, key, body)
	scancel()
	if err != nil {
		span.SetStatus(codes.Error, "receipt")
		return fmt.Errorf("write receipt %s: %w", key, err)
	}
	if err := s.d.Announcer.Announce(ctx, p.Report(key)); err != nil {
		span.SetStatus(codes.Error, "publish")
		return err
	}
	outcome = result
	if result == domain.OutcomeFailed {
		log.WarnContext(ctx, "marketplace push failed permanently", "err", p.Message(), "http_status", p.HTTPStatus(), "receipt_key", key)
	} else {
		log.InfoContext(ctx, "marketplace push done", "outcome", string(result), "attempts", p.Result.Attempts,
			"http_status", p.HTTPStatus(), "receipt_key", key)
	}
	return nil
}

// push looks the store up and pushes the shipment; it never returns an error
// of its own: the record says what happened.
func (s *Service) push(ctx context.Context, r domain.PushRequest) *domain.Push {
	p := domain.NewPush(r, time.Now())
	defer func() { p.Finished = time.Now() }()
	store, err := s.d.Stores.Store(ctx, r.StoreID, r.UserID)
	if err != nil {
		p.Err = err
		return p
	}
	p.Marketplace, p.ShopID = string(store.Marketplace), store.ShopID
	p.Redact = domain.NewRedactor(store.Credentials.APIKey, store.Credentials.AccessToken, store.Credentials.RefreshToken,
		store.Credentials.ClientSecret)
	p.Result, p.Err = s.d.Marketplaces.PushShipment(ctx, store, r.Shipment)
	if s.d.Tokens != nil {
		p.Redact = append(p.Redact, domain.NewRedactor(s.d.Tokens.Secrets(store)...)...)
	}
	return p
}

// redactedError prints without secrets but still unwraps to the marketplace's
// classified error.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
