package domain

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
)

// world is a randomly generated data set plus what a generator needs to
// draw valid requests from it.
type world struct {
	snap       *Snapshot
	variants   []uuid.UUID
	placements []uuid.UUID
	coupons    []string // valid now, no minimum
	expired    []string
	currencies []string
	countries  []string
	now        time.Time
}

func randID(rng *rand.Rand) uuid.UUID {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(rng.UintN(256))
	}
	return u
}

// genWorld: prices in USD/EUR/GBP/JPY across "*" and a few countries,
// surcharges, shipping with a catch-all, FX from USD to every other currency
// (so any price converts to any quote currency either directly, inversely,
// or not at all — the generator keeps only convertible combinations).
func genWorld(t testing.TB, rng *rand.Rand) world {
	w := world{
		currencies: []string{"USD", "EUR", "GBP", "JPY"},
		countries:  []string{"US", "GB", "DE", "FR", "JP"},
		now:        time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))),
	}
	d := Data{Version: rng.Int64N(1000)}
	usd := cur(t, "USD")
	// Every currency is quoted from USD, so any pair converts via USD only when
	// one side is USD: keep all stored prices in USD or the quote currency.
	for _, code := range w.currencies[1:] {
		r := big.NewRat(1+rng.Int64N(2_000_000_000_000), 1_000_000_000) // up to 2000, 9 decimals
		d.Fx = append(d.Fx, FxRate{Base: usd, Quote: cur(t, code), Rate: r})
	}
	for range 1 + rng.IntN(20) {
		v := randID(rng)
		w.variants = append(w.variants, v)
		d.Prices = append(d.Prices, VariantPrice{v, "*", Price{usd, rng.Int64N(100_000)}})
		for _, c := range w.countries {
			if rng.IntN(3) == 0 {
				code := w.currencies[rng.IntN(len(w.currencies))]
				d.Prices = append(d.Prices, VariantPrice{v, c, Price{cur(t, code), rng.Int64N(100_000)}})
			}
		}
	}
	for _, tech := range []string{"dtg", "screen", "embroidery", "sublimation"} {
		d.Surcharges = append(d.Surcharges, Surcharge{tech, Price{usd, rng.Int64N(2000)}})
		if rng.IntN(2) == 0 {
			d.Surcharges = append(d.Surcharges, Surcharge{tech, Price{cur(t, w.currencies[rng.IntN(4)]), rng.Int64N(2000)}})
		}
	}
	for range 1 + rng.IntN(6) {
		p := randID(rng)
		w.placements = append(w.placements, p)
		if rng.IntN(2) == 0 {
			d.Placements = append(d.Placements, PlacementTechnique{p, []string{"dtg", "screen", "embroidery", "sublimation"}[rng.IntN(4)]})
		}
	}
	d.Shipping = append(d.Shipping, ShippingRate{"standard", "*", usd, rng.Int64N(5000), rng.Int64N(2000), 3, 7})
	for _, c := range w.countries {
		if rng.IntN(2) == 0 {
			code := w.currencies[rng.IntN(len(w.currencies))]
			d.Shipping = append(d.Shipping, ShippingRate{"standard", c, cur(t, code), rng.Int64N(5000), rng.Int64N(2000), 3, 7})
		}
	}
	for i := range 1 + rng.IntN(4) {
		code := fmt.Sprintf("OK%d", i)
		c := Coupon{ID: randID(rng), Code: code, ValidFrom: w.now.Add(-time.Hour), ValidUntil: w.now.Add(time.Duration(1 + rng.Int64N(1e12)))}
		if rng.IntN(2) == 0 {
			c.Kind, c.PercentBP = CouponPercent, int32(1+rng.IntN(10000))
		} else {
			c.Kind, c.AmountOff = CouponFixed, Price{usd, 1 + rng.Int64N(50_000)}
		}
		d.Coupons = append(d.Coupons, c)
		w.coupons = append(w.coupons, code)
	}
	for i := range 1 + rng.IntN(3) {
		code := fmt.Sprintf("GONE%d", i)
		until := w.now.Add(-time.Duration(rng.Int64N(1e15))) // at or before now
		d.Coupons = append(d.Coupons, Coupon{ID: randID(rng), Code: code, Kind: CouponPercent, PercentBP: 1000,
			ValidFrom: until.Add(-time.Hour), ValidUntil: until})
		w.expired = append(w.expired, code)
	}
	w.snap = NewSnapshot(d, w.now)
	return w
}

