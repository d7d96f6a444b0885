package app

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// Coupon uses are redeemed when an order is placed: the quote the order
// create asks for (QuoteOrder) reserves one use in the same step that fixes
// the order's totals, atomically against the coupon's usage limit and its
// per-customer limit, once per order key. The order's OrderPlaced confirms
// the use (ConfirmCoupon), its cancellation, rejection or failed payment
// gives it back (ReleaseCoupon), and a reservation that no placement
// confirms in time (the create failed after pricing answered) expires
// (ExpireReservations, and lazily on the next redemption of the coupon).

// DefaultReservationTTL is how long a reserved use waits for its order's
// placement: far longer than the create takes plus the event's way to the
// pricing worker, short enough that a failed create does not hold a use
// for long.
const DefaultReservationTTL = 15 * time.Minute

var orderRefRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

var redemptionsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "pricing_coupon_redemptions_total",
	Help: "Coupon redemptions by order creates, confirmations, releases and expiries, by step and outcome.",
}, []string{"step", "outcome"})

// QuoteOrder prices an order being placed by caller and, when it names a
// coupon, redeems one use of it for the caller under orderKey (a retry with
// the same key takes no second use); orderID is the id this attempt of the
// create would commit the order as. A coupon at its usage limit or at its
// limit per customer is refused with CONFLICT naming the coupon. For users
// and admins (orders forwards the caller placing the order).
func (s *Service) QuoteOrder(ctx context.Context, caller principal.Principal, req domain.QuoteRequest, orderKey, orderID string) (domain.Quote, error) {
	if err := caller.Require(principal.RoleUser, principal.RoleAdmin); err != nil {
		return domain.Quote{}, err
	}
	if !orderRefRE.MatchString(orderKey) {
		return domain.Quote{}, errs.Field("order_key", fmt.Sprintf("must be 1-128 letters, digits, '_' or '-', got %q", orderKey))
	}
	if !orderRefRE.MatchString(orderID) {
		return domain.Quote{}, errs.Field("order_id", fmt.Sprintf("must be 1-128 letters, digits, '_' or '-', got %q", orderID))
	}
	req.Redeeming = true
	q, err := s.Quote(ctx, req)
	if err != nil || q.CouponCode == "" {
		return q, err
	}
	now := s.now()
	_, res, err := s.store.RedeemCoupon(ctx, domain.Redemption{
		Code: q.CouponCode, OrderKey: orderKey, OrderID: orderID, CustomerID: caller.Subject,
		ExpiresAt: now.Add(s.ttl),
	}, now)
	if err != nil {
		redemptionsTotal.WithLabelValues("reserve", errs.KindOf(err).String()).Inc()
		return domain.Quote{}, err
	}
	redemptionsTotal.WithLabelValues("reserve", "ok").Inc()
	s.afterWrite(ctx, res)
	return q, nil
}

// ConfirmCoupon confirms the use of the coupon code by the placed order
// orderID (its OrderPlaced). For the service role (the pricing worker) or
// an admin.
func (s *Service) ConfirmCoupon(ctx context.Context, caller principal.Principal, code, orderID, customerID string, placedAt time.Time) error {
	if err := caller.Require(principal.RoleService, principal.RoleAdmin); err != nil {
		return err
	}
	code = domain.NormalizeCouponCode(code)
	if code == "" {
		return errs.Field("coupon_code", "is required")
	}
	if !orderRefRE.MatchString(orderID) {
		return errs.Field("order_id", fmt.Sprintf("must be 1-128 letters, digits, '_' or '-', got %q", orderID))
	}
	late, res, err := s.store.ConfirmCoupon(ctx, code, orderID, customerID, placedAt)
	if err != nil {
		redemptionsTotal.WithLabelValues("confirm", errs.KindOf(err).String()).Inc()
		return err
	}
	if late {
		redemptionsTotal.WithLabelValues("confirm", "late").Inc()
		s.log.WarnContext(ctx, "coupon use counted at placement: the order had no pending reservation", "order_id", orderID, "coupon", code)
	} else {
		redemptionsTotal.WithLabelValues("confirm", "ok").Inc()
	}
	s.afterWrite(ctx, res)
	return nil
}

// ReleaseCoupon gives back the coupon use of the order orderID, if it has
// one (it was cancelled, rejected or its payment failed). For the service
// role or an admin.
func (s *Service) ReleaseCoupon(ctx context.Context, caller principal.Principal, orderID string) error {
	if err := caller.Require(principal.RoleService, principal.RoleAdmin); err != nil {
		return err
	}
	if !orderRefRE.MatchString(orderID) {
		return errs.Field("order_id", fmt.Sprintf("must be 1-128 letters, digits, '_' or '-', got %q", orderID))
	}
	released, res, err := s.store.ReleaseCoupon(ctx, orderID)
	if err != nil {
		redemptionsTotal.WithLabelValues("release", errs.KindOf(err).String()).Inc()
		return err
	}
	if released {
		redemptionsTotal.WithLabelValues("release", "ok").Inc()
	}
	s.afterWrite(ctx, res)
	return nil
}

// ExpireReservations gives back the uses reserved by order creates that no
// placement confirmed in time, and reports how many.
func (s *Service) ExpireReservations(ctx context.Context) (int, error) {
	n, err := s.store.ExpireReservations(ctx, s.now())
	if n > 0 {
		redemptionsTotal.WithLabelValues("expire", "ok").Add(float64(n))
	}
	return n, err
}
