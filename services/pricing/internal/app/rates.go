package app

import (
	"context"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// The shipping and tax rate tables: reads are open to any caller (a
// storefront shows them) and, in a process that quotes, are answered from
// the snapshot quotes read, as fresh as the quotes are; writes and deletes
// are admin only and go through admin, so that snapshot is refreshed as for
// any write.

// ListShippingRates returns the shipping rate table; with country, the rows
// that reach it (a country's own row for a method wins over the "*" row),
// cheapest first_item first.
func (s *Service) ListShippingRates(ctx context.Context, country string) ([]domain.ShippingRate, error) {
	if country != "" {
		if _, _, err := domain.ParseTaxDestination("", country, ""); err != nil {
			return nil, err
		}
	}
	var rs []domain.ShippingRate
	if snap := s.snap.Load(); snap != nil {
		rs = snap.ShippingRates()
	} else {
		var err error
		if rs, err = s.store.ListShippingRates(ctx); err != nil {
			return nil, err
		}
	}
	if country == "" {
		return rs, nil
	}
	return domain.ApplicableShippingRates(rs, country), nil
}

// DeleteShippingRate removes method's rate for country ("*": the
// catch-all), every currency of it (admin); NOT_FOUND when there is none.
func (s *Service) DeleteShippingRate(ctx context.Context, caller principal.Principal, method, country string) (WriteResult, error) {
	return s.admin(ctx, caller, "shipping_rates_delete", func() (WriteResult, error) {
		m, err := domain.ParseMethod("method", method)
		if err != nil {
			return WriteResult{}, err
		}
		c, err := domain.ParseRegion("country_code", country)
		if err != nil {
			return WriteResult{}, err
		}
		res, err := s.store.DeleteShippingRate(ctx, m, c)
		if err == nil && res.Changed == 0 {
			return res, errs.E(errs.NotFound, "no %s shipping rate for %s", m, c)
		}
		return res, err
	})
}

// SetTaxRates upserts tax rates (admin).
func (s *Service) SetTaxRates(ctx context.Context, caller principal.Principal, in []domain.TaxRateInput) (WriteResult, error) {
	return s.admin(ctx, caller, "tax_rates", func() (WriteResult, error) {
		rs, err := domain.ValidateTaxRates(in)
		if err != nil {
			return WriteResult{}, err
		}
		return s.store.UpsertTaxRates(ctx, rs)
	})
}

// ListTaxRates returns every tax rate by country and region.
func (s *Service) ListTaxRates(ctx context.Context) ([]domain.TaxRate, error) {
	if snap := s.snap.Load(); snap != nil {
		return snap.TaxRates(), nil
	}
	return s.store.ListTaxRates(ctx)
}

// DeleteTaxRate removes the rate of a country (region empty) or of one of
// its regions (admin); NOT_FOUND when there is none.
func (s *Service) DeleteTaxRate(ctx context.Context, caller principal.Principal, country, region string) (WriteResult, error) {
	return s.admin(ctx, caller, "tax_rates_delete", func() (WriteResult, error) {
		c, r, err := domain.ParseTaxDestination("", country, region)
		if err != nil {
			return WriteResult{}, err
		}
		res, err := s.store.DeleteTaxRate(ctx, c, r)
		if err == nil && res.Changed == 0 {
			if r == "" {
				return res, errs.E(errs.NotFound, "no tax rate for %s", c)
			}
			return res, errs.E(errs.NotFound, "no tax rate for %s region %s", c, r)
		}
		return res, err
	})
}
