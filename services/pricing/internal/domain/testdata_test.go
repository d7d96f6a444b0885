package domain

import (
	"math/big"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
)

func cur(t testing.TB, code string) Currency {
	t.Helper()
	c, ok := LookupCurrency(code)
	if !ok {
		t.Fatalf("currency %s", code)
	}
	return c
}

func price(t testing.TB, code string, amount int64) Price {
	return Price{Currency: cur(t, code), Amount: amount}
}

func rat(t testing.TB, s string) *big.Rat {
	t.Helper()
	r, err := ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	tee       = uuid.MustParse("0190a000-0000-7000-8000-000000000001")
	mug       = uuid.MustParse("0190a000-0000-7000-8000-000000000002")
	gbOnly    = uuid.MustParse("0190a000-0000-7000-8000-000000000003")
	sekOnly   = uuid.MustParse("0190a000-0000-7000-8000-000000000004")
	front     = uuid.MustParse("0190b000-0000-7000-8000-000000000001")
	back      = uuid.MustParse("0190b000-0000-7000-8000-000000000002")
	sleeve    = uuid.MustParse("0190b000-0000-7000-8000-000000000003")
	sublPl    = uuid.MustParse("0190b000-0000-7000-8000-000000000004")
	unknownPl = uuid.MustParse("0190b000-0000-7000-8000-0000000000ff")
	t0        = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// fixture is a small, hand-checkable data set.
func fixture(t testing.TB) *Snapshot {
	t.Helper()
	d := Data{
		Version: 7,
		Prices: []VariantPrice{
			{tee, "*", price(t, "USD", 1250)},
			{tee, "US", price(t, "USD", 1199)},
			{tee, "GB", price(t, "GBP", 1050)},
			{mug, "*", price(t, "USD", 799)},
			{gbOnly, "GB", price(t, "GBP", 500)},
			{sekOnly, "*", price(t, "SEK", 10000)},
		},
		Surcharges: []Surcharge{
			{"dtg", price(t, "USD", 500)},
			{"embroidery", price(t, "USD", 700)},
			{"embroidery", price(t, "EUR", 650)},
			{"screen", price(t, "USD", 350)},
		},
		Shipping: []ShippingRate{
			{"standard", "US", cur(t, "USD"), 499, 199, 3, 7},
			{"standard", "GB", cur(t, "GBP"), 399, 150, 3, 7},
			{"standard", "*", cur(t, "USD"), 1499, 499, 5, 10},
			{"express", "US", cur(t, "USD"), 1299, 399, 1, 3},
		},
		Coupons: []Coupon{
			{ID: uuid.New(), Code: "TENOFF", Kind: CouponPercent, PercentBP: 1000, ValidFrom: t0.Add(-24 * time.Hour), ValidUntil: t0.Add(24 * time.Hour)},
			{ID: uuid.New(), Code: "FIVE", Kind: CouponFixed, AmountOff: price(t, "USD", 500), ValidFrom: t0.Add(-time.Hour), ValidUntil: t0.Add(time.Hour),
				MinSubtotal: &Price{cur(t, "USD"), 2000}},
			{ID: uuid.New(), Code: "BIG", Kind: CouponFixed, AmountOff: price(t, "USD", 1_000_000), ValidFrom: t0.Add(-time.Hour), ValidUntil: t0.Add(time.Hour)},
			{ID: uuid.New(), Code: "OLD", Kind: CouponPercent, PercentBP: 500, ValidFrom: t0.Add(-48 * time.Hour), ValidUntil: t0.Add(-24 * time.Hour)},
			{ID: uuid.New(), Code: "SOON", Kind: CouponPercent, PercentBP: 500, ValidFrom: t0.Add(24 * time.Hour), ValidUntil: t0.Add(48 * time.Hour)},
			{ID: uuid.New(), Code: "DONE", Kind: CouponPercent, PercentBP: 500, ValidFrom: t0.Add(-time.Hour), ValidUntil: t0.Add(time.Hour), UsageLimit: 3, Used: 3},
			// Same code, two windows: expired, then current.
			{ID: uuid.New(), Code: "SEASON", Kind: CouponPercent, PercentBP: 100, ValidFrom: t0.Add(-72 * time.Hour), ValidUntil: t0.Add(-48 * time.Hour)},
			{ID: uuid.New(), Code: "SEASON", Kind: CouponPercent, PercentBP: 200, ValidFrom: t0.Add(-time.Hour), ValidUntil: t0.Add(time.Hour)},
		},
		Fx: []FxRate{
			{cur(t, "USD"), cur(t, "EUR"), rat(t, "0.92")},
			{cur(t, "USD"), cur(t, "GBP"), rat(t, "0.79")},
			{cur(t, "USD"), cur(t, "JPY"), rat(t, "151.25")},
		},
		Placements: []PlacementTechnique{{back, "embroidery"}, {sleeve, "screen"}, {sublPl, "sublimation"}},
	}
	return NewSnapshot(d, t0)
}

func kindOf(err error) errs.Kind { return errs.KindOf(err) }

func violationField(err error) string {
	if e, ok := err.(*errs.Error); ok && len(e.Violations) > 0 {
		return e.Violations[0].Field
	}
	return ""
}
