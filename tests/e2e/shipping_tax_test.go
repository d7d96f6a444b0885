package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestShippingAndTax: an admin sets shipping rates with days in transit and
// tax rates over REST; a quote to that country offers every method that
// reaches it, cheapest first with delivery dates, takes the cheapest when
// it names none and prices the one it names; an unknown method is refused
// naming the methods that reach the country. An added tax is a line of the
// quote and part of its total; an included tax is shown but not added. The
// rate table answers the rows that apply to a country, and a deleted rate
// is gone (404 on a second delete).
//
// The countries (IS, FI) are this test's own: no other test writes rates
// for them.
func TestShippingAndTax(t *testing.T) {
	e := need(t)
	admin := token(t, "shipping-admin", "admin", time.Hour)
	sticker := mustSticker(t, e)
	const added, included = "IS", "FI"

	rate := func(method, country string, first, additional, minDays, maxDays int) map[string]any {
		return map[string]any{"method": method, "country_code": country,
			"first_item":      map[string]any{"currency": "USD", "amount_minor": first},
			"additional_item": map[string]any{"currency": "USD", "amount_minor": additional},
			"min_days":        minDays, "max_days": maxDays}
	}
	e.api.must(t, http.StatusOK, http.MethodPut, "/v1/shipping-rates", admin, map[string]any{"rates": []any{
		rate("express", added, 1900, 500, 1, 2),
		rate("standard", added, 700, 200, 4, 8),
	}})
	e.api.must(t, http.StatusOK, http.MethodPost, "/v1/tax-rates", admin, map[string]any{"rates": []any{
		map[string]any{"country_code": added, "rate_bp": 2400},
		map[string]any{"country_code": included, "rate_bp": 2400, "prices_include_tax": true},
	}})
	taxes := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/tax-rates", "", nil)
	if s := secJSON(taxes); !strings.Contains(s, `"country_code":"IS"`) || !strings.Contains(s, `"country_code":"FI"`) {
		t.Fatalf("tax rates without the new ones: %s", s)
	}

	quote := func(country, method string) response {
		body := map[string]any{"items": []any{map[string]any{"variant_id": sticker, "quantity": 2}},
			"country_code": country, "currency": "USD"}
		if method != "" {
			body["shipping_method"] = method
		}
		return e.api.do(t, http.MethodPost, "/v1/quotes", "", body)
	}
	amount := func(q map[string]any, path ...any) int64 {
		t.Helper()
		v, ok := dig(q, append(path, "amount_minor")...).(float64)
		if !ok {
			t.Fatalf("quote without %v: %s", path, secJSON(q))
		}
		return int64(v)
	}

	// 1. The default quote: the cheapest of >= 2 options, with dates.
	var q map[string]any
	eventually(t, 5*time.Second, "the new rates in quotes", func() (bool, string) {
		r := quote(added, "")
		if r.Status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.Status, secClip(r.Body, 300))
		}
		q = r.JSON(t)
		return amount(q, "shipping") == 700+200, secClip(r.Body, 300)
	})
	opts, _ := dig(q, "shipping_options").([]any)
	if len(opts) < 2 {
		t.Fatalf("want >= 2 shipping options: %s", secJSON(q))
	}
	prev := int64(-1)
	for i := range opts {
		p := amount(q, "shipping_options", i, "price")
		if p < prev {
			t.Errorf("options not cheapest first: %s", secJSON(opts))
		}
		prev = p
		checkEstimate(t, dig(q, "shipping_options", i, "delivery_estimate"))
	}
	if m := str(q, "shipping_method"); m != "standard" || str(q, "shipping_options", 0, "method") != "standard" {
		t.Errorf("default method %q, options %s: want standard, the cheapest", m, secJSON(opts))
	}
	checkEstimate(t, dig(q, "delivery_estimate"))
	if dig(q, "delivery_estimate", "min_days") != float64(4) || dig(q, "delivery_estimate", "max_days") != float64(8) {
		t.Errorf("standard's estimate %v, want 4-8 days in transit", dig(q, "delivery_estimate"))
	}

	// 2. The added tax: 24% of subtotal + shipping, rounded half up, added.
	sub, ship := amount(q, "subtotal"), amount(q, "shipping")
	base := sub + ship - amount(q, "discount")
	wantTax := (base*2400 + 5000) / 10000
	if tax := amount(q, "tax"); tax != wantTax || dig(q, "tax_rate_bp") != float64(2400) || dig(q, "tax_included") == true {
		t.Errorf("tax %d (rate %v, included %v), want %d added at 2400 bp", tax, dig(q, "tax_rate_bp"), dig(q, "tax_included"), wantTax)
	}
	if total := amount(q, "total"); total != base+wantTax {
		t.Errorf("total %d, want %d + tax %d", total, base, wantTax)
	}

	// 3. Express, named: priced as express.
	r := quote(added, "express")
	if r.Status != http.StatusOK {
		t.Fatalf("express quote: %d %s", r.Status, secClip(r.Body, 300))
	}
	x := r.JSON(t)
	if str(x, "shipping_method") != "express" || amount(x, "shipping") != 1900+500 {
		t.Errorf("express quote: method %q shipping %d, want express at 2400", str(x, "shipping_method"), amount(x, "shipping"))
	}
	if dig(x, "delivery_estimate", "max_days") != float64(2) {
		t.Errorf("express estimate %v", dig(x, "delivery_estimate"))
	}

	// 4. An unknown method: 400 naming the ones that reach the country.
	r = quote(added, "pigeon")
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "express") || !strings.Contains(string(r.Body), "standard") {
		t.Errorf("unknown method: %d %s", r.Status, secClip(r.Body, 300))
	}

	// 5. The included tax: shown, not added.
	r = quote(included, "")
	if r.Status != http.StatusOK {
		t.Fatalf("quote with included tax: %d %s", r.Status, secClip(r.Body, 300))
	}
	f := r.JSON(t)
	base = amount(f, "subtotal") + amount(f, "shipping") - amount(f, "discount")
	wantTax = base - (base*10000+6200)/12400
	if tax := amount(f, "tax"); tax != wantTax || tax == 0 || dig(f, "tax_included") != true {
		t.Errorf("included tax %d (included %v), want %d", tax, dig(f, "tax_included"), wantTax)
	}
	if total := amount(f, "total"); total != base {
		t.Errorf("total with included tax %d, want %d (tax not added)", total, base)
	}

	// 6. The rows that apply to the country, cheapest first_item first.
	rows := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/shipping-rates?country_code="+added, "", nil)
	list, _ := dig(rows, "rates").([]any)
	if len(list) != 2 || str(rows, "rates", 0, "method") != "standard" || str(rows, "rates", 1, "method") != "express" ||
		str(rows, "rates", 0, "country_code") != added || dig(rows, "rates", 0, "min_days") != float64(4) {
		t.Errorf("rates for %s: %s", added, secJSON(rows))
	}

	// 7. Delete: gone from the table and the quote; a second delete is 404.
	e.api.must(t, http.StatusOK, http.MethodDelete, "/v1/shipping-rates/express?country_code="+added, admin, nil)
	if r := e.api.do(t, http.MethodDelete, "/v1/shipping-rates/express?country_code="+added, admin, nil); r.Status != http.StatusNotFound {
		t.Errorf("second delete: %d %s", r.Status, secClip(r.Body, 200))
	}
	rows = e.api.must(t, http.StatusOK, http.MethodGet, "/v1/shipping-rates?country_code="+added, "", nil)
	for i := range dig(rows, "rates").([]any) {
		if str(rows, "rates", i, "method") == "express" && str(rows, "rates", i, "country_code") == added {
			t.Errorf("deleted rate still listed: %s", secJSON(rows))
		}
	}
	e.api.must(t, http.StatusOK, http.MethodDelete, "/v1/tax-rates/"+included, admin, nil)
	if r := e.api.do(t, http.MethodDelete, "/v1/tax-rates/"+included, admin, nil); r.Status != http.StatusNotFound {
		t.Errorf("second tax delete: %d %s", r.Status, secClip(r.Body, 200))
	}
	eventually(t, 5*time.Second, "the deleted tax rate out of quotes", func() (bool, string) {
		r := quote(included, "")
		if r.Status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.Status, secClip(r.Body, 300))
		}
		g := r.JSON(t)
		bp := dig(g, "tax_rate_bp")
		return amount(g, "tax") == 0 && (bp == nil || bp == float64(0)), secClip(r.Body, 300)
	})
}

// checkEstimate checks a delivery estimate's dates: YYYY-MM-DD, business
// days, earliest <= latest, after today.
func checkEstimate(t *testing.T, est any) {
	t.Helper()
	today := time.Now().UTC().Format(time.DateOnly)
	var days []time.Time
	for _, k := range []string{"earliest_date", "latest_date"} {
		s := str(est, k)
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Errorf("estimate %v: %s %q is not YYYY-MM-DD", est, k, s)
			return
		}
		if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday || s <= today {
			t.Errorf("estimate %v: %s %s is not a business day after today", est, k, s)
		}
		days = append(days, d)
	}
	if days[1].Before(days[0]) {
		t.Errorf("estimate %v: latest before earliest", est)
	}
}
