package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/principal"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// ListVariantPrices lists every variant price (admin).
func (s *Server) ListVariantPrices(ctx context.Context, _ *pricingv1.ListVariantPricesRequest) (*pricingv1.ListVariantPricesResponse, error) {
	ps, err := s.app.ListVariantPrices(ctx, principal.From(ctx))
	if err != nil {
		return nil, err
	}
	return &pricingv1.ListVariantPricesResponse{Prices: toProtoStoredPrices(ps)}, nil
}

// GetVariantPrices returns one variant's prices (admin).
func (s *Server) GetVariantPrices(ctx context.Context, req *pricingv1.GetVariantPricesRequest) (*pricingv1.VariantPrices, error) {
	ps, err := s.app.VariantPrices(ctx, principal.From(ctx), req.GetVariantId())
	if err != nil {
		return nil, err
	}
	return &pricingv1.VariantPrices{VariantId: req.GetVariantId(), Prices: toProtoStoredPrices(ps)}, nil
}

// DeleteVariantPrices removes one variant's prices (admin).
func (s *Server) DeleteVariantPrices(ctx context.Context, req *pricingv1.DeleteVariantPricesRequest) (*pricingv1.DeleteVariantPricesResponse, error) {
	res, err := s.app.DeleteVariantPrices(ctx, principal.From(ctx), req.GetVariantId(), req.GetRegion())
	if err != nil {
		return nil, err
	}
	return &pricingv1.DeleteVariantPricesResponse{Deleted: int32(res.Changed)}, nil
}

// ListCoupons lists every coupon (admin).
func (s *Server) ListCoupons(ctx context.Context, _ *pricingv1.ListCouponsRequest) (*pricingv1.ListCouponsResponse, error) {
	cs, err := s.app.ListCoupons(ctx, principal.From(ctx))
	if err != nil {
		return nil, err
	}
	return toProtoCoupons(cs), nil
}

// GetCoupon returns the coupons with a code (admin).
func (s *Server) GetCoupon(ctx context.Context, req *pricingv1.GetCouponRequest) (*pricingv1.ListCouponsResponse, error) {
	cs, err := s.app.Coupon(ctx, principal.From(ctx), req.GetCode())
	if err != nil {
		return nil, err
	}
	return toProtoCoupons(cs), nil
}

// DeleteCoupon deactivates a code (admin).
func (s *Server) DeleteCoupon(ctx context.Context, req *pricingv1.DeleteCouponRequest) (*pricingv1.DeleteCouponResponse, error) {
	res, err := s.app.DeactivateCoupon(ctx, principal.From(ctx), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &pricingv1.DeleteCouponResponse{Deactivated: int32(res.Changed)}, nil
}

// ListFxRates lists every exchange rate (admin).
func (s *Server) ListFxRates(ctx context.Context, _ *pricingv1.ListFxRatesRequest) (*pricingv1.ListFxRatesResponse, error) {
	rs, err := s.app.ListFxRates(ctx, principal.From(ctx))
	if err != nil {
		return nil, err
	}
	out := &pricingv1.ListFxRatesResponse{Rates: make([]*pricingv1.FxRate, len(rs))}
	for i, r := range rs {
		out.Rates[i] = &pricingv1.FxRate{Base: r.Base.Code, Quote: r.Quote.Code, Rate: domain.FormatRate(r.Rate)}
	}
	return out, nil
}

func toProtoCoupons(cs []domain.Coupon) *pricingv1.ListCouponsResponse {
	out := &pricingv1.ListCouponsResponse{Coupons: make([]*pricingv1.Coupon, len(cs))}
	for i, c := range cs {
		out.Coupons[i] = toProtoCoupon(c)
	}
	return out
}

func toProtoStoredPrices(ps []domain.StoredVariantPrice) []*pricingv1.StoredVariantPrice {
	out := make([]*pricingv1.StoredVariantPrice, len(ps))
	for i, p := range ps {
		src := pricingv1.VariantPriceSource_VARIANT_PRICE_SOURCE_ADMIN
		if p.Source == domain.SourceCatalog {
			src = pricingv1.VariantPriceSource_VARIANT_PRICE_SOURCE_CATALOG
		}
		out[i] = &pricingv1.StoredVariantPrice{VariantId: p.VariantID.String(), Region: p.Region,
			Price: toProtoMoney(p.Price.Amount, p.Price.Currency), Source: src, UpdateTime: timestamppb.New(p.UpdatedAt)}
	}
	return out
}
