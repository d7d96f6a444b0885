package e2e

// Stores of the tests that type marketplace orders in over REST: shops
// issued by the marketplace stand-in (it accepts only the credentials it
// issued), connected with order import off so the importer does not race the
// REST creates, and orders placed in the stand-in first so that the pushes of
// their tracking name an order the marketplace knows.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// connectShopOff is connectShop with the store's order_import "off": the
// worker never polls the store, and the tests place its orders over REST with
// the external ids the stand-in gave them.
func connectShopOff(t *testing.T, e *environment, seller, market string) importShop {
	t.Helper()
	shop, _ := connectShopWith(t, e, seller, market, "", map[string]any{"order_import": "off"}, nil)
	return shop
}

// connectShopWith has the stand-in issue a shop of market (named shopID, or
// a new one when empty) and connects it as a store of the seller with the store body the stand-in returned, the
// fields of extra added, and the credentials keep allows (all of them when
// keep is nil). The issued credentials are remembered as secrets for the log
// scan. It returns the shop and the store as POST /v1/stores answered it.
func connectShopWith(t *testing.T, e *environment, seller, market, shopID string, extra map[string]any, keep []string) (importShop, map[string]any) {
	t.Helper()
	req := map[string]any{}
	if shopID != "" {
		req["shop_id"] = shopID
	}
	if market == "amazon" {
		req["region"] = "na"
	}
	created := sandboxMust(t, e, http.StatusCreated, http.MethodPost, "/_sandbox/"+market+"/shops", req)
	shop := importShop{market: market, shopID: str(created, "shop_id"), seller: seller}
	store, ok := dig(created, "store").(map[string]any)
	if shop.shopID == "" || !ok || str(store, "marketplace") != marketplaceEnum(market) {
		t.Fatalf("sandbox %s shop without shop_id or store body: %v", market, created)
	}
	creds, _ := dig(store, "credentials").(map[string]any)
	for k, v := range creds {
		s, _ := v.(string)
		if strings.Contains(k, "secret") || strings.Contains(k, "token") || k == "api_key" {
			rememberSecretAs(market+" credential "+k, s)
		}
	}
	if market == "shopify" {
		shop.secret = str(creds, "webhook_secret")
	}
	if keep != nil {
		kept := map[string]any{}
		for _, k := range keep {
			if v, ok := creds[k]; ok {
				kept[k] = v
			}
		}
		store["credentials"] = kept
	}
	for k, v := range extra {
		store[k] = v
	}
	if _, ok := store["name"]; !ok {
		store["name"] = "Shop " + market + " " + shop.shopID
	}
	r := e.api.do(t, http.MethodPost, "/v1/stores", seller, store)
	if r.Status != http.StatusCreated {
		t.Fatalf("connect the %s shop %s: POST /v1/stores %d %s", market, shop.shopID, r.Status, secClip(r.Body, 800))
	}
	assertNoSecretIn(t, "POST /v1/stores response", r.Body)
	answered := r.JSON(t)
	shop.storeID = str(answered, "id")
	if shop.storeID == "" {
		t.Fatalf("store without id: %s", r.Body)
	}
	if got := str(answered, "order_import"); extra["order_import"] != nil && got != "" && got != extra["order_import"] {
		t.Fatalf("store %s connected with order_import %q, asked %v", shop.storeID, got, extra["order_import"])
	}
	return shop, answered
}

// marketOrder places an order of n lines in the shop and returns its
// external order id and the external item id of each line, the ids a REST
// order of the store carries.
func marketOrder(t *testing.T, e *environment, shop importShop, n int) (string, []string) {
	t.Helper()
	lines := make([]map[string]any, n)
	for i := range lines {
		lines[i] = sandboxLine(shop.market, fmt.Sprintf("REST-%d-%d", time.Now().UnixNano(), i), "REST line", 1)
	}
	ext, items := placeSandboxOrder(t, e, shop, lines...)
	if len(items) != n {
		t.Fatalf("sandbox %s order %s has %d item ids, want %d", shop.market, ext, len(items), n)
	}
	return ext, items
}

// sandboxPlaceOrder places a one-line order in a shop of the stand-in at
// base, for callers without a testing.T (load generators); it returns the
// external order id and item id.
func sandboxPlaceOrder(ctx context.Context, c *http.Client, base, market, shopID string) (string, string, error) {
	raw, _ := json.Marshal(map[string]any{
		"lines":   []any{sandboxLine(market, fmt.Sprintf("LOAD-%d", time.Now().UnixNano()), "Load line", 1)},
		"address": sandboxAddress(), "currency": "USD",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/_sandbox/"+market+"/shops/"+shopID+"/orders", bytes.NewReader(raw))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("sandbox %s order: %d %.300s", market, resp.StatusCode, body)
	}
	var o struct {
		OrderID string `json:"order_id"`
		ItemIDs []any  `json:"item_ids"`
	}
	if err := json.Unmarshal(body, &o); err != nil || o.OrderID == "" || len(o.ItemIDs) != 1 {
		return "", "", fmt.Errorf("sandbox %s order: unexpected answer %.300s", market, body)
	}
	return o.OrderID, fmt.Sprint(o.ItemIDs[0]), nil
}
