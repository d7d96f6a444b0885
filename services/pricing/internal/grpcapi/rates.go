package grpcapi

import (
	"context"

	"github.com/printfleet/printfleet/platform/principal"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// ListShippingRates lists the shipping rate table, or the rows that reach
// one country (any caller).
func (s *Server) ListShippingRates(ctx context.Context, req *pricingv1.ListShippingRatesRequest) (*pricingv1.ListShippingRatesResponse, error) {
	rs, err := s.app.ListShippingRates(ctx, req.GetCountryCode())
	if err != nil {
		return nil, err
	}
	out := &pricingv1.ListShippingRatesResponse{Rates: make([]*pricingv1.ShippingRate, len(rs))}
	for i, r := range rs {
		out.Rates[i] = &pricingv1.ShippingRate{Method: r.Method, CountryCode: r.Country,
			FirstItem: toProtoMoney(r.FirstItem, r.Currency), AdditionalItem: toProtoMoney(r.AdditionalItem, r.Currency),
			MinDays: r.MinDays, MaxDays: r.MaxDays}
	}
	return out, nil
}

// DeleteShippingRate removes one method's rate for one country (admin).
func (s *Server) DeleteShippingRate(ctx context.Context, req *pricingv1.DeleteShippingRateRequest) (*pricingv1.DeleteShippingRateResponse, error) {
	if _, err := s.app.DeleteShippingRate(ctx, principal.From(ctx), req.GetMethod(), req.GetCountryCode()); err != nil {
		return nil, err
	}
	return &pricingv1.DeleteShippingRateResponse{}, nil
}

// SetTaxRates upserts tax rates (admin).
func (s *Server) SetTaxRates(ctx context.Context, req *pricingv1.SetTaxRatesRequest) (*pricingv1.SetTaxRatesResponse, error) {
	in := make([]domain.TaxRateInput, len(req.GetRates()))
	for i, r := range req.GetRates() {
		in[i] = domain.TaxRateInput{Country: r.GetCountryCode(), Region: r.GetRegion(), RateBP: r.GetRateBp(), Included: r.GetPricesIncludeTax()}
	}
	res, err := s.app.SetTaxRates(ctx, principal.From(ctx), in)
	if err != nil {
		return nil, err
	}
	return &pricingv1.SetTaxRatesResponse{Upserted: int32(res.Changed)}, nil
}

// ListTaxRates lists every tax rate (any caller).
func (s *Server) ListTaxRates(ctx context.Context, _ *pricingv1.ListTaxRatesRequest) (*pricingv1.ListTaxRatesResponse, error) {
	rs, err := s.app.ListTaxRates(ctx)
	if err != nil {
		return nil, err
	}
	out := &pricingv1.ListTaxRatesResponse{Rates: make([]*pricingv1.TaxRate, len(rs))}
	for i, r := range rs {
		out.Rates[i] = &pricingv1.TaxRate{CountryCode: r.Country, Region: r.Region, RateBp: r.RateBP, PricesIncludeTax: r.Included}
	}
	return out, nil
}

// DeleteTaxRate removes the rate of a country or one of its regions (admin).
func (s *Server) DeleteTaxRate(ctx context.Context, req *pricingv1.DeleteTaxRateRequest) (*pricingv1.DeleteTaxRateResponse, error) {
	if _, err := s.app.DeleteTaxRate(ctx, principal.From(ctx), req.GetCountryCode(), req.GetRegion()); err != nil {
		return nil, err
	}
	return &pricingv1.DeleteTaxRateResponse{}, nil
}
