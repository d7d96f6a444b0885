// Package grpcapi serves pricingv1.PricingService: it converts between the
// protobuf messages and the domain, reads the caller (principal.From) and
// passes it to the use cases, and holds no business logic. Errors from
// app/domain are errs kinds, mapped to gRPC codes once by the platform
// server.
//
// Wire notes: QuoteLine.surcharges is per unit (line_total = quantity ×
// (unit_price + surcharges)); the Set* responses' upserted counts rows that
// were inserted or changed (rewriting an identical row counts 0).
package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/principal"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// Server implements pricingv1.PricingServiceServer.
type Server struct {
	pricingv1.UnimplementedPricingServiceServer
	app *app.Service
}

// New returns the gRPC facade of svc.
func New(svc *app.Service) *Server { return &Server{app: svc} }

// CreateQuote prices a prospective order.
func (s *Server) CreateQuote(ctx context.Context, req *pricingv1.CreateQuoteRequest) (*pricingv1.Quote, error) {
	q, err := s.app.Quote(ctx, toDomainQuoteRequest(req))
	if err != nil {
		return nil, err
	}
	return toProtoQuote(q), nil
}

// CreateOrderQuote prices an order being placed and redeems its coupon for
// the caller (orders forwards the user placing the order).
func (s *Server) CreateOrderQuote(ctx context.Context, req *pricingv1.CreateOrderQuoteRequest) (*pricingv1.Quote, error) {
	q, err := s.app.QuoteOrder(ctx, principal.From(ctx), toDomainQuoteRequest(req.GetQuote()), req.GetOrderKey(), req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return toProtoQuote(q), nil
}

// SetVariantPrices upserts base prices (admin).
func (s *Server) SetVariantPrices(ctx context.Context, req *pricingv1.SetVariantPricesRequest) (*pricingv1.SetVariantPricesResponse, error) {
	in := make([]domain.VariantPriceInput, len(req.GetPrices()))
	for i, p := range req.GetPrices() {
		in[i] = domain.VariantPriceInput{VariantID: p.GetVariantId(), Region: p.GetRegion(), Price: toMoneyInput(p.GetPrice())}
	}
	res, err := s.app.SetVariantPrices(ctx, principal.From(ctx), in)
	if err != nil {
		return nil, err
	}
	return &pricingv1.SetVariantPricesResponse{Upserted: int32(res.Changed)}, nil
}

// SetPlacementSurcharges upserts surcharges (admin).
func (s *Server) SetPlacementSurcharges(ctx context.Context, req *pricingv1.SetPlacementSurchargesRequest) (*pricingv1.SetPlacementSurchargesResponse, error) {
	in := make([]domain.SurchargeInput, len(req.GetSurcharges()))
	for i, x := range req.GetSurcharges() {
		in[i] = domain.SurchargeInput{Technique: x.GetTechnique(), Price: toMoneyInput(x.GetPrice())}
	}
	res, err := s.app.SetPlacementSurcharges(ctx, principal.From(ctx), in)
	if err != nil {
		return nil, err
	}
	return &pricingv1.SetPlacementSurchargesResponse{Upserted: int32(res.Changed)}, nil
}

// SetShippingRates upserts shipping rates (admin).
func (s *Server) SetShippingRates(ctx context.Context, req *pricingv1.SetShippingRatesRequest) (*pricingv1.SetShippingRatesResponse, error) {
	in := make([]domain.ShippingRateInput, len(req.GetRates()))
	for i, r := range req.GetRates() {
		in[i] = domain.ShippingRateInput{Method: r.GetMethod(), Country: r.GetCountryCode(),
			FirstItem: toMoneyInput(r.GetFirstItem()), AdditionalItem: toMoneyInput(r.GetAdditionalItem()),
			MinDays: r.GetMinDays(), MaxDays: r.GetMaxDays()}
	}
	res, err := s.app.SetShippingRates(ctx, principal.From(ctx), in)
	if err != nil {
		return nil, err
	}
	return &pricingv1.SetShippingRatesResponse{Upserted: int32(res.Changed)}, nil
}

// CreateCoupon adds a coupon (admin).
func (s *Server) CreateCoupon(ctx context.Context, req *pricingv1.CreateCouponRequest) (*pricingv1.Coupon, error) {
	c, err := s.app.CreateCoupon(ctx, principal.From(ctx), toDomainCouponInput(req.GetCoupon()))
	if err != nil {
		return nil, err
	}
	return toProtoCoupon(c), nil
}

// SetFxRates upserts exchange rates (admin).
func (s *Server) SetFxRates(ctx context.Context, req *pricingv1.SetFxRatesRequest) (*pricingv1.SetFxRatesResponse, error) {
	in := make([]domain.FxRateInput, len(req.GetRates()))
	for i, r := range req.GetRates() {
		in[i] = domain.FxRateInput{Base: r.GetBase(), Quote: r.GetQuote(), Rate: r.GetRate()}
	}
	res, err := s.app.SetFxRates(ctx, principal.From(ctx), in)
	if err != nil {
		return nil, err
	}
	return &pricingv1.SetFxRatesResponse{Upserted: int32(res.Changed)}, nil
}

func toMoneyInput(m *typesv1.Money) domain.MoneyInput {
	if m == nil {
		return domain.MoneyInput{}
	}
	return domain.MoneyInput{Set: true, Currency: m.GetCurrency(), Amount: m.GetAmountMinor()}
}

func toDomainQuoteRequest(req *pricingv1.CreateQuoteRequest) domain.QuoteRequest {
	items := make([]domain.QuoteItem, len(req.GetItems()))
	for i, it := range req.GetItems() {
		items[i] = domain.QuoteItem{VariantID: it.GetVariantId(), Quantity: it.GetQuantity(),
			PlacementIDs: it.GetPlacementIds(), Technique: it.GetTechnique()}
	}
	return domain.QuoteRequest{Items: items, Country: req.GetCountryCode(), Currency: req.GetCurrency(),
		CouponCode: req.GetCouponCode(), ShippingMethod: req.GetShippingMethod(), Region: req.GetRegion()}
}

func toProtoMoney(amount int64, c domain.Currency) *typesv1.Money {
	return &typesv1.Money{Currency: c.Code, AmountMinor: amount}
}

func toProtoQuote(q domain.Quote) *pricingv1.Quote {
	lines := make([]*pricingv1.QuoteLine, len(q.Lines))
	for i, l := range q.Lines {
		pids := make([]string, len(l.PlacementIDs))
		for j, p := range l.PlacementIDs {
			pids[j] = p.String()
		}
		lines[i] = &pricingv1.QuoteLine{
			VariantId:    l.VariantID.String(),
			Quantity:     l.Quantity,
			UnitPrice:    toProtoMoney(l.UnitPrice, q.Currency),
			Surcharges:   toProtoMoney(l.Surcharges, q.Currency),
			LineTotal:    toProtoMoney(l.LineTotal, q.Currency),
			PlacementIds: pids,
		}
	}
	opts := make([]*pricingv1.ShippingOption, len(q.ShippingOptions))
	for i, o := range q.ShippingOptions {
		opts[i] = &pricingv1.ShippingOption{Method: o.Method, Price: toProtoMoney(o.Price, q.Currency),
			DeliveryEstimate: toProtoEstimate(o.Estimate)}
	}
	return &pricingv1.Quote{
		QuoteId:          q.ID.String(),
		Lines:            lines,
		Subtotal:         toProtoMoney(q.Subtotal, q.Currency),
		Shipping:         toProtoMoney(q.Shipping, q.Currency),
		Discount:         toProtoMoney(q.Discount, q.Currency),
		Total:            toProtoMoney(q.Total, q.Currency),
		ExpiresAt:        timestamppb.New(q.ExpiresAt),
		CouponCode:       q.CouponCode,
		Currency:         q.Currency.Code,
		ShippingMethod:   q.ShippingMethod,
		DeliveryEstimate: toProtoEstimate(q.Estimate),
		ShippingOptions:  opts,
		Tax:              toProtoMoney(q.Tax, q.Currency),
		TaxIncluded:      q.TaxIncluded,
		TaxRateBp:        q.TaxRateBP,
	}
}

func toProtoEstimate(e domain.DeliveryEstimate) *typesv1.DeliveryEstimate {
	return &typesv1.DeliveryEstimate{MinDays: e.MinDays, MaxDays: e.MaxDays,
		EarliestDate: e.EarliestDate(), LatestDate: e.LatestDate()}
}

// toDomainCouponInput converts a proto coupon.
func toDomainCouponInput(c *pricingv1.Coupon) domain.CouponInput {
	in := domain.CouponInput{
		Code:        c.GetCode(),
		PercentBP:   c.GetPercentBp(),
		AmountOff:   toMoneyInput(c.GetAmountOff()),
		MinSubtotal: toMoneyInput(c.GetMinSubtotal()),
		UsageLimit:  c.GetUsageLimit(),

		PerCustomerLimit: c.GetPerCustomerLimit(),
	}
	switch c.GetKind() {
	case pricingv1.CouponKind_COUPON_KIND_PERCENT:
		in.Kind = domain.CouponPercent
	case pricingv1.CouponKind_COUPON_KIND_FIXED:
		in.Kind = domain.CouponFixed
	}
	if c.GetValidFrom() != nil {
		t := c.GetValidFrom().AsTime()
		in.ValidFrom = &t
	}
	if c.GetValidUntil() != nil {
		t := c.GetValidUntil().AsTime()
		in.ValidUntil = &t
	}
	return in
}

// toProtoCoupon converts a stored coupon, usage counter included.
func toProtoCoupon(c domain.Coupon) *pricingv1.Coupon {
	out := &pricingv1.Coupon{
		Code:       c.Code,
		PercentBp:  c.PercentBP,
		ValidFrom:  timestamppb.New(c.ValidFrom),
		ValidUntil: timestamppb.New(c.ValidUntil),
		UsageLimit: c.UsageLimit,
		Used:       c.Used,

		PerCustomerLimit: c.PerCustomerLimit,
	}
	switch c.Kind {
	case domain.CouponPercent:
		out.Kind = pricingv1.CouponKind_COUPON_KIND_PERCENT
	case domain.CouponFixed:
		out.Kind = pricingv1.CouponKind_COUPON_KIND_FIXED
		out.AmountOff = toProtoMoney(c.AmountOff.Amount, c.AmountOff.Currency)
	}
	if c.MinSubtotal != nil {
		out.MinSubtotal = toProtoMoney(c.MinSubtotal.Amount, c.MinSubtotal.Currency)
	}
	return out
}