func (w world) genRequest(rng *rand.Rand) QuoteRequest {
	req := QuoteRequest{Country: w.countries[rng.IntN(len(w.countries))], Currency: w.currencies[rng.IntN(len(w.currencies))]}
	for range 1 + rng.IntN(8) {
		it := QuoteItem{VariantID: w.variants[rng.IntN(len(w.variants))].String(), Quantity: int32(1 + rng.IntN(MaxQuantity))}
		perm := rng.Perm(len(w.placements))
		for _, j := range perm[:rng.IntN(len(perm)+1)] {
			it.PlacementIDs = append(it.PlacementIDs, w.placements[j].String())
		}
		if rng.IntN(5) == 0 {
			it.Technique = "screen"
		}
		req.Items = append(req.Items, it)
	}
	if rng.IntN(2) == 0 {
		req.CouponCode = w.coupons[rng.IntN(len(w.coupons))]
	}
	return req
}

// convertible reports whether a price in from can be quoted in to with the
// world's rates (USD to anything, or anything to USD, or the same currency).
func convertible(from, to string) bool { return from == to || from == "USD" || to == "USD" }

// Property: for any generated data set and request that prices, the quote's
// arithmetic holds: line_total = qty × (unit + surcharges),
// subtotal = Σ line_total, 0 ≤ discount ≤ subtotal,
// total = Σ line_total + shipping − discount ≥ 0, and every unit price is
// the stored price or within half a minor unit of its exact conversion.
func TestQuoteArithmeticProperty(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 99))
	priced, refused := 0, 0
	for n := range 4000 {
		w := genWorld(t, rng)
		req := w.genRequest(rng)
		q, err := w.snap.Quote(req, w.now)
		if err != nil {
			// The only legitimate refusals in this world: a price or rate
			// stored in a currency with no FX path to the quote currency.
			if errs.KindOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "no FX rate") {
				t.Fatalf("case %d (seed %d): unexpected error %v for %+v", n, seed, err, req)
			}
			refused++
			continue
		}
		priced++
		var sum int64
		for i, l := range q.Lines {
			if l.LineTotal != int64(l.Quantity)*(l.UnitPrice+l.Surcharges) {
				t.Fatalf("case %d line %d: %d ≠ %d × (%d + %d)", n, i, l.LineTotal, l.Quantity, l.UnitPrice, l.Surcharges)
			}
			if l.UnitPrice < 0 || l.Surcharges < 0 {
				t.Fatalf("case %d line %d: negative %+v", n, i, l)
			}
			checkUnitPrice(t, w, req, i, l, q.Currency)
			sum += l.LineTotal
		}
		if q.Subtotal != sum {
			t.Fatalf("case %d: subtotal %d ≠ Σ lines %d", n, q.Subtotal, sum)
		}
		if q.Discount < 0 || q.Discount > q.Subtotal {
			t.Fatalf("case %d: discount %d outside [0, %d]", n, q.Discount, q.Subtotal)
		}
		if q.Total != sum+q.Shipping-q.Discount || q.Total < 0 {
			t.Fatalf("case %d: total %d ≠ %d + %d − %d", n, q.Total, sum, q.Shipping, q.Discount)
		}
		if req.CouponCode == "" && q.Discount != 0 {
			t.Fatalf("case %d: discount without coupon", n)
		}
	}
	t.Logf("%d priced, %d refused", priced, refused)
	if priced < 1000 {
		t.Fatalf("only %d of 4000 generated quotes priced (%d refused): the generator is too narrow", priced, refused)
	}
}

