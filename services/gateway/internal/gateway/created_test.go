package gateway_test

import (
	"testing"
)

// TestCreatesAnswerCreatedWithLocation: every create route answers 201 with
// a Location naming the created resource (a shipment: its order's
// shipments); other writes do not.
func TestCreatesAnswerCreatedWithLocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := bearer(mint(t, "admin-1", []string{"admin"}))
	cases := []struct {
		route    string
		hdr      map[string]string
		location string
	}{
		{"POST /v1/orders", merge(aliceUser(t), map[string]string{"Idempotency-Key": "loc-1"}), "/v1/orders/" + newID},
		{"POST /v1/orders/{order_id}/shipments", bearer(mint(t, "dock", []string{"fulfillment"})), "/v1/orders/" + aliceOrder + "/shipments"},
		{"POST /v1/products", admin, "/v1/products/" + newID},
		{"POST /v1/designs", aliceUser(t), "/v1/designs/" + aliceDesign},
		{"POST /v1/stores", aliceUser(t), "/v1/stores/" + newID},
		{"POST /v1/stores/{store_id}/listings", aliceUser(t), "/v1/stores/" + aliceStore + "/listings/" + newID},
		{"POST /v1/webhooks", aliceUser(t), "/v1/webhooks/" + newID},
	}
	for _, c := range cases {
		t.Run(c.route, func(t *testing.T) {
			fx := fixtures[c.route]
			resp := e.do("POST", fx.path, fx.body, merge(fx.hdr, c.hdr))
			if resp.status != 201 {
				t.Fatalf("status %d, want 201: %s", resp.status, resp.body)
			}
			if got := resp.header.Get("Location"); got != c.location {
				t.Fatalf("Location %q, want %q", got, c.location)
			}
		})
	}
	t.Run("not a create", func(t *testing.T) {
		fx := fixtures["POST /v1/orders/{order_id}:cancel"]
		resp := e.do("POST", fx.path, fx.body, aliceUser(t))
		if resp.status != 200 || resp.header.Get("Location") != "" {
			t.Fatalf("status %d, Location %q", resp.status, resp.header.Get("Location"))
		}
	})
}
