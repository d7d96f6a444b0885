package pricing

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/errs"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// Pricing's answers become the order's: a coupon over its limits is a
// CONFLICT naming the coupon (HTTP 409), other refusals of the request are
// INVALID, an outage is UNAVAILABLE.
func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		kind errs.Kind
		msg  string
	}{
		{status.Error(codes.Aborted, `coupon "X" has reached its usage limit of 100`), errs.Conflict, `coupon "X" has reached its usage limit of 100`},
		{status.Error(codes.Aborted, `coupon "X" has reached its limit of 1 per customer`), errs.Conflict, `coupon "X" has reached its limit of 1 per customer`},
		{status.Error(codes.FailedPrecondition, `coupon "X" expired at 2026-01-01T00:00:00Z`), errs.Invalid, `pricing refused the order: coupon "X" expired`},
		{status.Error(codes.Unavailable, "down"), errs.Unavailable, "pricing unavailable"},
	}
	for _, tc := range cases {
		err := classify(tc.err)
		if errs.KindOf(err) != tc.kind || !strings.Contains(errs.Status(err).Message(), tc.msg) {
			t.Errorf("%v: %v %q, want %v %q", tc.err, errs.KindOf(err), errs.Status(err).Message(), tc.kind, tc.msg)
		}
	}
}

// The quote's shipping method, delivery estimate and tax become the
// order's; a quote from before pricing set them converts to none and zero.
func TestToQuoteKeepsMethodEstimateAndTax(t *testing.T) {
	t.Parallel()
	usd := func(n int64) *typesv1.Money { return &typesv1.Money{Currency: "USD", AmountMinor: n} }
	q, err := ToQuote(&pricingv1.Quote{
		QuoteId: "q1", Subtotal: usd(1000), Shipping: usd(500), Discount: usd(0), Total: usd(1620), Tax: usd(120),
		ShippingMethod: "express", DeliveryEstimate: &typesv1.DeliveryEstimate{MinDays: 1, MaxDays: 2, EarliestDate: "2026-12-07", LatestDate: "2026-12-08"},
	}, "USD")
	if err != nil {
		t.Fatal(err)
	}
	if q.ShippingMethod != "express" || q.Tax.Amount() != 120 || q.TaxIncluded ||
		q.DeliveryEstimate != (domain.DeliveryEstimate{MinDays: 1, MaxDays: 2, EarliestDate: "2026-12-07", LatestDate: "2026-12-08"}) {
		t.Fatalf("quote: %+v", q)
	}
	q, err = ToQuote(&pricingv1.Quote{QuoteId: "q2", Subtotal: usd(1000), Total: usd(1000)}, "USD")
	if err != nil || q.ShippingMethod != "" || !q.DeliveryEstimate.IsZero() || q.Tax.Amount() != 0 || q.Tax.Currency() != "USD" {
		t.Fatalf("quote without them: %+v, %v", q, err)
	}
	if _, err := ToQuote(&pricingv1.Quote{QuoteId: "q3", Total: usd(1), Tax: &typesv1.Money{Currency: "EUR", AmountMinor: 1}}, "USD"); err == nil {
		t.Fatal("a tax in another currency was accepted")
	}
}
