package app

import (
	"context"
	"strings"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// The admin routes' reads and deletes of price lists, coupons and FX rates,
// and the catalog's default prices. Writes go through admin (or, for the
// catalog, the service role), so the snapshot of this process is refreshed
// and the other replicas are notified as for any write.

// ListVariantPrices returns every variant price (admin).
func (s *Service) ListVariantPrices(ctx context.Context, caller principal.Principal) ([]domain.StoredVariantPrice, error) {
	if err := caller.Require(principal.RoleAdmin); err != nil {
		return nil, err
	}
	return s.store.ListVariantPrices(ctx)
}

// VariantPrices returns one variant's prices (admin); NOT_FOUND when it has
// none.
func (s *Service) VariantPrices(ctx context.Context, caller principal.Principal, variantID string) ([]domain.StoredVariantPrice, error) {
	if err := caller.Require(principal.RoleAdmin); err != nil {
		return nil, err
	}
	id, err := domain.ParseVariantID("variant_id", variantID)
	if err != nil {
		return nil, err
	}
	ps, err := s.store.VariantPrices(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, errs.E(errs.NotFound, "variant %s has no price", variantID)
	}
	return ps, nil
}

// DeleteVariantPrices removes a variant's prices, of one region when region
// is not empty (admin); NOT_FOUND when nothing matched. A deleted default
// price comes back with the catalog's next price change for the variant.
func (s *Service) DeleteVariantPrices(ctx context.Context, caller principal.Principal, variantID, region string) (WriteResult, error) {
	return s.admin(ctx, caller, "variant_prices_delete", func() (WriteResult, error) {
		id, err := domain.ParseVariantID("variant_id", variantID)
		if err != nil {
			return WriteResult{}, err
		}
		if region != "" {
			if region, err = domain.ParseRegion("region", region); err != nil {
				return WriteResult{}, err
			}
		}
		res, err := s.store.DeleteVariantPrices(ctx, id, region)
		if err == nil && res.Changed == 0 {
			return res, errs.E(errs.NotFound, "variant %s has no price to delete", variantID)
		}
		return res, err
	})
}

// ApplyCatalogPrices keeps the catalog's prices of a product's variants as
// their default list prices (service role: the catalog consumer). A variant
// whose price an admin set for region "*" keeps it; an announcement older
// than the last one applied to a variant changes nothing for it.
func (s *Service) ApplyCatalogPrices(ctx context.Context, caller principal.Principal, in domain.CatalogPricesInput) (WriteResult, error) {
	if err := caller.Require(principal.RoleService, principal.RoleAdmin); err != nil {
		return WriteResult{}, err
	}
	cp, err := domain.ValidateCatalogPrices(in)
	if err != nil {
		writesTotal.WithLabelValues("catalog_prices", errs.KindOf(err).String()).Inc()
		return WriteResult{}, err
	}
	res, err := s.store.ApplyCatalogPrices(ctx, cp)
	if err != nil {
		writesTotal.WithLabelValues("catalog_prices", errs.KindOf(err).String()).Inc()
		return WriteResult{}, err
	}
	writesTotal.WithLabelValues("catalog_prices", "ok").Inc()
	s.afterWrite(ctx, res)
	return res, nil
}

// ListFxRates returns every exchange rate (admin).
func (s *Service) ListFxRates(ctx context.Context, caller principal.Principal) ([]domain.FxRate, error) {
	if err := caller.Require(principal.RoleAdmin); err != nil {
		return nil, err
	}
	return s.store.ListFxRates(ctx)
}

// Coupon returns the coupons with code, any case (admin); NOT_FOUND when
// there is none.
func (s *Service) Coupon(ctx context.Context, caller principal.Principal, code string) ([]domain.Coupon, error) {
	if err := caller.Require(principal.RoleAdmin); err != nil {
		return nil, err
	}
	cs, err := s.store.CouponsByCode(ctx, strings.ToUpper(code))
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, errs.E(errs.NotFound, "no coupon %s", code)
	}
	return cs, nil
}

// DeactivateCoupon ends every coupon with code whose window has not ended
// (admin); NOT_FOUND when there is none. Quotes refuse the code at once.
func (s *Service) DeactivateCoupon(ctx context.Context, caller principal.Principal, code string) (WriteResult, error) {
	return s.admin(ctx, caller, "coupons_delete", func() (WriteResult, error) {
		res, err := s.store.DeactivateCoupon(ctx, strings.ToUpper(code), s.now())
		if err == nil && res.Changed == 0 {
			return res, errs.E(errs.NotFound, "no active or scheduled coupon %s", code)
		}
		return res, err
	})
}
