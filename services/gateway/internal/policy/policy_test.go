package policy

import (
	"slices"
	"strings"
	"testing"
)

// TestTableMatchesDesign pins the table to the "who" column of the REST
// surface in DESIGN.md, written out independently here, so that a change to
// the table is a deliberate change to this test too.
func TestTableMatchesDesign(t *testing.T) {
	want := map[string]string{
		"POST /v1/orders":                                            "user,admin owner=false write",
		"GET /v1/orders/{order_id}":                                  "user,admin owner=true default",
		"GET /v1/orders":                                             "user,admin owner=false default",
		"POST /v1/orders/{order_id}:cancel":                          "user,admin owner=true write",
		"GET /v1/orders/{order_id}/events":                           "user,admin owner=true default",
		"POST /v1/orders/{order_id}/shipments":                       "fulfillment,admin owner=false write",
		"GET /v1/products":                                           "public owner=false default",
		"GET /v1/products/{product_id}":                              "public owner=false default",
		"POST /v1/products":                                          "admin owner=false write",
		"PATCH /v1/products/{product_id}":                            "admin owner=false write",
		"POST /v1/designs":                                           "user,admin owner=false write",
		"POST /v1/designs/{design_id}:process":                       "user,admin owner=true write",
		"GET /v1/designs/{design_id}":                                "user,admin owner=true default",
		"POST /v1/quotes":                                            "public owner=false write",
		"GET /v1/price-lists":                                        "admin owner=false default",
		"GET /v1/price-lists/{variant_id}":                           "admin owner=false default",
		"PUT /v1/price-lists":                                        "admin owner=false write",
		"POST /v1/price-lists":                                       "admin owner=false write",
		"DELETE /v1/price-lists/{variant_id}":                        "admin owner=false write",
		"POST /v1/coupons":                                           "admin owner=false write",
		"GET /v1/coupons":                                            "admin owner=false default",
		"GET /v1/coupons/{code}":                                     "admin owner=false default",
		"DELETE /v1/coupons/{code}":                                  "admin owner=false write",
		"GET /v1/fx-rates":                                           "admin owner=false default",
		"PUT /v1/fx-rates":                                           "admin owner=false write",
		"POST /v1/fx-rates":                                          "admin owner=false write",
		"POST /v1/stores":                                            "user,admin owner=false write",
		"GET /v1/stores":                                             "user,admin owner=false default",
		"POST /v1/stores/{store_id}/listings":                        "user,admin owner=true write",
		"GET /v1/stores/{store_id}/listings":                         "user,admin owner=true default",
		"GET /v1/stores/{store_id}/listings/{listing_id}":            "user,admin owner=true default",
		"PUT /v1/stores/{store_id}/listings/{listing_id}":            "user,admin owner=true write",
		"DELETE /v1/stores/{store_id}/listings/{listing_id}":         "user,admin owner=true write",
		"GET /healthz":                                               "public owner=false ",
		"GET /readyz":                                                "public owner=false default",
		"GET /openapi.json":                                          "public owner=false default",
		"GET /docs":                                                  "public owner=false default",
		"GET /docs/{path=**}":                                        "public owner=false default",
		"POST /v1/orders/{order_id}:retry-import":                    "user,admin owner=true write",
		"PATCH /v1/orders/{order_id}":                                "user,admin owner=true write",
		"POST /v1/orders/{order_id}:confirm":                         "user,admin owner=true write",
		"GET /v1/orders/{order_id}/shipments":                        "user,fulfillment,admin owner=true default",
		"POST /v1/orders/{order_id}/shipments/{shipment_id}:deliver": "fulfillment,admin owner=false write",
		"GET /v1/shipping-rates":                                     "public owner=false default",
		"PUT /v1/shipping-rates":                                     "admin owner=false write",
		"POST /v1/shipping-rates":                                    "admin owner=false write",
		"DELETE /v1/shipping-rates/{method}":                         "admin owner=false write",
		"GET /v1/tax-rates":                                          "public owner=false default",
		"PUT /v1/tax-rates":                                          "admin owner=false write",
		"POST /v1/tax-rates":                                         "admin owner=false write",
		"DELETE /v1/tax-rates/{country_code}":                        "admin owner=false write",
		"POST /v1/marketplaces/shopify/stores/{store_id}/webhooks":   "public owner=false webhook",
		"POST /v1/carrier-updates":                                   "public owner=false webhook",
		"POST /v1/webhooks":                                          "user,admin owner=false write",
		"GET /v1/webhooks":                                           "user,admin owner=false default",
		"GET /v1/webhooks/{webhook_id}":                              "user,admin owner=true default",
		"DELETE /v1/webhooks/{webhook_id}":                           "user,admin owner=true write",
		"POST /v1/webhooks/{webhook_id}:rotate-secret":               "user,admin owner=true write",
		"POST /v1/webhooks/{webhook_id}:enable":                      "user,admin owner=true write",
		"GET /v1/webhooks/{webhook_id}/deliveries":                   "user,admin owner=true default",
		"POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}:redeliver": "user,admin owner=true write",
	}
	got := map[string]string{}
	for _, r := range Routes {
		who := strings.Join(r.Roles, ",")
		if r.Public {
			who = "public"
		}
		k := r.Method + " " + r.Template
		if _, dup := got[k]; dup {
			t.Fatalf("duplicate route %s", k)
		}
		got[k] = who + " owner=" + map[bool]string{true: "true", false: "false"}[r.Owner] + " " + r.Class
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected route %s", k)
		}
	}
}

func TestTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/orders/{order_id=*}":        "/v1/orders/{order_id}",
		"/v1/orders/{order_id=*}:cancel": "/v1/orders/{order_id}:cancel",
		"/v1/orders/{order_id=*}/events": "/v1/orders/{order_id}/events",
		"/docs/{path=**}":                "/docs/{path=**}",
		"/v1/products":                   "/v1/products",
	} {
		if got := Template(in); got != want {
			t.Errorf("Template(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAllowedMethods(t *testing.T) {
	for path, want := range map[string][]string{
		"/v1/orders":                                  {"POST", "GET"},
		"/v1/orders/abc":                              {"GET", "PATCH"},
		"/v1/orders/abc:cancel":                       {"GET", "POST", "PATCH"}, // GET reads order_id "abc:cancel", as grpc-gateway does
		"/v1/orders/abc:retry-import":                 {"GET", "PATCH", "POST"},
		"/v1/marketplaces/shopify/stores/s1/webhooks": {"POST"},
		"/v1/orders/abc/events":                       {"GET"},
		"/v1/products/p1":                             {"GET", "PATCH"},
		"/docs/swagger-ui.css":                        {"GET"},
		"/v1/nothing":                                 nil,
		"/v1/orders/abc:explode":                      {"GET", "PATCH"},
		"/v1/orders//events":                          nil,
	} {
		got := AllowedMethods(path)
		if !slices.Equal(got, want) {
			t.Errorf("AllowedMethods(%q) = %v, want %v", path, got, want)
		}
	}
}
