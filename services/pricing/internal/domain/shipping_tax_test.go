package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
)

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestAddBusinessDays(t *testing.T) {
	t.Parallel()
	// 2026-03-02 is a Monday.
	for _, tc := range []struct {
		name string
		from time.Time
		n    int
		want string
	}{
		{"monday +0", day("2026-03-02"), 0, "2026-03-02"},
		{"monday +1", day("2026-03-02"), 1, "2026-03-03"},
		{"monday +4 is friday", day("2026-03-02"), 4, "2026-03-06"},
		{"monday +5 crosses the weekend", day("2026-03-02"), 5, "2026-03-09"},
		{"friday +1 is monday", day("2026-03-06"), 1, "2026-03-09"},
		{"friday +0 stays friday", day("2026-03-06"), 0, "2026-03-06"},
		{"saturday +0 is monday", day("2026-03-07"), 0, "2026-03-09"},
		{"saturday +1 is monday", day("2026-03-07"), 1, "2026-03-09"},
		{"sunday +2 is tuesday", day("2026-03-08"), 2, "2026-03-10"},
		{"two weekends", day("2026-03-04"), 10, "2026-03-18"},
		{"late in the UTC day counts that day", time.Date(2026, 3, 6, 23, 59, 0, 0, time.UTC), 1, "2026-03-09"},
		{"another zone is taken in UTC", time.Date(2026, 3, 7, 1, 0, 0, 0, time.FixedZone("x", 3*3600)), 1, "2026-03-09"},
		{"month end", day("2026-03-30"), 3, "2026-04-02"},
	} {
		if got := AddBusinessDays(tc.from, tc.n).Format(DateLayout); got != tc.want {
			t.Errorf("%s: AddBusinessDays(%s, %d) = %s, want %s", tc.name, tc.from, tc.n, got, tc.want)
		}
	}
}

func TestEstimateDelivery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		now              time.Time
		production       int
		minDays, maxDays int32
		earliest, latest string
	}{
		{"friday quote, 2 production, 3-7", time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC), 2, 3, 7, "2026-03-13", "2026-03-19"},
		{"wednesday, no production, 0 days", day("2026-03-04"), 0, 0, 0, "2026-03-04", "2026-03-04"},
		{"sunday, 2 production, 1-3", day("2026-03-08"), 2, 1, 3, "2026-03-11", "2026-03-13"},
		{"monday, 2 production, 0-0", day("2026-03-02"), 2, 0, 0, "2026-03-04", "2026-03-04"},
		{"negative production counts as 0", day("2026-03-02"), -3, 1, 1, "2026-03-03", "2026-03-03"},
	} {
		e := EstimateDelivery(tc.now, tc.production, tc.minDays, tc.maxDays)
		if e.EarliestDate() != tc.earliest || e.LatestDate() != tc.latest || e.MinDays != tc.minDays || e.MaxDays != tc.maxDays {
			t.Errorf("%s: got %d-%d %s..%s, want %d-%d %s..%s", tc.name, e.MinDays, e.MaxDays, e.EarliestDate(), e.LatestDate(),
				tc.minDays, tc.maxDays, tc.earliest, tc.latest)
		}
	}
}

func TestTax(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		base int64
		rate TaxRate
		want int64
	}{
		{"added 8.25%", 10000, TaxRate{RateBP: 825}, 825},
		{"added rounds half up", 10, TaxRate{RateBP: 500}, 1},         // 0.5 → 1
		{"added rounds down below half", 9, TaxRate{RateBP: 500}, 0},  // 0.45 → 0
		{"added 19% of 1999", 1999, TaxRate{RateBP: 1900}, 380},       // 379.81
		{"added JPY (no decimals)", 1234, TaxRate{RateBP: 1000}, 123}, // 123.4
		{"included 19% of 11900", 11900, TaxRate{RateBP: 1900, Included: true}, 1900},
		{"included 20% of 1000", 1000, TaxRate{RateBP: 2000, Included: true}, 167},        // 1000 − 833.33
		{"included rounds the net half up", 21, TaxRate{RateBP: 5000, Included: true}, 7}, // net 14
		{"included 21% of 1", 1, TaxRate{RateBP: 2100, Included: true}, 0},
		{"zero rate", 5000, TaxRate{RateBP: 0}, 0},
		{"zero base", 0, TaxRate{RateBP: 2000}, 0},
		{"negative base counts as 0", -5, TaxRate{RateBP: 2000}, 0},
		{"huge base does not overflow", MaxAmount, TaxRate{RateBP: 5000}, (MaxAmount + 1) / 2},
	} {
		if got := Tax(tc.base, tc.rate); got != tc.want {
			t.Errorf("%s: Tax(%d, %+v) = %d, want %d", tc.name, tc.base, tc.rate, got, tc.want)
		}
	}
}

