package server

import (
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/demo"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

func TestDemoQuotesOverGRPC(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
	seed(t, in)
	ctx := anon(t) // quotes are public

	// 2 × TEE-UNI-WHT-M to DE in EUR with WELCOME10: 12.99 USD × 0.92 =
	// 11.9508 → 11.95 EUR; shipping 5.49 + 2.00 EUR; 10 % of 23.90 = 2.39.
	q, err := c.CreateQuote(ctx, &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("TEE-UNI-WHT-M", 2)},
		CountryCode: "DE", Currency: "EUR", CouponCode: "welcome10"})
	if err != nil {
		t.Fatal(err)
	}
	if q.GetLines()[0].GetUnitPrice().GetAmountMinor() != 1195 || q.GetSubtotal().GetAmountMinor() != 2390 ||
		q.GetShipping().GetAmountMinor() != 749 || q.GetDiscount().GetAmountMinor() != 239 || q.GetTotal().GetAmountMinor() != 2900 {
		t.Fatalf("quote %v", q)
	}
	if q.GetCurrency() != "EUR" || q.GetTotal().GetCurrency() != "EUR" || q.GetCouponCode() != "WELCOME10" {
		t.Fatalf("quote %v", q)
	}
	if ttl := time.Until(q.GetExpiresAt().AsTime()); ttl < 14*time.Minute || ttl > 16*time.Minute {
		t.Fatalf("expires in %v", ttl)
	}
	if len(q.GetQuoteId()) != 36 || q.GetQuoteId()[14] != '7' {
		t.Fatalf("quote id %q is not a UUIDv7", q.GetQuoteId())
	}

	// The GB regional price list: the same tee to GB in GBP is £10.99, not
	// a conversion of the USD price; shipping 4.49 + 3 × 1.50.
	q, err = c.CreateQuote(ctx, &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("TEE-UNI-WHT-M", 4)},
		CountryCode: "GB", Currency: "GBP"})
	if err != nil {
		t.Fatal(err)
	}
	if q.GetLines()[0].GetUnitPrice().GetAmountMinor() != 1099 || q.GetShipping().GetAmountMinor() != 449+3*150 || q.GetTotal().GetAmountMinor() != 4396+899 {
		t.Fatalf("quote %v", q)
	}

	// A pillow printed on both sides to the US: the back is the extra
	// placement and the placement table says sublimation (4.00, not the
	// default dtg 5.00); shipping 4.99.
	front, back := demo.PlacementID("pillow-18", "front").String(), demo.PlacementID("pillow-18", "back").String()
	q, err = c.CreateQuote(ctx, &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("PIL-18-WHT-OS", 1, front, back)},
		CountryCode: "US", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	if l := q.GetLines()[0]; l.GetUnitPrice().GetAmountMinor() != 2499 || l.GetSurcharges().GetAmountMinor() != 400 ||
		l.GetLineTotal().GetAmountMinor() != 2899 || q.GetTotal().GetAmountMinor() != 3398 {
		t.Fatalf("quote %v", q)
	}

	// JPY has no minor unit: a mug to Japan, 8.99 USD × 151.25 = 1359.7375 →
	// 1360; rest-of-world shipping 12.99 × 151.25 = 1964.7375 → 1965.
	q, err = c.CreateQuote(ctx, &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)},
		CountryCode: "JP", Currency: "JPY"})
	if err != nil {
		t.Fatal(err)
	}
	if q.GetSubtotal().GetAmountMinor() != 1360 || q.GetShipping().GetAmountMinor() != 1965 || q.GetTotal().GetAmountMinor() != 3325 {
		t.Fatalf("quote %v", q)
	}

	errCases := []struct {
		name  string
		req   *pricingv1.CreateQuoteRequest
		code  codes.Code
		field string
		text  string
	}{
		{"expired coupon", &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("TEE-UNI-WHT-M", 5)}, CountryCode: "US", Currency: "USD", CouponCode: "SUMMER5"},
			codes.FailedPrecondition, "coupon_code", `coupon "SUMMER5" expired at 2024-09-01T00:00:00Z`},
		{"below minimum", &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)}, CountryCode: "US", Currency: "USD", CouponCode: "WELCOME10"},
			codes.FailedPrecondition, "coupon_code", `coupon "WELCOME10" needs a subtotal of at least 20.00 USD; this subtotal is 8.99 USD`},
		{"unknown coupon", &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)}, CountryCode: "US", Currency: "USD", CouponCode: "FREE"},
			codes.InvalidArgument, "coupon_code", `unknown coupon "FREE"`},
		{"unknown variant", &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1), demoItem("NO-SUCH-SKU", 1)}, CountryCode: "US", Currency: "USD"},
			codes.InvalidArgument, "items[1].variant_id", "no price for variant " + demo.VariantID("NO-SUCH-SKU").String()},
		{"unsupported currency", &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)}, CountryCode: "US", Currency: "XYZ"},
			codes.InvalidArgument, "currency", `unsupported currency "XYZ"`},
		{"no FX rate", &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)}, CountryCode: "US", Currency: "SEK"},
			codes.FailedPrecondition, "", "no FX rate to SEK"},
		{"proto validation", &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{{VariantId: "nope", Quantity: 1}}, CountryCode: "US", Currency: "USD"},
			codes.InvalidArgument, "items[0].variant_id", ""},
	}
	for _, tt := range errCases {
		_, err := c.CreateQuote(ctx, tt.req)
		if status.Code(err) != tt.code || (tt.field != "" && !namesField(err, tt.field)) || !strings.Contains(status.Convert(err).Message(), tt.text) {
			t.Errorf("%s: got %v (%v), want %v naming %q with %q", tt.name, status.Code(err), err, tt.code, tt.field, tt.text)
		}
	}
}

