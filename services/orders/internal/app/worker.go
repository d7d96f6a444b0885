package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/events"
)

// ChargeRequest charges an order once: IdempotencyKey is the order id.
type ChargeRequest struct {
	OrderID        string
	Amount         int64
	Currency       string
	IdempotencyKey string
}

// ChargeResult is a captured payment.
type ChargeResult struct{ PaymentID string }

// RefundRequest refunds a payment once per IdempotencyKey.
type RefundRequest struct {
	OrderID        string
	PaymentID      string
	Amount         int64
	IdempotencyKey string
}

// RefundResult is a refund.
type RefundResult struct{ RefundID string }

// PaymentError is a payment the provider refused for good. Declined means
// the customer's payment failed (the order moves to PAYMENT_FAILED);
// otherwise the request itself was refused (a bug or a configuration error),
// which is retried and then dead-lettered rather than blamed on the customer.
type PaymentError struct {
	Declined bool
	Code     string
	Message  string
}

func (e *PaymentError) Error() string {
	if e.Declined {
		return fmt.Sprintf("payment declined (%s): %s", e.Code, e.Message)
	}
	return fmt.Sprintf("payment refused (%s): %s", e.Code, e.Message)
}

// Payments charges and refunds through the payment provider. Transient
// failures are retried inside the implementation (the one retry layer);
// an error that is not a *PaymentError means it gave up for now.
type Payments interface {
	Charge(ctx context.Context, r ChargeRequest) (ChargeResult, error)
	Refund(ctx context.Context, r RefundRequest) (RefundResult, error)
}

// Worker drives orders from the events of the catalog, the image worker and
// the marketplace worker.
type Worker struct {
	store    Store
	cache    Cache
	payments Payments
	log      *slog.Logger
	now      Clock
	newID    IDs
	// inbox is the consumer name of the worker's inbox claims.
	inbox string
}

// WorkerDeps are a Worker's collaborators.
type WorkerDeps struct {
	Store    Store
	Cache    Cache
	Payments Payments
	// Inbox is the consumer name the worker's inbox claims are recorded
	// under: the name of the queue it consumes (the wiring passes
	// eventsv1.QueueOrdersWorker; app knows no proto). Required.
	Inbox string
	Log   *slog.Logger
	Now   Clock
	NewID IDs
}

// NewWorker wires a Worker. It panics without d.Inbox: claims under an
// empty name would mix with every other consumer's.
func NewWorker(d WorkerDeps) *Worker {
	if d.Inbox == "" {
		panic("app.NewWorker: WorkerDeps.Inbox is required")
	}
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
	return &Worker{
		store: d.Store, cache: d.Cache, payments: d.Payments, log: d.Log, now: d.Now, newID: d.NewID,
		inbox: d.Inbox,
	}
}

func (w *Worker) update(ctx context.Context, id, consumer, msgID string, fn func(o *domain.Order) (Change, error)) (*domain.Order, error) {
	return updateAndInvalidate(ctx, w.store, w.cache, id, UpdateOptions{Inbox: &InboxClaim{Consumer: consumer, MessageID: msgID}}, fn)
}

func (w *Worker) entry(o *domain.Order, from domain.Status, typ, msg string, attrs map[string]string) domain.TimelineEntry {
	return transitionEntry(w.newID, o, from, typ, msg, attrs)
}

func (w *Worker) note(o *domain.Order, typ, msg string, attrs map[string]string) domain.TimelineEntry {
	return domain.TimelineEntry{ID: w.newID(), OrderID: o.ID(), Type: typ, Message: msg, Attributes: attrs, CreatedAt: w.now().UTC()}
}

// charge is the outcome of charging an order before its transaction.
type charge struct {
	paymentID string
	// declined is the provider's reason when the payment was declined.
	declined string
}

