// Package amqpapi is pricing's message adapter: the pricing.coupons consumer
// (run by the pricing-worker process) decodes every OrderPlaced event and
// counts one redemption against the coupon the order used.
package amqpapi

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// CouponRoutingKeys are the events the pricing.coupons queue
// (eventsv1.QueuePricingCoupons) binds: only OrderPlaced of orders with a
// coupon, which orders publishes under a key of its own.
var CouponRoutingKeys = []string{eventsv1.KeyOrderPlacedCoupon}

// Consumer is the caller the consumer redeems coupons as: the service role,
// which RedeemCoupon admits.
var Consumer = principal.Principal{Subject: "service:pricing-worker", Roles: []string{principal.RoleService}}

// Redeemer counts a coupon use by an order, idempotently per order.
type Redeemer interface {
	RedeemCoupon(ctx context.Context, caller principal.Principal, code, orderID string) (domain.Coupon, error)
}

// CouponHandler redeems the coupon of each placed order. Redeeming twice for
// the same order is a no-op in the store, so redeliveries change nothing. A
// coupon that can no longer be redeemed (the order raced the last use, or the
// window closed between quote and order) is logged and acked: the order
// stands, and retrying would not change the answer. An undecodable message is
// dead-lettered at once; any other failure is retried by the broker.
func CouponHandler(r Redeemer, log *slog.Logger) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		var ev eventsv1.OrderPlaced
		if err := proto.Unmarshal(d.Body, &ev); err != nil {
			return amqp.Permanent(fmt.Errorf("decode OrderPlaced %s: %w", d.ID, err))
		}
		if ev.GetCouponCode() == "" {
			return nil
		}
		_, err := r.RedeemCoupon(ctx, Consumer, ev.GetCouponCode(), ev.GetOrderId())
		switch {
		case err == nil:
			return nil
		case errs.Is(err, errs.FailedPrecondition), errs.Is(err, errs.Invalid), errs.Is(err, errs.NotFound):
			log.WarnContext(ctx, "coupon not redeemed", "order_id", ev.GetOrderId(), "coupon", ev.GetCouponCode(), "reason", errs.Status(err).Message())
			return nil
		}
		return fmt.Errorf("redeem coupon for order %s: %w", ev.GetOrderId(), err)
	}
}