// checkUnitPrice re-derives a line's base price from the raw rows: the
// region's price (else "*") in the quote currency if there is one, else the
// first convertible currency by code, within 1/2 minor unit of exact.
func checkUnitPrice(t *testing.T, w world, req QuoteRequest, i int, l Line, qc Currency) {
	t.Helper()
	prices := w.snap.prices[regionKey{l.VariantID, req.Country}]
	if len(prices) == 0 {
		prices = w.snap.prices[regionKey{l.VariantID, Wildcard}]
	}
	var src *Price
	for j := range prices {
		if prices[j].Currency == qc {
			src = &prices[j]
		}
	}
	if src != nil {
		if l.UnitPrice != src.Amount {
			t.Fatalf("line %d: unit %d, stored %d %s", i, l.UnitPrice, src.Amount, qc.Code)
		}
		return
	}
	for j := range prices {
		if convertible(prices[j].Currency.Code, qc.Code) {
			src = &prices[j]
			break
		}
	}
	if src == nil {
		t.Fatalf("line %d priced without a convertible source", i)
	}
	exact := ExactConversion(src.Amount, src.Currency, qc, w.snap.rate(src.Currency, qc))
	d := new(big.Rat).Sub(new(big.Rat).SetInt64(l.UnitPrice), exact)
	if d.Abs(d).Cmp(big.NewRat(1, 2)) > 0 {
		t.Fatalf("line %d: unit %d %s is more than 1/2 from exact %s", i, l.UnitPrice, qc.Code, exact.FloatString(4))
	}
}

// Property: pricing a USD amount in another currency through a quote, then
// pricing that result back in USD (the same stored rate, inverted), lands
// within the bound the package doc states: 1/2 + 1/(2·r·s) minor units.
func TestQuoteCurrencyRoundTripProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	v := uuid.MustParse("0190c000-0000-7000-8000-000000000001")
	usd := cur(t, "USD")
	for n := range 3000 {
		target := cur(t, []string{"EUR", "GBP", "JPY", "KWD", "KRW"}[rng.IntN(5)])
		rate := big.NewRat(1+rng.Int64N(300_000_000_000), 1_000_000_000) // (0, 300]
		fx := []FxRate{{usd, target, rate}}
		ship := []ShippingRate{{"standard", "*", usd, 0, 0, 3, 7}}
		x := rng.Int64N(10_000_000)
		there := NewSnapshot(Data{Prices: []VariantPrice{{v, "*", Price{usd, x}}}, Fx: fx, Shipping: ship}, t0)
		req := QuoteRequest{Items: []QuoteItem{{VariantID: v.String(), Quantity: 1}}, Country: "US", Currency: target.Code}
		q1, err := there.Quote(req, t0)
		if err != nil {
			t.Fatal(err)
		}
		y := q1.Lines[0].UnitPrice
		back := NewSnapshot(Data{Prices: []VariantPrice{{v, "*", Price{target, y}}}, Fx: fx, Shipping: ship}, t0)
		req.Currency = "USD"
		q2, err := back.Quote(req, t0)
		if err != nil {
			t.Fatal(err)
		}
		got := q2.Lines[0].UnitPrice
		rs := ExactConversion(1, usd, target, rate)
		bound := new(big.Rat).Add(big.NewRat(1, 2), new(big.Rat).Quo(big.NewRat(1, 2), rs))
		if d := new(big.Rat).SetInt64(got - x); d.Abs(d).Cmp(bound) > 0 {
			t.Fatalf("case %d: %d USD → %d %s → %d USD at %s: off by %d > %s", n, x, y, target.Code, got, rate.FloatString(9), got-x, bound.FloatString(3))
		}
	}
}

// Property: a coupon whose window has ended is refused with
// FAILED_PRECONDITION naming the coupon and when it expired, whatever the
// request; the same request without the coupon prices.
func TestExpiredCouponRefusedProperty(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 5))
	for n := range 2000 {
		w := genWorld(t, rng)
		req := w.genRequest(rng)
		req.Currency = "USD" // always convertible
		req.CouponCode = strings.ToLower(w.expired[rng.IntN(len(w.expired))])
		_, err := w.snap.Quote(req, w.now)
		code := NormalizeCouponCode(req.CouponCode)
		c := w.snap.Coupons(code)[0]
		want := fmt.Sprintf("coupon %q expired at %s", code, c.ValidUntil.Format(time.RFC3339))
		if errs.KindOf(err) != errs.FailedPrecondition || err.Error() != want || violationField(err) != "coupon_code" {
			t.Fatalf("case %d: err = %v (kind %v), want FAILED_PRECONDITION %q", n, err, errs.KindOf(err), want)
		}
		req.CouponCode = ""
		if _, err := w.snap.Quote(req, w.now); err != nil {
			t.Fatalf("case %d: without the coupon: %v", n, err)
		}
	}
}