// StockReserved charges the order, then records everything in one
// transaction: PENDING → CONFIRMED → PAID, and on to IN_PRODUCTION when
// nothing is to be rendered (otherwise OrderPaid asks for print files), or
// PENDING → CONFIRMED → PAYMENT_FAILED (PaymentFailed releases the stock).
// Nothing external happens between those transitions, so none needs a
// commit of its own: the charge is idempotent by order id at the provider,
// and a delivery that dies after it charges again as a replay. Stock
// reserved for an order cancelled meanwhile is handed back by announcing
// the cancellation again, and a payment captured for it is refunded.
func (w *Worker) StockReserved(ctx context.Context, msgID, orderID string) error {
	// Through the cache: the create primed it, so this read usually costs
	// no database transaction. The transition below reads the order again
	// under its row lock; this read only decides whether to charge.
	o, err := w.cache.GetOrLoad(ctx, orderID, "", func(ctx context.Context) (*domain.Order, error) {
		return w.store.GetOrder(ctx, orderID, "")
	})
	if err != nil {
		return err
	}
	var ch charge
	switch o.Status() {
	case domain.StatusPending, domain.StatusConfirmed: // CONFIRMED: left by an earlier release
		if ch, err = w.charge(ctx, o); err != nil {
			return err
		}
	}
	_, err = w.update(ctx, orderID, w.inbox, msgID, func(o *domain.Order) (Change, error) {
		switch from := o.Status(); {
		case from == domain.StatusPending || from == domain.StatusConfirmed:
			return w.settle(o, ch)
		case from == domain.StatusCancelled && ch.paymentID != "" && o.RefundID() == "":
			return Change{}, errRefundFirst
		case from == domain.StatusCancelled && !o.StockReserved():
			return w.releaseAfterCancel(o), nil
		}
		return Change{}, nil // a late or repeated reservation: nothing to do
	})
	switch {
	case errors.Is(err, errRefundFirst):
		return w.refundLateCapture(ctx, msgID, o, ch.paymentID)
	case errors.Is(err, ErrAlreadyProcessed):
		return nil
	}
	return err
}

// charge charges a PENDING (or CONFIRMED) order; a zero total needs no
// payment. A declined payment is an outcome, any other error a retry.
func (w *Worker) charge(ctx context.Context, o *domain.Order) (charge, error) {
	if o.Total().Amount() <= 0 {
		return charge{}, nil
	}
	res, err := w.payments.Charge(ctx, ChargeRequest{
		OrderID: o.ID(), Amount: o.Total().Amount(), Currency: o.Currency(), IdempotencyKey: o.ID(),
	})
	var pe *PaymentError
	switch {
	case errors.As(err, &pe) && pe.Declined:
		return charge{declined: pe.Code + ": " + pe.Message}, nil
	case err != nil:
		return charge{}, fmt.Errorf("charge order %s: %w", o.ID(), err)
	}
	return charge{paymentID: res.PaymentID}, nil
}

// settle moves a PENDING order through CONFIRMED to the charge's outcome,
// with a timeline entry per transition.
func (w *Worker) settle(o *domain.Order, ch charge) (Change, error) {
	var c Change
	now := w.now()
	step := func(move func() error, typ, msg string, attrs map[string]string) error {
		from := o.Status()
		if err := move(); err != nil {
			return err
		}
		c.Timeline = append(c.Timeline, w.entry(o, from, typ, msg, attrs))
		c.Events = append(c.Events, events.StatusChanged(o, from), events.StatusNotice(o, from))
		return nil
	}
	if o.Status() == domain.StatusPending {
		if err := step(func() error { return o.Confirm(now) }, domain.EventConfirmed, "stock reserved", nil); err != nil {
			return Change{}, err
		}
	}
	if ch.declined != "" {
		if err := step(func() error { return o.FailPayment(ch.declined, now) }, domain.EventPaymentFailed, ch.declined, nil); err != nil {
			return Change{}, err
		}
		c.Events = append([]outboxEvent{events.PaymentFailed(o, ch.declined)}, c.Events...)
		c.Events = withIDs(w.newID, c.Events...)
		return c, nil
	}
	if err := step(func() error { return o.MarkPaid(ch.paymentID, now) }, domain.EventPaymentCaptured, "payment captured",
		map[string]string{"payment_id": ch.paymentID}); err != nil {
		return Change{}, err
	}
	if events.NeedsRender(o) {
		c.Events = append([]outboxEvent{events.OrderPaid(o)}, c.Events...)
	} else if err := step(func() error { return o.StartProduction(nil, now) }, domain.EventInProduction, "nothing to render",
		map[string]string{"files": "0"}); err != nil {
		return Change{}, err
	}
	c.Events = withIDs(w.newID, c.Events...)
	return c, nil
}

