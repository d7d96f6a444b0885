// Package amqpapi is pricing's message adapter: the pricing.coupons consumer
// (run by the pricing-worker process) confirms the coupon use an order
// reserved when it was placed (OrderPlaced of orders with a coupon) and gives
// it back when the order ends without being fulfilled (OrderCancelled,
// StockRejected, PaymentFailed).
package amqpapi

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// CouponRoutingKeys are the events the pricing.coupons queue
// (eventsv1.QueuePricingCoupons) binds: OrderPlaced of orders with a coupon
// only (orders publishes it under a key of its own), and every end of an
// order that frees its coupon use; an order without a reservation is
// skipped with one indexed lookup.
var CouponRoutingKeys = []string{
	eventsv1.KeyOrderPlacedCoupon, eventsv1.KeyOrderCancelled,
	eventsv1.KeyStockRejected, eventsv1.KeyPaymentFailed,
}

// Consumer is the caller the consumer confirms and releases coupon uses as:
// the service role.
var Consumer = principal.Principal{Subject: "service:pricing-worker", Roles: []string{principal.RoleService}}

// Redemptions confirms and releases the coupon uses of orders, idempotently
// per order.
type Redemptions interface {
	ConfirmCoupon(ctx context.Context, caller principal.Principal, code, orderID, customerID string, placedAt time.Time) error
	ReleaseCoupon(ctx context.Context, caller principal.Principal, orderID string) error
}

// CouponHandler confirms the coupon use of each placed order and releases
// the use of each order cancelled, rejected for stock or whose payment
// failed. Both are no-ops when repeated, so redeliveries change nothing, and
// they commute: a release that overtakes the confirmation wins. A coupon the
// store cannot count for the order (its window does not cover the order) is
// logged and acked: the order stands, and retrying would not change the
// answer. An undecodable message is dead-lettered at once; any other failure
// is retried by the broker.
func CouponHandler(r Redemptions, log *slog.Logger) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		var (
			orderID string
			err     error
		)
		switch d.Type {
		case eventsv1.KeyOrderPlacedCoupon, eventsv1.KeyOrderPlaced:
			var ev eventsv1.OrderPlaced
			if err := decode(d, &ev); err != nil {
				return err
			}
			if ev.GetCouponCode() == "" {
				return nil
			}
			orderID = ev.GetOrderId()
			placedAt := d.Timestamp
			if ev.GetPlacedAt() != nil {
				placedAt = ev.GetPlacedAt().AsTime()
			}
			err = r.ConfirmCoupon(ctx, Consumer, ev.GetCouponCode(), orderID, ev.GetUserId(), placedAt)
		case eventsv1.KeyOrderCancelled:
			var ev eventsv1.OrderCancelled
			if err := decode(d, &ev); err != nil {
				return err
			}
			orderID = ev.GetOrderId()
			err = r.ReleaseCoupon(ctx, Consumer, orderID)
		case eventsv1.KeyStockRejected:
			var ev eventsv1.StockRejected
			if err := decode(d, &ev); err != nil {
				return err
			}
			orderID = ev.GetOrderId()
			err = r.ReleaseCoupon(ctx, Consumer, orderID)
		case eventsv1.KeyPaymentFailed:
			var ev eventsv1.PaymentFailed
			if err := decode(d, &ev); err != nil {
				return err
			}
			orderID = ev.GetOrderId()
			err = r.ReleaseCoupon(ctx, Consumer, orderID)
		default:
			return amqp.Permanent(fmt.Errorf("unexpected message type %q", d.Type))
		}
		switch {
		case err == nil:
			return nil
		case errs.Is(err, errs.FailedPrecondition), errs.Is(err, errs.Invalid), errs.Is(err, errs.NotFound):
			log.WarnContext(ctx, "coupon use not counted", "order_id", orderID, "event", d.Type, "reason", errs.Status(err).Message())
			return nil
		}
		return fmt.Errorf("coupon use of order %s (%s): %w", orderID, d.Type, err)
	}
}

func decode(d amqp.Delivery, m proto.Message) error {
	if err := proto.Unmarshal(d.Body, m); err != nil {
		return amqp.Permanent(fmt.Errorf("decode %s %s: %w", d.Type, d.ID, err))
	}
	return nil
}
