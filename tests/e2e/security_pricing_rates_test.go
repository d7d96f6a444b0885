package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestSecurityPricingRates: every write of the shipping and tax rate tables
// is refused to a user and a fulfillment partner (403) and to an anonymous
// caller (401), and writes nothing (the open reads show the table as the
// admin left it); a quote cannot be handed a shipping price, options or a
// tax by the client (unknown fields are 400).
//
// LU is this test's own country: no other test writes rates for it.
func TestSecurityPricingRates(t *testing.T) {
	e := need(t)
	const country = "LU"
	admin := token(t, "rates-admin", "admin", time.Hour)
	user := token(t, "rates-user-"+uuid.NewString()[:8], "user", time.Hour)
	partner := token(t, "rates-partner", "fulfillment", time.Hour)
	method := "sec" + strings.ToLower(uuid.NewString()[:8])

	// The admin's table: one rate and one tax rate for the country.
	e.api.must(t, http.StatusOK, http.MethodPut, "/v1/shipping-rates", admin, map[string]any{"rates": []any{
		map[string]any{"method": "standard", "country_code": country,
			"first_item":      map[string]any{"currency": "USD", "amount_minor": 600},
			"additional_item": map[string]any{"currency": "USD", "amount_minor": 100},
			"min_days":        2, "max_days": 4}}})
	e.api.must(t, http.StatusOK, http.MethodPut, "/v1/tax-rates", admin, map[string]any{"rates": []any{
		map[string]any{"country_code": country, "rate_bp": 1700}}})
	state := func() string {
		t.Helper()
		rates := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/shipping-rates?country_code="+country, "", nil)
		taxes := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/tax-rates", "", nil)
		var lu []any
		for _, r := range dig(taxes, "rates").([]any) {
			if str(r, "country_code") == country {
				lu = append(lu, r)
			}
		}
		return secJSON(rates) + " " + secJSON(lu)
	}
	before := state()
	if !strings.Contains(before, `"rate_bp":1700`) || !strings.Contains(before, `"amount_minor":600`) {
		t.Fatalf("the admin's rates are not listed: %s", before)
	}

	shipBody := map[string]any{"rates": []any{map[string]any{"method": method, "country_code": country,
		"first_item":      map[string]any{"currency": "USD", "amount_minor": 0},
		"additional_item": map[string]any{"currency": "USD", "amount_minor": 0},
		"min_days":        0, "max_days": 0}}}
	cheap := map[string]any{"rates": []any{map[string]any{"method": "standard", "country_code": country,
		"first_item":      map[string]any{"currency": "USD", "amount_minor": 1},
		"additional_item": map[string]any{"currency": "USD", "amount_minor": 1},
		"min_days":        2, "max_days": 4}}}
	taxBody := map[string]any{"rates": []any{map[string]any{"country_code": country, "rate_bp": 0}}}
	routes := []struct {
		method, path string
		body         any
	}{
		{http.MethodPut, "/v1/shipping-rates", shipBody},
		{http.MethodPost, "/v1/shipping-rates", shipBody},
		{http.MethodPut, "/v1/shipping-rates", cheap},
		{http.MethodPost, "/v1/shipping-rates", cheap},
		{http.MethodDelete, "/v1/shipping-rates/standard?country_code=" + country, nil},
		{http.MethodPut, "/v1/tax-rates", taxBody},
		{http.MethodPost, "/v1/tax-rates", taxBody},
		{http.MethodDelete, "/v1/tax-rates/" + country, nil},
	}
	for _, rt := range routes {
		for _, who := range []struct{ name, token string }{{"a user", user}, {"a fulfillment partner", partner}} {
			if r := e.api.do(t, rt.method, rt.path, who.token, rt.body); r.Status != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d %s", rt.method, rt.path, who.name, r.Status, secClip(r.Body, 200))
			}
		}
		if r := e.api.do(t, rt.method, rt.path, "", rt.body); r.Status != http.StatusUnauthorized {
			t.Errorf("%s %s anonymously: %d %s", rt.method, rt.path, r.Status, secClip(r.Body, 200))
		}
	}
	if after := state(); after != before {
		t.Errorf("refused writes changed the tables:\nbefore %s\nafter  %s", before, after)
	}

	// The quote is priced by pricing alone: client-supplied shipping, options
	// or tax are unknown fields.
	sticker := mustSticker(t, e)
	base := func() map[string]any {
		return map[string]any{"items": []any{map[string]any{"variant_id": sticker, "quantity": 1}},
			"country_code": country, "currency": "USD"}
	}
	q := e.api.must(t, http.StatusOK, http.MethodPost, "/v1/quotes", "", base())
	if dig(q, "shipping", "amount_minor") != float64(600) || dig(q, "tax_rate_bp") != float64(1700) {
		t.Fatalf("quote to %s: %s", country, secJSON(q))
	}
	money := map[string]any{"currency": "USD", "amount_minor": 0}
	for field, v := range map[string]any{
		"shipping":          money,
		"tax":               money,
		"tax_rate_bp":       0,
		"tax_included":      true,
		"total":             money,
		"shipping_options":  []any{map[string]any{"method": "standard", "price": money}},
		"delivery_estimate": map[string]any{"min_days": 0, "max_days": 0},
	} {
		body := base()
		body[field] = v
		if r := e.api.do(t, http.MethodPost, "/v1/quotes", "", body); r.Status != http.StatusBadRequest {
			t.Errorf("a quote with %q set by the client: %d %s", field, r.Status, secClip(r.Body, 200))
		}
	}
}
