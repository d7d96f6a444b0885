package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// setMarketFaults switches a sandbox marketplace's faults.
func setMarketFaults(t *testing.T, e *environment, marketplace, patch string) {
	t.Helper()
	resp, err := http.Post(e.layout.MarketplacesURL()+"/_sandbox/faults?marketplace="+marketplace, "application/json", strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("marketplace faults %s %s: %s", marketplace, patch, resp.Status)
	}
}

// A Shopify shop refusing the store's token (401) marks the store as
// needing reconnection, which its seller sees in GET /v1/stores; connecting
// the shop again keeps the store and clears the mark.
func TestShopifyRefusalShowsStoreNeedsReconnection(t *testing.T) {
	e := need(t)
	alice := token(t, "alice-"+uuid.NewString()[:8], "user", time.Hour)
	partner := token(t, "print-partner", "fulfillment", time.Hour)
	mug, _ := demoItem(t, e, "Ceramic Mug 11oz", "White", "wrap")
	// The store holds only the issued access token: with no refresh token to
	// fall back on, an expired token is a refusal only reconnecting fixes.
	shop, _ := connectShopWith(t, e, alice, "shopify", "", map[string]any{"order_import": "off", "name": "Alice's Shopify"}, []string{"access_token"})
	storeID := shop.storeID
	externalOrder, items := marketOrder(t, e, shop, 1)
	order := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders", alice, map[string]any{
		"items":            []any{map[string]any{"variant_id": mug, "quantity": 1, "external_item_id": items[0]}},
		"shipping_address": address(), "currency": "GBP", "payment_method": "PAYMENT_METHOD_CARD",
		"store_id": storeID, "external_order_id": externalOrder,
	}, "Idempotency-Key", uuid.NewString())
	id := str(order, "id")
	waitStatus(t, e, alice, id, "ORDER_STATUS_IN_PRODUCTION", 90*time.Second)

	setMarketFaults(t, e, "shopify", `{"expire_tokens":true}`)
	defer setMarketFaults(t, e, "shopify", `{"expire_tokens":false}`)
	shippedAt := time.Now()
	e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders/"+id+"/shipments", partner, map[string]any{
		"carrier": "UPS", "tracking_number": "1ZRECONNECT" + fmt.Sprint(time.Now().UnixNano()%1_000_000),
	})
	var mine map[string]any
	eventually(t, 60*time.Second, "the store marked in GET /v1/stores", func() (bool, string) {
		list := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/stores", alice, nil)
		for _, s := range dig(list, "stores").([]any) {
			if str(s, "id") == storeID {
				mine = s.(map[string]any)
				return mine["needs_reconnection"] == true, fmt.Sprint(mine)
			}
		}
		return false, "store not listed"
	})
	t.Logf("shopify refused the token: store needs_reconnection=true %v after the shipment; reason %q",
		time.Since(shippedAt).Round(time.Millisecond), str(mine, "reconnection_reason"))
	if !strings.Contains(str(mine, "reconnection_reason"), "401") || strings.Contains(fmt.Sprint(mine), "shpat_") {
		t.Fatalf("store as listed: %v", mine)
	}

	// Connecting again: the stand-in issues the shop new credentials.
	issued := sandboxMust(t, e, http.StatusCreated, http.MethodPost, "/_sandbox/shopify/shops", map[string]any{"shop_id": shop.shopID})
	body, _ := dig(issued, "store").(map[string]any)
	for k, v := range dig(body, "credentials").(map[string]any) {
		if s, _ := v.(string); s != "" && k != "client_id" {
			rememberSecretAs("shopify credential "+k, s)
		}
	}
	body["name"], body["order_import"] = "Alice's Shopify", "off"
	again := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/stores", alice, body)
	t.Logf("connected again: same store %v, needs_reconnection=%v", str(again, "id") == storeID, again["needs_reconnection"])
	if str(again, "id") != storeID || again["needs_reconnection"] == true {
		t.Fatalf("reconnect: %v", again)
	}
}