// releaseAfterCancel hands back stock reserved for an order that was
// cancelled before the reservation arrived.
func (w *Worker) releaseAfterCancel(o *domain.Order) Change {
	return Change{
		Timeline: []domain.TimelineEntry{w.note(o, domain.EventStockReleased, "stock reserved after cancellation; releasing it", nil)},
		Events:   withIDs(w.newID, events.OrderCancelled(o, "stock reserved after cancellation", false, true)),
	}
}

var errRefundFirst = errors.New("order was cancelled while it was being charged")

// refundLateCapture refunds a payment captured after the order was
// cancelled, then records both (and hands back the stock reserved for it).
// The refund's idempotency key makes a repeat after a crash a replay at the
// provider.
func (w *Worker) refundLateCapture(ctx context.Context, msgID string, o *domain.Order, paymentID string) error {
	res, err := w.payments.Refund(ctx, RefundRequest{
		OrderID: o.ID(), PaymentID: paymentID, Amount: o.Total().Amount(), IdempotencyKey: "refund-" + o.ID(),
	})
	if err != nil {
		return fmt.Errorf("refund order %s: %w", o.ID(), err)
	}
	_, err = w.update(ctx, o.ID(), w.inbox, msgID, func(o *domain.Order) (Change, error) {
		if o.RefundID() != "" {
			return Change{}, nil
		}
		var c Change
		if !o.StockReserved() {
			c = w.releaseAfterCancel(o)
		}
		now := w.now()
		if err := o.RecordLateCapture(paymentID, now); err != nil {
			return Change{}, err
		}
		if err := o.RecordRefund(res.RefundID, now); err != nil {
			return Change{}, err
		}
		c.Timeline = append(c.Timeline,
			w.note(o, domain.EventPaymentLateCapture, "payment captured after cancellation", map[string]string{"payment_id": paymentID}),
			w.note(o, domain.EventPaymentRefunded, "payment refunded", map[string]string{"refund_id": res.RefundID}))
		c.Events = withIDs(w.newID, append(c.Events, events.RefundedNotice(o, o.Total()))...)
		return c, nil
	})
	if errors.Is(err, ErrAlreadyProcessed) {
		return nil
	}
	return err
}

// StockRejected rejects a PENDING order.
func (w *Worker) StockRejected(ctx context.Context, msgID, orderID, reason, variantID string) error {
	if reason == "" {
		reason = "out of stock"
	}
	_, err := w.update(ctx, orderID, w.inbox, msgID, func(o *domain.Order) (Change, error) {
		from := o.Status()
		if from != domain.StatusPending {
			return Change{}, nil
		}
		if err := o.Reject(reason, w.now()); err != nil {
			return Change{}, err
		}
		var attrs map[string]string
		if variantID != "" {
			attrs = map[string]string{"variant_id": variantID}
		}
		return Change{
			Timeline: []domain.TimelineEntry{w.entry(o, from, domain.EventRejected, reason, attrs)},
			Events:   withIDs(w.newID, events.StatusChanged(o, from), events.StatusNotice(o, from)),
		}, nil
	})
	if errors.Is(err, ErrAlreadyProcessed) {
		return nil
	}
	return err
}

