package server

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

func TestAdminWritesRefuseBadInputAndWriteNothing(t *testing.T) {
	t.Parallel()
	pool, url := pgtest.NewDB(t, store.Migrations)
	_, c := start(t, url, false, 0)
	ctx := as(t, principal.RoleAdmin)
	// One good coupon exists, so an overlapping window has something to hit.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := c.CreateCoupon(ctx, &pricingv1.CreateCouponRequest{Coupon: &pricingv1.Coupon{
		Code: "SPRING", Kind: pricingv1.CouponKind_COUPON_KIND_PERCENT, PercentBp: 1000,
		ValidFrom: timestamppb.New(t0), ValidUntil: timestamppb.New(t0.Add(30 * 24 * time.Hour)),
	}}); err != nil {
		t.Fatal(err)
	}
	good := &pricingv1.VariantPrice{VariantId: variant, Region: "*", Price: usd(1250)}
	coupon := func(mut func(*pricingv1.Coupon)) *pricingv1.CreateCouponRequest {
		cp := &pricingv1.Coupon{Code: "NEW", Kind: pricingv1.CouponKind_COUPON_KIND_PERCENT, PercentBp: 500,
			ValidFrom: timestamppb.New(t0), ValidUntil: timestamppb.New(t0.Add(time.Hour))}
		mut(cp)
		return &pricingv1.CreateCouponRequest{Coupon: cp}
	}
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"negative price", func() error {
			_, err := c.SetVariantPrices(ctx, &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{good,
				{VariantId: variant, Region: "US", Price: usd(-1)}}})
			return err
		}, "prices[1].price.amount_minor"},
		{"unknown currency", func() error {
			_, err := c.SetVariantPrices(ctx, &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{good,
				{VariantId: variant, Region: "US", Price: money("XXX", 100)}}})
			return err
		}, "prices[1].price.currency"},
		{"malformed region", func() error {
			_, err := c.SetVariantPrices(ctx, &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{good,
				{VariantId: variant, Region: "usa", Price: usd(100)}}})
			return err
		}, "prices[1].region"},
		{"missing price", func() error {
			_, err := c.SetVariantPrices(ctx, &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{good,
				{VariantId: variant, Region: "US"}}})
			return err
		}, "prices[1].price"},
		{"duplicate row", func() error {
			_, err := c.SetVariantPrices(ctx, &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{good, good}})
			return err
		}, "prices[1]"},
		{"surcharge technique", func() error {
			_, err := c.SetPlacementSurcharges(ctx, &pricingv1.SetPlacementSurchargesRequest{Surcharges: []*pricingv1.PlacementSurcharge{
				{Technique: "dtg", Price: usd(500)}, {Technique: "silk screen", Price: usd(400)}}})
			return err
		}, "surcharges[1].technique"},
		{"negative surcharge", func() error {
			_, err := c.SetPlacementSurcharges(ctx, &pricingv1.SetPlacementSurchargesRequest{Surcharges: []*pricingv1.PlacementSurcharge{
				{Technique: "dtg", Price: usd(-500)}}})
			return err
		}, "surcharges[0].price.amount_minor"},
		{"shipping currencies differ", func() error {
			_, err := c.SetShippingRates(ctx, &pricingv1.SetShippingRatesRequest{Rates: []*pricingv1.ShippingRate{
				{Method: "standard", CountryCode: "US", FirstItem: usd(499), AdditionalItem: money("EUR", 199)}}})
			return err
		}, "rates[0].additional_item.currency"},
		{"fx unknown currency", func() error {
			_, err := c.SetFxRates(ctx, &pricingv1.SetFxRatesRequest{Rates: []*pricingv1.FxRate{
				{Base: "USD", Quote: "EUR", Rate: "0.92"}, {Base: "USD", Quote: "ABC", Rate: "1.5"}}})
			return err
		}, "rates[1].quote"},
		{"fx zero rate", func() error {
			_, err := c.SetFxRates(ctx, &pricingv1.SetFxRatesRequest{Rates: []*pricingv1.FxRate{{Base: "USD", Quote: "EUR", Rate: "0.0"}}})
			return err
		}, "rates[0].rate"},
		{"fx same currency", func() error {
			_, err := c.SetFxRates(ctx, &pricingv1.SetFxRatesRequest{Rates: []*pricingv1.FxRate{{Base: "USD", Quote: "USD", Rate: "1"}}})
			return err
		}, "rates[0].quote"},
		{"fx float syntax", func() error {
			_, err := c.SetFxRates(ctx, &pricingv1.SetFxRatesRequest{Rates: []*pricingv1.FxRate{{Base: "USD", Quote: "EUR", Rate: "9.2e-1"}}})
			return err
		}, "rates[0].rate"},
		{"coupon overlapping window", func() error {
			_, err := c.CreateCoupon(ctx, coupon(func(cp *pricingv1.Coupon) {
				cp.Code = "spring" // codes are case-insensitive
				cp.ValidFrom = timestamppb.New(t0.Add(24 * time.Hour))
				cp.ValidUntil = timestamppb.New(t0.Add(60 * 24 * time.Hour))
			}))
			return err
		}, "coupon.valid_from"},
		{"coupon window reversed", func() error {
			_, err := c.CreateCoupon(ctx, coupon(func(cp *pricingv1.Coupon) { cp.ValidUntil = timestamppb.New(t0.Add(-time.Hour)) }))
			return err
		}, "coupon.valid_until"},
		{"percent coupon without percent", func() error {
			_, err := c.CreateCoupon(ctx, coupon(func(cp *pricingv1.Coupon) { cp.PercentBp = 0 }))
			return err
		}, "coupon.percent_bp"},
		{"fixed coupon without amount", func() error {
			_, err := c.CreateCoupon(ctx, coupon(func(cp *pricingv1.Coupon) { cp.Kind, cp.PercentBp = pricingv1.CouponKind_COUPON_KIND_FIXED, 0 }))
			return err
		}, "coupon.amount_off"},
		{"fixed coupon with unknown currency", func() error {
			_, err := c.CreateCoupon(ctx, coupon(func(cp *pricingv1.Coupon) {
				cp.Kind, cp.PercentBp, cp.AmountOff = pricingv1.CouponKind_COUPON_KIND_FIXED, 0, money("ZZZ", 500)
			}))
			return err
		}, "coupon.amount_off.currency"},
		{"negative minimum subtotal", func() error {
			_, err := c.CreateCoupon(ctx, coupon(func(cp *pricingv1.Coupon) { cp.MinSubtotal = usd(-1) }))
			return err
		}, "coupon.min_subtotal.amount_minor"},
		{"coupon kind unspecified", func() error {
			_, err := c.CreateCoupon(ctx, coupon(func(cp *pricingv1.Coupon) { cp.Kind = pricingv1.CouponKind_COUPON_KIND_UNSPECIFIED }))
			return err
		}, "coupon.kind"},
	}
	before := dbState(t, pool)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code = %v, want InvalidArgument (%v)", status.Code(err), err)
			}
			if !namesField(err, tt.field) {
				t.Fatalf("error does not name %s: %v", tt.field, err)
			}
			if after := dbState(t, pool); after != before {
				t.Fatalf("something was written:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestAdminWritesNeedTheAdminRole(t *testing.T) {
	t.Parallel()
	pool, url := pgtest.NewDB(t, store.Migrations)
	_, c := start(t, url, false, 0)
	now := time.Now()
	calls := map[string]func(context.Context) error{
		"SetVariantPrices": func(ctx context.Context) error {
			_, err := c.SetVariantPrices(ctx, &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{{VariantId: variant, Region: "*", Price: usd(1)}}})
			return err
		},
		"SetPlacementSurcharges": func(ctx context.Context) error {
			_, err := c.SetPlacementSurcharges(ctx, &pricingv1.SetPlacementSurchargesRequest{Surcharges: []*pricingv1.PlacementSurcharge{{Technique: "dtg", Price: usd(1)}}})
			return err
		},
		"SetShippingRates": func(ctx context.Context) error {
			_, err := c.SetShippingRates(ctx, &pricingv1.SetShippingRatesRequest{Rates: []*pricingv1.ShippingRate{{Method: "standard", CountryCode: "*", FirstItem: usd(1), AdditionalItem: usd(1)}}})
			return err
		},
		"CreateCoupon": func(ctx context.Context) error {
			_, err := c.CreateCoupon(ctx, &pricingv1.CreateCouponRequest{Coupon: &pricingv1.Coupon{Code: "X", Kind: pricingv1.CouponKind_COUPON_KIND_PERCENT, PercentBp: 1,
				ValidFrom: timestamppb.New(now), ValidUntil: timestamppb.New(now.Add(time.Hour))}})
			return err
		},
		"SetFxRates": func(ctx context.Context) error {
			_, err := c.SetFxRates(ctx, &pricingv1.SetFxRatesRequest{Rates: []*pricingv1.FxRate{{Base: "USD", Quote: "EUR", Rate: "0.9"}}})
			return err
		},
	}
	refusedToNonAdmins(t, pool, calls)
	// The same writes as an admin succeed.
	for name, call := range calls {
		if err := call(as(t, principal.RoleAdmin)); err != nil {
			t.Errorf("%s as admin: %v", name, err)
		}
	}
}

// refusedToNonAdmins checks every call is refused to a user, to a caller
// with every role but admin, and to an anonymous caller, and that none of
// them wrote anything.
func refusedToNonAdmins(t *testing.T, pool *pgxpool.Pool, calls map[string]func(context.Context) error) {
	t.Helper()
	before := dbState(t, pool)
	for name, call := range calls {
		for _, who := range []struct {
			ctx  context.Context
			want codes.Code
		}{
			{as(t, principal.RoleUser), codes.PermissionDenied},
			{as(t, principal.RoleUser, principal.RoleFulfillment, principal.RoleService), codes.PermissionDenied},
			{anon(t), codes.Unauthenticated},
		} {
			if err := call(who.ctx); status.Code(err) != who.want {
				t.Errorf("%s: code = %v, want %v (%v)", name, status.Code(err), who.want, err)
			}
		}
	}
	if after := dbState(t, pool); after != before {
		t.Fatalf("something was written:\nbefore %s\nafter  %s", before, after)
	}
}
