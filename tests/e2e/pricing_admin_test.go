package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestPricingAdmin: a product an admin creates over REST is quoted and
// ordered within seconds at its catalog price (the catalog announces it,
// the pricing-worker keeps it as the default list price); an explicit
// price set over REST wins over the catalog's, also after the catalog's
// price changes; a coupon created over REST applies to a quote and stops
// applying once deleted; a user is refused every admin pricing route (403),
// an anonymous caller too (401).
func TestPricingAdmin(t *testing.T) {
	e := need(t)
	admin := token(t, "pricing-admin", "admin", time.Hour)
	user := token(t, "pricing-user-"+uuid.NewString()[:8], "user", time.Hour)
	suffix := strings.ToUpper(uuid.NewString()[:8])

	// 1. A product created over REST, with its price.
	sku := "PRICED-" + suffix
	variant := func(amount int) map[string]any {
		return map[string]any{"sku": sku, "title": "One size", "price": map[string]any{"currency": "USD", "amount_minor": amount},
			"size": "OS", "color": "White", "weight_grams": 100, "active": true, "stock_tracked": false}
	}
	title := "Priced tee " + suffix
	product := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/products", admin, map[string]any{
		"title": title, "description": "created over REST", "active": true,
		"variants":   []any{variant(2345)},
		"placements": []any{map[string]any{"name": "front", "width_in": 10, "height_in": 12, "min_dpi": 150, "recommended_dpi": 300, "technique": "dtg"}},
	})
	productID := str(product, "id")
	variantID := str(product, "variants", 0, "id")
	if productID == "" || variantID == "" {
		t.Fatalf("created product without ids: %v", product)
	}

	quote := func(coupon string) response {
		body := map[string]any{"items": []any{map[string]any{"variant_id": variantID, "quantity": 1}},
			"country_code": "US", "currency": "USD"}
		if coupon != "" {
			body["coupon_code"] = coupon
		}
		return e.api.do(t, http.MethodPost, "/v1/quotes", "", body)
	}
	unitIs := func(want float64, within time.Duration) {
		t.Helper()
		eventually(t, within, fmt.Sprintf("a quote at %v", want), func() (bool, string) {
			r := quote("")
			if r.Status != http.StatusOK {
				return false, fmt.Sprintf("%d %s", r.Status, secClip(r.Body, 200))
			}
			got := dig(r.JSON(t), "lines", 0, "unit_price", "amount_minor")
			return got == want, fmt.Sprint("unit price ", got)
		})
	}
	source := func() string {
		t.Helper()
		got := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/price-lists/"+variantID, admin, nil)
		return str(got, "prices", 0, "source")
	}

	// 2. Within seconds it is quoted at its catalog price, and ordered.
	unitIs(2345, 15*time.Second)
	if s := source(); s != "VARIANT_PRICE_SOURCE_CATALOG" {
		t.Fatalf("price source %q, want the catalog's", s)
	}
	order := e.api.do(t, http.MethodPost, "/v1/orders", user, secBlankOrder(variantID, 1), "Idempotency-Key", uuid.NewString())
	if order.Status != http.StatusCreated {
		t.Fatalf("order of the new product: %d %s", order.Status, secClip(order.Body, 300))
	}
	if got := dig(order.JSON(t), "subtotal", "amount_minor"); got != float64(2345) {
		t.Errorf("order subtotal %v, want 2345", got)
	}

	// 3. An explicit price over REST: the quote shows it at once.
	e.api.must(t, http.StatusOK, http.MethodPut, "/v1/price-lists", admin, map[string]any{"prices": []any{
		map[string]any{"variant_id": variantID, "region": "*", "price": map[string]any{"currency": "USD", "amount_minor": 2000}}}})
	unitIs(2000, 5*time.Second)
	if s := source(); s != "VARIANT_PRICE_SOURCE_ADMIN" {
		t.Fatalf("price source %q after the admin's write", s)
	}
	list := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/price-lists", admin, nil)
	if !strings.Contains(secJSON(list), variantID) {
		t.Fatal("the price list does not list the variant")
	}

	// 4. The catalog's price changes: the explicit price stays.
	e.api.must(t, http.StatusOK, http.MethodPatch, "/v1/products/"+productID, admin, map[string]any{
		"title": title, "variants": []any{variant(2999)}})
	ctx, db, done := pricingDB(t, e)
	eventually(t, 15*time.Second, "the catalog's new price at pricing", func() (bool, string) {
		var v int64
		err := db.QueryRow(ctx, `SELECT version FROM catalog_variant_versions WHERE variant_id = $1`, variantID).Scan(&v)
		return err == nil && v >= 2, fmt.Sprint("version ", v, " ", err)
	})
	done()
	unitIs(2000, time.Second)

	// 5. A coupon created over REST applies to a quote; deleted, it does not.
	code := "ADMIN" + suffix
	now := time.Now().UTC()
	e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/coupons", admin, map[string]any{
		"code": code, "kind": "COUPON_KIND_PERCENT", "percent_bp": 1000,
		"valid_from": now.Add(-time.Minute).Format(time.RFC3339), "valid_until": now.Add(time.Hour).Format(time.RFC3339)})
	eventually(t, 5*time.Second, "the coupon applied", func() (bool, string) {
		r := quote(code)
		if r.Status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.Status, secClip(r.Body, 200))
		}
		d := dig(r.JSON(t), "discount", "amount_minor")
		return d == float64(200), fmt.Sprint("discount ", d)
	})
	got := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/coupons/"+code, admin, nil)
	if str(got, "coupons", 0, "code") != code {
		t.Fatalf("get coupon: %v", got)
	}
	if !strings.Contains(secJSON(e.api.must(t, http.StatusOK, http.MethodGet, "/v1/coupons", admin, nil)), code) {
		t.Fatal("the coupon list does not list the coupon")
	}
	e.api.must(t, http.StatusOK, http.MethodDelete, "/v1/coupons/"+code, admin, nil)
	eventually(t, 5*time.Second, "the deleted coupon refused", func() (bool, string) {
		r := quote(code)
		return r.Status >= 400 && r.Status < 500, fmt.Sprintf("%d %s", r.Status, secClip(r.Body, 200))
	})
	e.api.must(t, http.StatusOK, http.MethodGet, "/v1/fx-rates", admin, nil)

	// 6. Admin only: a user gets 403, an anonymous caller 401, and nothing
	// changes.
	priceBody := map[string]any{"prices": []any{map[string]any{"variant_id": variantID, "region": "*",
		"price": map[string]any{"currency": "USD", "amount_minor": 1}}}}
	fxBody := map[string]any{"rates": []any{map[string]any{"base": "USD", "quote": "EUR", "rate": "9"}}}
	couponBody := map[string]any{"code": "USER" + suffix, "kind": "COUPON_KIND_PERCENT", "percent_bp": 10000,
		"valid_from": now.Format(time.RFC3339), "valid_until": now.Add(time.Hour).Format(time.RFC3339)}
	for _, rt := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/v1/price-lists", nil},
		{http.MethodGet, "/v1/price-lists/" + variantID, nil},
		{http.MethodPut, "/v1/price-lists", priceBody},
		{http.MethodPost, "/v1/price-lists", priceBody},
		{http.MethodDelete, "/v1/price-lists/" + variantID, nil},
		{http.MethodPost, "/v1/coupons", couponBody},
		{http.MethodGet, "/v1/coupons", nil},
		{http.MethodGet, "/v1/coupons/" + code, nil},
		{http.MethodDelete, "/v1/coupons/" + code, nil},
		{http.MethodGet, "/v1/fx-rates", nil},
		{http.MethodPut, "/v1/fx-rates", fxBody},
		{http.MethodPost, "/v1/fx-rates", fxBody},
	} {
		if r := e.api.do(t, rt.method, rt.path, user, rt.body); r.Status != http.StatusForbidden {
			t.Errorf("%s %s as a user: %d %s", rt.method, rt.path, r.Status, secClip(r.Body, 200))
		}
		if r := e.api.do(t, rt.method, rt.path, "", rt.body); r.Status != http.StatusUnauthorized {
			t.Errorf("%s %s anonymously: %d %s", rt.method, rt.path, r.Status, secClip(r.Body, 200))
		}
	}
	unitIs(2000, time.Second)

	// 7. Server-owned fields: a coupon's use counter and a price's source
	// cannot be set by the client (refused as unknown or ignored).
	massCoupon := "MASS" + suffix
	r := e.api.do(t, http.MethodPost, "/v1/coupons", admin, map[string]any{
		"code": massCoupon, "kind": "COUPON_KIND_PERCENT", "percent_bp": 500, "used": 99,
		"valid_from": now.Format(time.RFC3339), "valid_until": now.Add(time.Hour).Format(time.RFC3339)})
	switch r.Status {
	case http.StatusBadRequest:
	case http.StatusCreated:
		got := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/coupons/"+massCoupon, admin, nil)
		if used := dig(got, "coupons", 0, "used"); used != float64(0) {
			t.Errorf("a client set a coupon's use counter: used = %v", used)
		}
	default:
		t.Errorf("coupon with a use counter: %d %s", r.Status, secClip(r.Body, 200))
	}
	r = e.api.do(t, http.MethodPut, "/v1/price-lists", admin, map[string]any{"prices": []any{
		map[string]any{"variant_id": variantID, "region": "*", "price": map[string]any{"currency": "USD", "amount_minor": 2000},
			"source": "VARIANT_PRICE_SOURCE_CATALOG"}}})
	if r.Status != http.StatusBadRequest && r.Status != http.StatusOK {
		t.Errorf("price with a source: %d %s", r.Status, secClip(r.Body, 200))
	}
	if s := source(); s != "VARIANT_PRICE_SOURCE_ADMIN" {
		t.Errorf("a client set a price's source: %q", s)
	}
}