// PrintFilesReady records the print files and mockups (by item id) and
// starts production.
func (w *Worker) PrintFilesReady(ctx context.Context, msgID, orderID string, files map[string]domain.PrintFile) error {
	_, err := w.update(ctx, orderID, w.inbox, msgID, func(o *domain.Order) (Change, error) {
		from := o.Status()
		switch from {
		case domain.StatusPending, domain.StatusConfirmed:
			// OrderPaid is published only after PAID commits: this cannot be
			// ahead of it unless something is badly wrong. Retry, then DLQ.
			return Change{}, errs.E(errs.FailedPrecondition, "print files for order %s that is %s", o.ID(), from)
		case domain.StatusPaid:
		default:
			return Change{}, nil // already in production, or cancelled: nothing to do
		}
		if err := o.StartProduction(files, w.now()); err != nil {
			return Change{}, err
		}
		return Change{
			Timeline: []domain.TimelineEntry{w.entry(o, from, domain.EventInProduction, "print files ready",
				map[string]string{"files": fmt.Sprint(len(files))})},
			Events: withIDs(w.newID, events.StatusChanged(o, from), events.StatusNotice(o, from)),
		}, nil
	})
	if errors.Is(err, ErrAlreadyProcessed) {
		return nil
	}
	return err
}

// MarketplacePush is the outcome of pushing a shipment to a marketplace.
type MarketplacePush struct {
	OrderID, ShipmentID, StoreID, Marketplace string
	Succeeded                                 bool
	Attempts, HTTPStatus                      int32
	Message, ReceiptKey                       string
}

// MarketplacePushed puts the push outcome on the timeline.
func (w *Worker) MarketplacePushed(ctx context.Context, msgID string, p MarketplacePush) error {
	_, err := w.update(ctx, p.OrderID, w.inbox, msgID, func(o *domain.Order) (Change, error) {
		typ, msg := domain.EventMarketplaceSucceeded, "tracking pushed to "+p.Marketplace
		if !p.Succeeded {
			typ, msg = domain.EventMarketplaceFailed, "tracking push to "+p.Marketplace+" failed"
		}
		if p.Message != "" {
			msg += ": " + p.Message
		}
		return Change{Timeline: []domain.TimelineEntry{w.note(o, typ, msg, map[string]string{
			"shipment_id": p.ShipmentID, "store_id": p.StoreID, "marketplace": p.Marketplace,
			"attempts": fmt.Sprint(p.Attempts), "http_status": fmt.Sprint(p.HTTPStatus), "receipt_key": p.ReceiptKey,
		})}}, nil
	})
	if errors.Is(err, ErrAlreadyProcessed) {
		return nil
	}
	return err
}

// OrderCancelled refunds a cancelled order that was paid. The order's own
// state decides, not the event: an order that is not cancelled is never
// refunded (the message is refused as invalid and dead-lettered).
func (w *Worker) OrderCancelled(ctx context.Context, msgID, orderID string, wasPaid bool) error {
	if !wasPaid {
		return nil // stock is the catalog's business
	}
	o, err := w.store.GetOrder(ctx, orderID, "")
	if err != nil {
		return err
	}
	return w.refundCancelled(ctx, msgID, o)
}

// refundCancelled refunds a cancelled order's payment once (the idempotency
// key makes a repeat a replay at the provider) and records the refund.
func (w *Worker) refundCancelled(ctx context.Context, msgID string, o *domain.Order) error {
	if o.Status() != domain.StatusCancelled {
		return errs.E(errs.Invalid, "order %s is %s, not cancelled: no refund", o.ID(), events.StatusName(o.Status()))
	}
	if o.PaymentID() == "" || o.RefundID() != "" {
		return nil
	}
	res, err := w.payments.Refund(ctx, RefundRequest{
		OrderID: o.ID(), PaymentID: o.PaymentID(), Amount: o.Total().Amount(), IdempotencyKey: "refund-" + o.ID(),
	})
	if err != nil {
		return fmt.Errorf("refund order %s: %w", o.ID(), err)
	}
	_, err = w.update(ctx, o.ID(), w.inbox, msgID, func(o *domain.Order) (Change, error) {
		if o.RefundID() != "" {
			return Change{}, nil
		}
		if err := o.RecordRefund(res.RefundID, w.now()); err != nil {
			return Change{}, err
		}
		return Change{
			Timeline: []domain.TimelineEntry{
				w.note(o, domain.EventPaymentRefunded, "payment refunded", map[string]string{"refund_id": res.RefundID}),
			},
			Events: withIDs(w.newID, events.RefundedNotice(o, o.Total())),
		}, nil
	})
	if errors.Is(err, ErrAlreadyProcessed) {
		return nil
	}
	return err
}
