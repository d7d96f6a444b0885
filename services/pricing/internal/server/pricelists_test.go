package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

const freshVariant = "0190d000-0000-7000-8000-0000000000f1"

func quoteVariant(t *testing.T, c pricingv1.PricingServiceClient, id, coupon string) (*pricingv1.Quote, error) {
	return c.CreateQuote(anon(t), &pricingv1.CreateQuoteRequest{
		Items:       []*pricingv1.QuoteItem{{VariantId: id, Quantity: 1}},
		CountryCode: "US", Currency: "USD", CouponCode: coupon,
	})
}

func TestPriceListsReadWriteAndDelete(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
	seed(t, in)
	ctx := as(t, principal.RoleAdmin)

	if _, err := quoteVariant(t, c, freshVariant, ""); err == nil {
		t.Fatal("a variant without a price was quoted")
	}
	if _, err := c.GetVariantPrices(ctx, &pricingv1.GetVariantPricesRequest{VariantId: freshVariant}); status.Code(err) != codes.NotFound {
		t.Fatalf("get before any price: %v", err)
	}
	if _, err := c.SetVariantPrices(ctx, &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{
		{VariantId: freshVariant, Region: "*", Price: usd(1500)}, {VariantId: freshVariant, Region: "GB", Price: money("GBP", 1200)},
	}}); err != nil {
		t.Fatal(err)
	}
	// The write refreshed this instance's snapshot: the quote sees it at once.
	q, err := quoteVariant(t, c, freshVariant, "")
	if err != nil || q.GetLines()[0].GetUnitPrice().GetAmountMinor() != 1500 {
		t.Fatalf("quote after the write: %v %v", q, err)
	}
	got, err := c.GetVariantPrices(ctx, &pricingv1.GetVariantPricesRequest{VariantId: freshVariant})
	if err != nil || len(got.GetPrices()) != 2 {
		t.Fatalf("get: %v %v", got, err)
	}
	for _, p := range got.GetPrices() {
		if p.GetSource() != pricingv1.VariantPriceSource_VARIANT_PRICE_SOURCE_ADMIN || p.GetUpdateTime() == nil {
			t.Errorf("price %v: want an admin price with its update time", p)
		}
	}
	all, err := c.ListVariantPrices(ctx, &pricingv1.ListVariantPricesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range all.GetPrices() {
		if p.GetVariantId() == freshVariant {
			n++
		}
	}
	if n != 2 || len(all.GetPrices()) < 3 {
		t.Fatalf("list has %d of the variant's prices among %d", n, len(all.GetPrices()))
	}

	del, err := c.DeleteVariantPrices(ctx, &pricingv1.DeleteVariantPricesRequest{VariantId: freshVariant, Region: "*"})
	if err != nil || del.GetDeleted() != 1 {
		t.Fatalf("delete: %v %v", del, err)
	}
	if _, err := quoteVariant(t, c, freshVariant, ""); err == nil {
		t.Fatal("a deleted price was still quoted")
	}
	if _, err := c.DeleteVariantPrices(ctx, &pricingv1.DeleteVariantPricesRequest{VariantId: freshVariant, Region: "*"}); status.Code(err) != codes.NotFound {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := c.DeleteVariantPrices(ctx, &pricingv1.DeleteVariantPricesRequest{VariantId: freshVariant, Region: "usa"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("delete with a bad region: %v", err)
	}
}

func TestCouponsCreateGetDeactivate(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
	seed(t, in)
	ctx := as(t, principal.RoleAdmin)
	now := time.Now()
	if _, err := c.SetVariantPrices(ctx, &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{
		{VariantId: freshVariant, Region: "*", Price: usd(2000)}}}); err != nil {
		t.Fatal(err)
	}
	for _, cp := range []*pricingv1.Coupon{
		{Code: "FLASH", Kind: pricingv1.CouponKind_COUPON_KIND_PERCENT, PercentBp: 1000,
			ValidFrom: timestamppb.New(now.Add(-time.Hour)), ValidUntil: timestamppb.New(now.Add(time.Hour))},
		{Code: "FLASH", Kind: pricingv1.CouponKind_COUPON_KIND_PERCENT, PercentBp: 2000,
			ValidFrom: timestamppb.New(now.Add(2 * time.Hour)), ValidUntil: timestamppb.New(now.Add(3 * time.Hour))},
	} {
		if _, err := c.CreateCoupon(ctx, &pricingv1.CreateCouponRequest{Coupon: cp}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := quoteVariant(t, c, freshVariant, "flash")
	if err != nil || q.GetDiscount().GetAmountMinor() != 200 {
		t.Fatalf("quote with the coupon: %v %v", q, err)
	}
	got, err := c.GetCoupon(ctx, &pricingv1.GetCouponRequest{Code: "flash"})
	if err != nil || len(got.GetCoupons()) != 2 {
		t.Fatalf("get: %v %v", got, err)
	}
	list, err := c.ListCoupons(ctx, &pricingv1.ListCouponsRequest{})
	if err != nil || len(list.GetCoupons()) < 3 {
		t.Fatalf("list: %v %v", list, err)
	}

	del, err := c.DeleteCoupon(ctx, &pricingv1.DeleteCouponRequest{Code: "Flash"})
	if err != nil || del.GetDeactivated() != 2 {
		t.Fatalf("deactivate: %v %v", del, err)
	}
	if _, err := quoteVariant(t, c, freshVariant, "FLASH"); err == nil {
		t.Fatal("a deactivated coupon still applies")
	}
	got, err = c.GetCoupon(ctx, &pricingv1.GetCouponRequest{Code: "FLASH"})
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range got.GetCoupons() {
		if cp.GetValidUntil().AsTime().After(time.Now()) || !cp.GetValidFrom().AsTime().Before(cp.GetValidUntil().AsTime()) {
			t.Errorf("coupon %v is still open", cp)
		}
	}
	if _, err := c.DeleteCoupon(ctx, &pricingv1.DeleteCouponRequest{Code: "FLASH"}); status.Code(err) != codes.NotFound {
		t.Fatalf("second deactivate: %v", err)
	}
	if _, err := c.GetCoupon(ctx, &pricingv1.GetCouponRequest{Code: "NOPE"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown code: %v", err)
	}
	// The code can be issued again after it was deactivated.
	if _, err := c.CreateCoupon(ctx, &pricingv1.CreateCouponRequest{Coupon: &pricingv1.Coupon{Code: "FLASH",
		Kind: pricingv1.CouponKind_COUPON_KIND_PERCENT, PercentBp: 500,
		ValidFrom: timestamppb.New(time.Now()), ValidUntil: timestamppb.New(time.Now().Add(time.Hour))}}); err != nil {
		t.Fatalf("re-issue: %v", err)
	}
}

func TestFxRatesList(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	_, c := start(t, url, false, 0)
	ctx := as(t, principal.RoleAdmin)
	if _, err := c.SetFxRates(ctx, &pricingv1.SetFxRatesRequest{Rates: []*pricingv1.FxRate{
		{Base: "USD", Quote: "EUR", Rate: "0.92"}, {Base: "EUR", Quote: "USD", Rate: "1.087"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ListFxRates(ctx, &pricingv1.ListFxRatesRequest{})
	if err != nil || len(got.GetRates()) != 2 || got.GetRates()[0].GetBase() != "EUR" || got.GetRates()[1].GetRate() != "0.92" {
		t.Fatalf("list: %v %v", got, err)
	}
}

func TestAdminReadsAndDeletesNeedTheAdminRole(t *testing.T) {
	t.Parallel()
	pool, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
	seed(t, in)
	calls := map[string]func(context.Context) error{
		"ListVariantPrices": func(ctx context.Context) error {
			_, err := c.ListVariantPrices(ctx, &pricingv1.ListVariantPricesRequest{})
			return err
		},
		"GetVariantPrices": func(ctx context.Context) error {
			_, err := c.GetVariantPrices(ctx, &pricingv1.GetVariantPricesRequest{VariantId: variant})
			return err
		},
		"DeleteVariantPrices": func(ctx context.Context) error {
			_, err := c.DeleteVariantPrices(ctx, &pricingv1.DeleteVariantPricesRequest{VariantId: variant})
			return err
		},
		"ListCoupons": func(ctx context.Context) error {
			_, err := c.ListCoupons(ctx, &pricingv1.ListCouponsRequest{})
			return err
		},
		"GetCoupon": func(ctx context.Context) error {
			_, err := c.GetCoupon(ctx, &pricingv1.GetCouponRequest{Code: "WELCOME10"})
			return err
		},
		"DeleteCoupon": func(ctx context.Context) error {
			_, err := c.DeleteCoupon(ctx, &pricingv1.DeleteCouponRequest{Code: "WELCOME10"})
			return err
		},
		"ListFxRates": func(ctx context.Context) error {
			_, err := c.ListFxRates(ctx, &pricingv1.ListFxRatesRequest{})
			return err
		},
	}
	refusedToNonAdmins(t, pool, calls)
}
