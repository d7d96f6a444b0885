package e2e

// Credentials.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestStoreCredentialsNeverEchoed connects stores with distinctive secrets
// and checks that no answer — create, list, refused creates — carries them.
func TestStoreCredentialsNeverEchoed(t *testing.T) {
	e := need(t)
	tok := secToken(t, newSubject("creds"), "user", time.Hour)
	var all []map[string]any
	for _, m := range []struct{ mk, shop string }{
		{"MARKETPLACE_SHOPIFY", "creds-" + uuid.NewString()[:8]}, {"MARKETPLACE_ETSY", "31337"}, {"MARKETPLACE_AMAZON", "ATVPDKIKX0DER"},
	} {
		st, creds := newStore(t, e, tok, m.mk, m.shop, "Creds "+m.mk)
		all = append(all, creds)
		if c, ok := st["credentials"]; ok && c != nil {
			if cm, _ := c.(map[string]any); len(cm) > 0 {
				t.Errorf("the created store returns credentials: %v", secJSON(st))
			}
		}
	}
	list := e.api.do(t, "GET", "/v1/stores?page_size=100", tok, nil)
	if list.Status != http.StatusOK || len(dig(list.JSON(t), "stores").([]any)) < 3 {
		t.Fatalf("store list: %d %s", list.Status, secClip(list.Body, 500))
	}
	assertNoSecretIn(t, "GET /v1/stores", list.Body)
	for _, s := range dig(list.JSON(t), "stores").([]any) {
		if c := dig(s, "credentials"); c != nil {
			t.Errorf("a listed store carries credentials: %s", secJSON(s))
		}
	}

	// Refused creates must not echo the secrets either.
	secret := "sec-refused-" + uuid.NewString()
	rememberSecretAs("store credential (refused)", secret)
	refused := []struct {
		name string
		body any
	}{
		{"unknown marketplace", map[string]any{"marketplace": "MARKETPLACE_NOPE", "shop_id": "x", "name": "x", "credentials": map[string]any{"api_key": secret}}},
		{"api key too long", map[string]any{"marketplace": "MARKETPLACE_SHOPIFY", "shop_id": "x", "name": "x", "credentials": map[string]any{"api_key": secret + strings.Repeat("k", 600)}}},
		{"bad shop id", map[string]any{"marketplace": "MARKETPLACE_SHOPIFY", "shop_id": "bad shop!", "name": "x", "credentials": map[string]any{"client_secret": secret}}},
		{"credential of the wrong type", `{"marketplace":"MARKETPLACE_SHOPIFY","shop_id":"x","name":"x","credentials":{"api_key":["` + secret + `"]}}`},
		{"etsy key without its shared secret", map[string]any{"marketplace": "MARKETPLACE_ETSY", "shop_id": "31337", "name": "x", "credentials": map[string]any{"api_key": secret}}},
		{"unknown credential field", `{"marketplace":"MARKETPLACE_SHOPIFY","shop_id":"x","name":"x","credentials":{"password":"` + secret + `"}}`},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			got := e.api.do(t, "POST", "/v1/stores", tok, r.body)
			if got.Status < 400 || got.Status >= 500 {
				t.Errorf("%d %s, want a 4xx", got.Status, secClip(got.Body, 300))
			}
			assertNoSecretIn(t, "refused POST /v1/stores ("+r.name+")", got.Body)
		})
	}
	_ = all

	// Credentials in use: the marketplace worker pushes shipments with them,
	// and with every access token expired it refreshes through the OAuth
	// endpoints (refresh token, client id and secret on the wire). The log
	// scan at the end of the run covers whatever those paths log.
	t.Run("in use with token refresh", func(t *testing.T) {
		tok := secToken(t, newSubject("creds-in-use"), "user", time.Hour) // the shops above are this user's already
		partner := secToken(t, newSubject("creds-partner"), "fulfillment", time.Hour)
		variant, front := sticker(t, e)
		design := readyDesign(t, e, tok, designPNG(t, 1800, 1800))
		t.Cleanup(func() { setMarketplaceFaults(t, e, `{"expire_tokens":false}`) })
		for _, name := range []string{"etsy", "amazon"} {
			before := refreshCount(t, e, name)
			// A shop the stand-in issued (it refreshes only the refresh
			// tokens it issued), with order import off: the order is typed in.
			shop := connectShopOff(t, e, tok, name)
			externalOrder, items := marketOrder(t, e, shop, 1)
			o := secCreateOrder(t, e, tok, map[string]any{
				"items": []any{map[string]any{"variant_id": variant, "quantity": 1, "design_id": design, "placement_id": front,
					"external_item_id": items[0]}},
				"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
				"store_id": shop.storeID, "external_order_id": externalOrder,
			})
			if o.Status != http.StatusCreated {
				t.Fatalf("order: %d %s", o.Status, o.Body)
			}
			id := str(o.JSON(t), "id")
			waitStatus(t, e, tok, id, "ORDER_STATUS_IN_PRODUCTION", 120*time.Second)
			// Every access token issued so far expires: the push must refresh.
			setMarketplaceFaults(t, e, `{"expire_tokens":true}`)
			tracking := "1ZCRED" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))[:12]
			e.api.must(t, http.StatusCreated, "POST", "/v1/orders/"+id+"/shipments", partner, map[string]any{"carrier": "UPS", "tracking_number": tracking})
			eventually(t, 60*time.Second, "the push at "+name+" after a token refresh", func() (bool, string) {
				got := sandboxReceived(t, e, name)
				return strings.Contains(got, tracking), fmt.Sprintf("%d bytes recorded", len(got))
			})
			if after := refreshCount(t, e, name); after <= before {
				t.Errorf("%s: no token refresh happened (%d → %d): the refresh path was not exercised", name, before, after)
			}
			ev := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id+"/events", tok, nil)
			assertNoSecretIn(t, "GET /v1/orders/{id}/events", []byte(secJSON(ev)))
		}
	})
}

// setMarketplaceFaults patches the switches of all three marketplace
// stand-ins.
func setMarketplaceFaults(t *testing.T, e *environment, patch string) {
	t.Helper()
	resp, err := http.Post(e.layout.MarketplacesURL()+"/_sandbox/faults", "application/json", strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("marketplace faults %s: %s", patch, resp.Status)
	}
}

// refreshCount is the stand-in's count of token refreshes.
func refreshCount(t *testing.T, e *environment, marketplace string) int {
	t.Helper()
	var rec struct {
		Counters struct {
			TokenRefreshes int `json:"token_refreshes"`
		} `json:"counters"`
	}
	if err := json.Unmarshal([]byte(sandboxReceived(t, e, marketplace)), &rec); err != nil {
		t.Fatalf("sandbox received: %v", err)
	}
	return rec.Counters.TokenRefreshes
}
