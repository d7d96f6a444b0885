package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/demo"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

const testSecret = "pricing-test-internal-secret"

var signer = func() *principal.Signer {
	s, err := principal.NewSigner(testSecret)
	if err != nil {
		panic(err)
	}
	return s
}()

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs a pricing instance on 127.0.0.1:0 against the database at url.
func start(t *testing.T, url string, listen bool, poll time.Duration, opts ...postgres.Option) (*Instance, pricingv1.PricingServiceClient) {
	t.Helper()
	cfg := Config{
		DBConfig:     DBConfig{PG: postgres.Config{URL: config.Secret(url), MaxConns: 4, ConnectTimeout: 5 * time.Second}},
		Config:       principal.Config{InternalSecret: testSecret},
		Listen:       listen,
		PollInterval: poll,
		Grace:        2 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	in, err := New(ctx, cfg, quietLog(), opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("instance: %v", err)
		}
	})
	return in, pricingv1.NewPricingServiceClient(conn)
}

func as(t testing.TB, roles ...string) context.Context {
	return signer.Outgoing(anon(t), principal.Principal{Subject: "alice", Roles: roles}, "req-test")
}

// anon is an unauthenticated call context with a deadline.
func anon(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func usd(amount int64) *typesv1.Money { return &typesv1.Money{Currency: "USD", AmountMinor: amount} }

func money(code string, amount int64) *typesv1.Money {
	return &typesv1.Money{Currency: code, AmountMinor: amount}
}

// dbState is every table's row count and the version: "nothing written"
// means it is unchanged.
func dbState(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT version FROM price_data_version`,
		`SELECT count(*) FROM variant_prices`, `SELECT count(*) FROM placement_surcharges`,
		`SELECT count(*) FROM shipping_rates`, `SELECT count(*) FROM coupons`,
		`SELECT count(*) FROM fx_rates`, `SELECT count(*) FROM placement_techniques`,
		`SELECT coalesce(sum(amount_minor), 0) FROM variant_prices`,
	} {
		var n int64
		if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s = %d; ", strings.TrimPrefix(q, "SELECT "), n)
	}
	return b.String()
}

// namesField reports whether err names field, in a BadRequest field
// violation or (protovalidate's errors) in its message.
func namesField(err error, field string) bool {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return true
				}
			}
		}
	}
	return strings.Contains(st.Message(), field)
}

var variant = "0190d000-0000-7000-8000-000000000001"

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
	// The same writes as an admin succeed.
	for name, call := range calls {
		if err := call(as(t, principal.RoleAdmin)); err != nil {
			t.Errorf("%s as admin: %v", name, err)
		}
	}
}

func seed(t *testing.T, in *Instance) {
	t.Helper()
	if _, err := demo.Seed(context.Background(), in.App); err != nil {
		t.Fatal(err)
	}
}

func demoItem(sku string, qty int32, placements ...string) *pricingv1.QuoteItem {
	return &pricingv1.QuoteItem{VariantId: demo.VariantID(sku).String(), Quantity: qty, PlacementIds: placements}
}

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

func TestSeedDemoIsIdempotent(t *testing.T) {
	t.Parallel()
	pool, url := pgtest.NewDB(t, store.Migrations)
	in, _ := start(t, url, false, 0)
	first, err := demo.Seed(context.Background(), in.App)
	if err != nil {
		t.Fatal(err)
	}
	if first.Prices != 100+15 || first.Surcharges != 6 || first.Shipping != 6 || first.Fx != 5 || first.CouponsCreated != 3 || first.Placements != 34 {
		t.Fatalf("first seed: %+v", first)
	}
	state := dbState(t, pool)
	second, err := demo.Seed(context.Background(), in.App)
	if err != nil {
		t.Fatal(err)
	}
	if second != (demo.Summary{}) {
		t.Fatalf("second seed changed %+v", second)
	}
	if after := dbState(t, pool); after != state {
		t.Fatalf("second seed wrote:\nbefore %s\nafter  %s", state, after)
	}
	var out bytes.Buffer
	if err := PrintCoupons(context.Background(), in.App, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"WELCOME10", "SUMMER5", "FIRST100", "unlimited", "2024-09-01T00:00:00Z"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("coupon table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestUsedUpCouponIsRefused(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
	seed(t, in)
	now := time.Now()
	created, err := c.CreateCoupon(as(t, principal.RoleAdmin), &pricingv1.CreateCouponRequest{Coupon: &pricingv1.Coupon{
		Code: "once", Kind: pricingv1.CouponKind_COUPON_KIND_FIXED, AmountOff: usd(300), UsageLimit: 1,
		ValidFrom: timestamppb.New(now.Add(-time.Minute)), ValidUntil: timestamppb.New(now.Add(time.Hour)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetCode() != "ONCE" || created.GetUsed() != 0 || created.GetUsageLimit() != 1 {
		t.Fatalf("created %v", created)
	}
	req := &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)}, CountryCode: "US", Currency: "USD", CouponCode: "ONCE"}
	if q, err := c.CreateQuote(anon(t), req); err != nil || q.GetDiscount().GetAmountMinor() != 300 {
		t.Fatalf("before redemption: %v %v", q, err)
	}
	svcCtx := principal.With(context.Background(), principal.Principal{Subject: "service:orders", Roles: []string{principal.RoleService}})
	if _, err := in.App.RedeemCoupon(svcCtx, "once", "order-1"); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateQuote(anon(t), req)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), `coupon "ONCE" has reached its usage limit of 1`) {
		t.Fatalf("after redemption: %v", err)
	}
	userCtx := principal.With(context.Background(), principal.Principal{Subject: "bob", Roles: []string{principal.RoleUser}})
	if _, err := in.App.RedeemCoupon(userCtx, "once", "order-2"); errs.KindOf(err) != errs.PermissionDenied {
		t.Fatalf("user redemption: %v", err)
	}
}

// TestWarmQuotesSendNoQueries proves the hot path never touches PostgreSQL:
// the instance's pool counts every query; after the first load, hundreds of
// quotes (priced and refused alike) add none. The poll is disabled here
// because it is the one background reader; LISTEN waits without querying.
func TestWarmQuotesSendNoQueries(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	counter := &postgres.Counter{}
	in, c := start(t, url, true, 0, postgres.WithTracer(counter))
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
}

func quoteTotal(t testing.TB, c pricingv1.PricingServiceClient, sku string) (int64, error) {
	q, err := c.CreateQuote(anon(t), &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem(sku, 1)}, CountryCode: "FR", Currency: "USD"})
	if err != nil {
		return 0, err
	}
	return q.GetLines()[0].GetUnitPrice().GetAmountMinor(), nil
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

func waitFor(t *testing.T, c pricingv1.PricingServiceClient, sku string, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got int64
	var err error
	for time.Now().Before(deadline) {
		if got, err = quoteTotal(t, c, sku); err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after %v the other instance still quotes %d (%v), want %d", within, got, err, want)
}