func taxFixture(t *testing.T) *Snapshot {
	t.Helper()
	usd := cur(t, "USD")
	return NewSnapshot(Data{
		Prices: []VariantPrice{{tee, "*", price(t, "USD", 1000)}, {tee, "*", price(t, "JPY", 1500)}},
		Shipping: []ShippingRate{
			{"standard", "*", usd, 500, 100, 3, 7},
			{"express", "*", usd, 1500, 300, 1, 3},
			{"economy", "*", usd, 300, 100, 10, 20},
			{"economy", "CA", usd, 800, 100, 8, 12}, // CA's own economy row wins
			{"courier", "US", usd, 500, 100, 1, 1},  // ties standard in US: by name
			{"standard", "JP", cur(t, "JPY"), 700, 100, 2, 4},
		},
		Tax: []TaxRate{
			{Country: "US", Region: "", RateBP: 0},
			{Country: "US", Region: "CA", RateBP: 725},
			{Country: "CA", RateBP: 500},
			{Country: "CA", Region: "QC", RateBP: 1498},
			{Country: "FR", RateBP: 2000, Included: true},
			{Country: "JP", RateBP: 1000},
		},
	}, t0)
}

func TestShippingOptionsOrderAndChoice(t *testing.T) {
	t.Parallel()
	s := taxFixture(t)
	req := func(country, method string) QuoteRequest {
		return QuoteRequest{Items: []QuoteItem{item(tee, 2)}, Country: country, Currency: "USD", ShippingMethod: method, ProductionDays: 2}
	}
	methods := func(q Quote) string {
		var ms []string
		for _, o := range q.ShippingOptions {
			ms = append(ms, o.Method)
		}
		return strings.Join(ms, ",")
	}
	q, err := s.Quote(req("DE", ""), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := methods(q); got != "economy,standard,express" {
		t.Errorf("DE options %s, want cheapest first", got)
	}
	if q.ShippingMethod != "economy" || q.Shipping != 400 || q.Estimate.MinDays != 10 {
		t.Errorf("DE default %s at %d (%+v), want economy at 400", q.ShippingMethod, q.Shipping, q.Estimate)
	}
	// t0 is Sunday 2026-03-01: +2 production +10..+20 business days.
	if q.Estimate.EarliestDate() != "2026-03-17" || q.Estimate.LatestDate() != "2026-03-31" {
		t.Errorf("economy estimate %s..%s", q.Estimate.EarliestDate(), q.Estimate.LatestDate())
	}
	q, err = s.Quote(req("CA", ""), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := methods(q); got != "standard,economy,express" || q.ShippingMethod != "standard" {
		t.Errorf("CA options %s (default %s): CA's own economy row must win over the catch-all", got, q.ShippingMethod)
	}
	// US: courier and standard both cost 600, so by name.
	q, err = s.Quote(req("US", ""), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := methods(q); got != "economy,courier,standard,express" {
		t.Errorf("US options %s", got)
	}
	q, err = s.Quote(req("US", "Express"), t0)
	if err != nil || q.ShippingMethod != "express" || q.Shipping != 1800 || q.Total != 2000+1800 {
		t.Errorf("express: %+v, %v", q, err)
	}
	_, err = s.Quote(req("DE", "courier"), t0)
	if errs.KindOf(err) != errs.Invalid || !strings.Contains(err.Error(), "methods that do: economy, express, standard") {
		t.Errorf("courier to DE: %v", err)
	}
}

func TestQuoteTax(t *testing.T) {
	t.Parallel()
	s := taxFixture(t)
	q := func(country, region, currency string, coupon string) Quote {
		t.Helper()
		got, err := s.Quote(QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: country, Region: region,
			Currency: currency, ShippingMethod: "standard", CouponCode: coupon}, t0)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// CA: 5% added on 1000 + 500.
	if g := q("CA", "", "USD", ""); g.Tax != 75 || g.TaxRateBP != 500 || g.TaxIncluded || g.Total != 1575 {
		t.Errorf("CA: tax %d bp %d total %d", g.Tax, g.TaxRateBP, g.Total)
	}
	// CA/QC: the region's row wins.
	if g := q("CA", "QC", "USD", ""); g.Tax != 225 || g.TaxRateBP != 1498 || g.Total != 1725 { // 224.7
		t.Errorf("CA/QC: tax %d bp %d total %d", g.Tax, g.TaxRateBP, g.Total)
	}
	// CA/ON has no row: the country's.
	if g := q("CA", "ON", "USD", ""); g.Tax != 75 || g.TaxRateBP != 500 {
		t.Errorf("CA/ON: tax %d bp %d", g.Tax, g.TaxRateBP)
	}
	// US: the country's 0 row, a region's rate over it.
	if g := q("US", "", "USD", ""); g.Tax != 0 || g.Total != 1500 {
		t.Errorf("US: tax %d total %d", g.Tax, g.Total)
	}
	if g := q("US", "CA", "USD", ""); g.Tax != 109 || g.Total != 1609 { // 108.75
		t.Errorf("US/CA: tax %d total %d", g.Tax, g.Total)
	}
	// FR: included, shown and not added: 1500 − round(1500/1.2) = 250.
	if g := q("FR", "", "USD", ""); g.Tax != 250 || !g.TaxIncluded || g.Total != 1500 {
		t.Errorf("FR: tax %d included %v total %d", g.Tax, g.TaxIncluded, g.Total)
	}
	// DE: no rate, tax 0.
	if g := q("DE", "", "USD", ""); g.Tax != 0 || g.TaxRateBP != 0 || g.Total != 1500 {
		t.Errorf("DE: tax %d total %d", g.Tax, g.Total)
	}
	// JP in JPY (no decimals): 10% of 1500 + 700.
	if g := q("JP", "", "JPY", ""); g.Tax != 220 || g.Total != 2420 {
		t.Errorf("JP: tax %d total %d", g.Tax, g.Total)
	}
}

func TestQuoteTaxAfterDiscount(t *testing.T) {
	t.Parallel()
	s := fixture(t)
	d := Data{Prices: []VariantPrice{{tee, "*", price(t, "USD", 1250)}},
		Shipping: []ShippingRate{{"standard", "*", cur(t, "USD"), 499, 199, 3, 7}},
		Coupons:  s.Coupons("TENOFF"),
		Tax:      []TaxRate{{Country: "CA", RateBP: 1000}}}
	q, err := NewSnapshot(d, t0).Quote(QuoteRequest{Items: []QuoteItem{item(tee, 2)}, Country: "CA", Currency: "USD", CouponCode: "TENOFF"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	// base = 2500 − 250 + 698 = 2948; 10% = 294.8 → 295.
	if q.Discount != 250 || q.Tax != 295 || q.Total != 2948+295 {
		t.Errorf("discount %d tax %d total %d", q.Discount, q.Tax, q.Total)
	}
}

func TestValidateShippingDaysAndTaxRates(t *testing.T) {
	t.Parallel()
	usd := MoneyInput{Set: true, Currency: "USD", Amount: 100}
	_, err := ValidateShippingRates([]ShippingRateInput{{Method: "standard", Country: "*", FirstItem: usd, AdditionalItem: usd, MinDays: 5, MaxDays: 3}})
	if errs.KindOf(err) != errs.Invalid || !strings.Contains(err.Error(), "must be at least min_days (5)") {
		t.Errorf("min > max: %v", err)
	}
	_, err = ValidateShippingRates([]ShippingRateInput{{Method: "standard", Country: "*", FirstItem: usd, AdditionalItem: usd, MinDays: 0, MaxDays: 61}})
	if errs.KindOf(err) != errs.Invalid {
		t.Errorf("61 days: %v", err)
	}
	rs, err := ValidateShippingRates([]ShippingRateInput{{Method: "standard", Country: "*", FirstItem: usd, AdditionalItem: usd, MinDays: 2, MaxDays: 2}})
	if err != nil || rs[0].MinDays != 2 || rs[0].MaxDays != 2 {
		t.Errorf("2-2 days: %v %v", rs, err)
	}
	for _, tc := range []struct {
		in   []TaxRateInput
		want string
	}{
		{[]TaxRateInput{{Country: "us", RateBP: 1}}, "rates[0].country_code"},
		{[]TaxRateInput{{Country: "US", Region: "ca", RateBP: 1}}, "rates[0].region"},
		{[]TaxRateInput{{Country: "US", RateBP: 5001}}, "rates[0].rate_bp"},
		{[]TaxRateInput{{Country: "US", RateBP: -1}}, "rates[0].rate_bp"},
		{[]TaxRateInput{{Country: "US", RateBP: 1}, {Country: "US", RateBP: 2}}, "duplicates rates[0]"},
		{nil, "at least one"},
	} {
		if _, err := ValidateTaxRates(tc.in); errs.KindOf(err) != errs.Invalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.in, err, tc.want)
		}
	}
	if rs, err := ValidateTaxRates([]TaxRateInput{{Country: "US", Region: "CA", RateBP: 725}, {Country: "US", RateBP: 0}}); err != nil || len(rs) != 2 {
		t.Errorf("valid rates: %v %v", rs, err)
	}
}

func TestApplicableShippingRates(t *testing.T) {
	t.Parallel()
	usd := cur(t, "USD")
	rows := []ShippingRate{
		{"standard", "*", usd, 500, 100, 3, 7},
		{"express", "*", usd, 1500, 300, 1, 3},
		{"express", "CA", usd, 1200, 300, 1, 2},
		{"standard", "GB", usd, 400, 100, 2, 4},
	}
	got := ApplicableShippingRates(rows, "CA")
	if len(got) != 2 || got[0].Method != "standard" || got[0].Country != "*" || got[1].Country != "CA" || got[1].FirstItem != 1200 {
		t.Errorf("CA: %+v", got)
	}
	if got := ApplicableShippingRates(rows, "FR"); len(got) != 2 || got[1].Country != "*" || got[1].Method != "express" {
		t.Errorf("FR: %+v", got)
	}
}
