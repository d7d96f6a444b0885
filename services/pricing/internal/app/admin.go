package app

import (
	"context"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// Every admin write: the caller must hold the admin role, then the whole
// request is validated (the first bad field is reported as INVALID_ARGUMENT
// and nothing is written), then one transaction, then this instance's
// snapshot is refreshed.

func (s *Service) admin(ctx context.Context, caller principal.Principal, kind string, write func() (WriteResult, error)) (WriteResult, error) {
	if err := caller.Require(principal.RoleAdmin); err != nil {
		writesTotal.WithLabelValues(kind, "denied").Inc()
		return WriteResult{}, err
	}
	res, err := write()
	if err != nil {
		writesTotal.WithLabelValues(kind, errs.KindOf(err).String()).Inc()
		return WriteResult{}, err
	}
	writesTotal.WithLabelValues(kind, "ok").Inc()
	s.afterWrite(ctx, res)
	return res, nil
}

// SetVariantPrices upserts base prices.
func (s *Service) SetVariantPrices(ctx context.Context, caller principal.Principal, in []domain.VariantPriceInput) (WriteResult, error) {
	return s.admin(ctx, caller, "variant_prices", func() (WriteResult, error) {
		ps, err := domain.ValidateVariantPrices(in)
		if err != nil {
			return WriteResult{}, err
		}
		return s.store.UpsertVariantPrices(ctx, ps)
	})
}

// SetPlacementSurcharges upserts surcharges per technique.
func (s *Service) SetPlacementSurcharges(ctx context.Context, caller principal.Principal, in []domain.SurchargeInput) (WriteResult, error) {
	return s.admin(ctx, caller, "surcharges", func() (WriteResult, error) {
		xs, err := domain.ValidateSurcharges(in)
		if err != nil {
			return WriteResult{}, err
		}
		return s.store.UpsertSurcharges(ctx, xs)
	})
}

// SetShippingRates upserts shipping rates.
func (s *Service) SetShippingRates(ctx context.Context, caller principal.Principal, in []domain.ShippingRateInput) (WriteResult, error) {
	return s.admin(ctx, caller, "shipping_rates", func() (WriteResult, error) {
		rs, err := domain.ValidateShippingRates(in)
		if err != nil {
			return WriteResult{}, err
		}
		return s.store.UpsertShippingRates(ctx, rs)
	})
}

// SetFxRates upserts exchange rates.
func (s *Service) SetFxRates(ctx context.Context, caller principal.Principal, in []domain.FxRateInput) (WriteResult, error) {
	return s.admin(ctx, caller, "fx_rates", func() (WriteResult, error) {
		rs, err := domain.ValidateFxRates(in)
		if err != nil {
			return WriteResult{}, err
		}
		return s.store.UpsertFxRates(ctx, rs)
	})
}

// SetPlacementTechniques records placement → technique (no RPC carries this
// yet: demo seeding and future catalog sync use it).
func (s *Service) SetPlacementTechniques(ctx context.Context, caller principal.Principal, in []domain.PlacementTechniqueInput) (WriteResult, error) {
	return s.admin(ctx, caller, "placement_techniques", func() (WriteResult, error) {
		ps, err := domain.ValidatePlacementTechniques(in)
		if err != nil {
			return WriteResult{}, err
		}
		return s.store.UpsertPlacementTechniques(ctx, ps)
	})
}

// CreateCoupon adds a coupon. Its window must not overlap another coupon
// with the same code.
func (s *Service) CreateCoupon(ctx context.Context, caller principal.Principal, in domain.CouponInput) (domain.Coupon, error) {
	c, _, err := s.createCoupon(ctx, caller, in, false)
	return c, err
}

// EnsureCoupon is CreateCoupon that returns an existing coupon with the same
// terms instead of refusing it as overlapping (idempotent seeding).
func (s *Service) EnsureCoupon(ctx context.Context, caller principal.Principal, in domain.CouponInput) (domain.Coupon, bool, error) {
	return s.createCoupon(ctx, caller, in, true)
}

func (s *Service) createCoupon(ctx context.Context, caller principal.Principal, in domain.CouponInput, ensure bool) (domain.Coupon, bool, error) {
	var out domain.Coupon
	res, err := s.admin(ctx, caller, "coupons", func() (WriteResult, error) {
		c, err := domain.ValidateCoupon(in)
		if err != nil {
			return WriteResult{}, err
		}
		var res WriteResult
		out, res, err = s.store.CreateCoupon(ctx, c, ensure)
		return res, err
	})
	return out, res.Changed > 0, err
}

// ListCoupons returns every coupon with its usage counter (admin).
func (s *Service) ListCoupons(ctx context.Context, caller principal.Principal) ([]domain.Coupon, error) {
	if err := caller.Require(principal.RoleAdmin); err != nil {
		return nil, err
	}
	return s.store.ListCoupons(ctx)
}