// TestWarmQuotesSendNoQueries proves the hot path never touches PostgreSQL:
// the instance's pool counts every query; after the first load, hundreds of
// quotes (priced and refused alike) add none. The watchers are off here:
// the poll and the LISTEN subscription's catch-up are background readers
// that may run at any moment, and they are not the hot path.
func TestWarmQuotesSendNoQueries(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	counter := &postgres.Counter{}
	in, c := start(t, url, false, 0, postgres.WithTracer(counter))
	seed(t, in)
	reqs := []*pricingv1.CreateQuoteRequest{
		{Items: []*pricingv1.QuoteItem{demoItem("TEE-UNI-WHT-M", 2), demoItem("MUG-15-WHT-OS", 1)}, CountryCode: "DE", Currency: "EUR", CouponCode: "WELCOME10"},
		{Items: []*pricingv1.QuoteItem{demoItem("CAP-DAD-BLK-OS", 3)}, CountryCode: "GB", Currency: "GBP", ShippingMethod: "express"},
		{Items: []*pricingv1.QuoteItem{demoItem("BAG-TOT-NAT-OS", 1)}, CountryCode: "US", Currency: "USD", CouponCode: "SUMMER5"}, // refused
		{Items: []*pricingv1.QuoteItem{demoItem("NO-SUCH-SKU", 1)}, CountryCode: "US", Currency: "USD"},                           // refused
		{Items: []*pricingv1.QuoteItem{demoItem("HOD-PUL-BLK-XL", 10)}, CountryCode: "JP", Currency: "JPY", CouponCode: "FIRST100"},
	}
	// Warm: the first quote after the seed.
	if _, err := c.CreateQuote(anon(t), reqs[0]); err != nil {
		t.Fatal(err)
	}
	before := counter.Count()
	if before == 0 {
		t.Fatal("the counter saw no queries at all: it is not wired to the instance's pool")
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				_, err := c.CreateQuote(anon(t), reqs[(w+i)%len(reqs)])
				if code := status.Code(err); code != codes.OK && code != codes.FailedPrecondition && code != codes.InvalidArgument {
					t.Errorf("quote: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if after := counter.Count(); after != before {
		t.Fatalf("400 warm quotes sent %d queries to PostgreSQL, want 0", after-before)
	}
	// The public rate tables are read from the same snapshot.
	for range 20 {
		sr, err := c.ListShippingRates(anon(t), &pricingv1.ListShippingRatesRequest{CountryCode: "DE"})
		if err != nil || len(sr.GetRates()) == 0 {
			t.Fatalf("shipping rates to DE: %v %v", sr, err)
		}
		tr, err := c.ListTaxRates(anon(t), &pricingv1.ListTaxRatesRequest{})
		if err != nil || len(tr.GetRates()) == 0 {
			t.Fatalf("tax rates: %v %v", tr, err)
		}
	}
	if after := counter.Count(); after != before {
		t.Fatalf("20 reads of the shipping and tax rates sent %d queries to PostgreSQL, want 0", after-before)
	}
}

// A price written through instance A is quoted by instance B shortly after:
// by LISTEN/NOTIFY, and by the version poll alone when B does not listen.
func TestWriteOnOneInstanceIsSeenByAnother(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name   string
		listen bool
		poll   time.Duration
		within time.Duration
	}{
		{"notify", true, 0, 3 * time.Second},
		{"poll", false, 100 * time.Millisecond, 3 * time.Second},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			_, url := pgtest.NewDB(t, store.Migrations)
			a, ca := start(t, url, false, 0)
			_, cb := start(t, url, mode.listen, mode.poll)
			seed(t, a)
			waitFor(t, cb, "TEE-UNI-BLK-S", 1299, 10*time.Second) // B caught up with the seed
			written := time.Now()
			if _, err := ca.SetVariantPrices(as(t, principal.RoleAdmin), &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{
				{VariantId: demo.VariantID("TEE-UNI-BLK-S").String(), Region: "*", Price: usd(1333)}}}); err != nil {
				t.Fatal(err)
			}
			// A reads its own write at once.
			if got, err := quoteTotal(t, ca, "TEE-UNI-BLK-S"); err != nil || got != 1333 {
				t.Fatalf("writer instance quotes %d (%v)", got, err)
			}
			waitFor(t, cb, "TEE-UNI-BLK-S", 1333, mode.within)
			t.Logf("%s: other instance saw the write after %v", mode.name, time.Since(written).Round(time.Millisecond))
		})
	}
}
