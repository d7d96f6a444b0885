// Package pricing is the orders service's client of pricing: one quote per
// order, converted to what app needs.
package pricing

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/printfleet/printfleet/platform/errs"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// Client implements app.Pricing over gRPC.
type Client struct {
	c pricingv1.PricingServiceClient
}

var _ app.Pricing = (*Client)(nil)

// New returns a client on cc (dialled with platform/grpcclient).
func New(cc grpc.ClientConnInterface) *Client {
	return &Client{c: pricingv1.NewPricingServiceClient(cc)}
}

// CreateQuote implements app.Pricing: an order being placed with a coupon
// (r.OrderKey set) is priced by CreateOrderQuote, which redeems the coupon;
// any other quote stays on pricing's in-memory path.
func (c *Client) CreateQuote(ctx context.Context, r app.QuoteRequest) (app.Quote, error) {
	req := &pricingv1.CreateQuoteRequest{
		CountryCode: r.CountryCode, Currency: r.Currency, CouponCode: r.CouponCode,
		ShippingMethod: r.ShippingMethod, Region: r.Region,
	}
	for _, it := range r.Items {
		req.Items = append(req.Items, &pricingv1.QuoteItem{VariantId: it.VariantID, Quantity: it.Quantity, PlacementIds: it.PlacementIDs})
	}
	var (
		q   *pricingv1.Quote
		err error
	)
	if r.OrderKey != "" && r.CouponCode != "" {
		q, err = c.c.CreateOrderQuote(ctx, &pricingv1.CreateOrderQuoteRequest{Quote: req, OrderKey: r.OrderKey, OrderId: r.OrderID})
	} else {
		q, err = c.c.CreateQuote(ctx, req)
	}
	if err != nil {
		return app.Quote{}, classify(err)
	}
	out, err := ToQuote(q, r.Currency)
	if err != nil {
		return app.Quote{}, errs.Wrap(errs.Internal, err, "pricing returned an unusable quote")
	}
	return out, nil
}

func classify(err error) error {
	switch errs.KindOf(err) {
	case errs.Conflict:
		// A coupon at its usage limit or its limit per customer: the
		// message names the coupon.
		return errs.Wrap(errs.Conflict, err, statusMessage(err))
	case errs.Invalid, errs.NotFound, errs.FailedPrecondition:
		// e.g. an unknown coupon or a destination with no shipping rate.
		return errs.Wrap(errs.Invalid, err, "pricing refused the order: "+statusMessage(err))
	case errs.Unavailable, errs.DeadlineExceeded, errs.ResourceExhausted:
		return errs.Wrap(errs.Unavailable, err, "pricing unavailable; retry")
	}
	return errs.Wrap(errs.Internal, err, "pricing failed")
}

func statusMessage(err error) string {
	if s := errs.Status(err); s != nil {
		return s.Message()
	}
	return "invalid request"
}

// ToQuote converts a quote, refusing one in another currency.
func ToQuote(q *pricingv1.Quote, currency string) (app.Quote, error) {
	conv := func(name string, m *typesv1.Money) (domain.Money, error) {
		if m == nil {
			return domain.NewMoney(0, currency)
		}
		if m.GetCurrency() != currency {
			return domain.Money{}, fmt.Errorf("quote %s: %s in %q, asked for %q", q.GetQuoteId(), name, m.GetCurrency(), currency)
		}
		return domain.NewMoney(m.GetAmountMinor(), currency)
	}
	if q.GetTotal() == nil {
		return app.Quote{}, fmt.Errorf("quote %s has no total", q.GetQuoteId())
	}
	out := app.Quote{ID: q.GetQuoteId()}
	var err error
	if out.Subtotal, err = conv("subtotal", q.GetSubtotal()); err != nil {
		return app.Quote{}, err
	}
	if out.Shipping, err = conv("shipping", q.GetShipping()); err != nil {
		return app.Quote{}, err
	}
	if out.Discount, err = conv("discount", q.GetDiscount()); err != nil {
		return app.Quote{}, err
	}
	if out.Total, err = conv("total", q.GetTotal()); err != nil {
		return app.Quote{}, err
	}
	if out.Tax, err = conv("tax", q.GetTax()); err != nil {
		return app.Quote{}, err
	}
	out.TaxIncluded, out.ShippingMethod = q.GetTaxIncluded(), q.GetShippingMethod()
	if e := q.GetDeliveryEstimate(); e != nil {
		out.DeliveryEstimate = domain.DeliveryEstimate{MinDays: e.GetMinDays(), MaxDays: e.GetMaxDays(),
			EarliestDate: e.GetEarliestDate(), LatestDate: e.GetLatestDate()}
	}
	for _, l := range q.GetLines() {
		up, err := conv("unit_price", l.GetUnitPrice())
		if err != nil {
			return app.Quote{}, err
		}
		lt, err := conv("line_total", l.GetLineTotal())
		if err != nil {
			return app.Quote{}, err
		}
		out.Lines = append(out.Lines, app.QuoteLine{VariantID: l.GetVariantId(), Quantity: l.GetQuantity(), UnitPrice: up, LineTotal: lt})
	}
	return out, nil
}
