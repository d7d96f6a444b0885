package marketplace_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/printfleet/printfleet/sandbox/marketplace"
)

func postJSON(t *testing.T, u string, body any) answer {
	t.Helper()
	b, _ := json.Marshal(body)
	return do(t, "POST", u, map[string]string{"Content-Type": "application/json"}, b)
}

// gql sends an Admin GraphQL request to shop.
func gql(t *testing.T, base, shop, token, query string, vars map[string]any) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return do(t, "POST", base+"/shopify/"+shop+"/admin/api/2026-10/graphql.json",
		map[string]string{"X-Shopify-Access-Token": token, "Content-Type": "application/json"}, body)
}

const ordersQuery = `query($first: Int!, $after: String, $query: String) { orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
  pageInfo { hasNextPage endCursor }
  nodes { id legacyResourceId name updatedAt cancelledAt cancelReason currencyCode displayFinancialStatus
    shippingAddress { name address1 address2 city provinceCode zip countryCodeV2 }
    lineItems(first: 10) { nodes { id quantity sku title variant { id legacyResourceId } product { id legacyResourceId } } }
    fulfillmentOrders(first: 5) { nodes { id status assignedLocation { location { id } } lineItems(first: 10) { nodes { id remainingQuantity } } } } } } }`

// Shops are issued with credentials; from then on only the sandbox's own
// tokens work, each for its shop and until it expires; the refresh token
// rotates.
func TestShopifyShopsAndTokens(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{Limits: marketplace.Limits{TokenTTL: 300 * time.Millisecond}})
	a := postJSON(t, base+"/_sandbox/shopify/shops", map[string]any{})
	shop, _ := a.body["shop_id"].(string)
	creds, _ := dig(a.body, "store", "credentials").(map[string]any)
	if a.status != 201 || !strings.HasPrefix(shop, "shop-") || dig(a.body, "store", "shop_id") != shop ||
		dig(a.body, "store", "marketplace") != "MARKETPLACE_SHOPIFY" || creds["webhook_secret"] != creds["client_secret"] ||
		!strings.HasPrefix(creds["access_token"].(string), "shpat_") || creds["refresh_token"] == "" || creds["client_id"] == "" {
		t.Fatalf("issued: %d %s", a.status, a.raw)
	}
	access := creds["access_token"].(string)
	other := postJSON(t, base+"/_sandbox/shopify/shops", map[string]any{"shop_id": "Other-Shop.myshopify.com"})
	if other.status != 201 || other.body["shop_id"] != "other-shop" {
		t.Fatalf("named shop: %d %s", other.status, other.raw)
	}
	q := `{ orders(first: 1) { nodes { id } } }`
	if r := gql(t, base, shop, access, q, nil); r.status != 200 {
		t.Fatalf("own token: %d %s", r.status, r.raw)
	}
	for name, tok := range map[string]string{"made up": "shpat_1", "other shop's": dig(other.body, "store", "credentials", "access_token").(string), "none": ""} {
		if r := gql(t, base, shop, tok, q, nil); r.status != 401 {
			t.Fatalf("%s token: %d", name, r.status)
		}
	}
	if bad := postJSON(t, base+"/_sandbox/shopify/shops", map[string]any{"shop_id": "no spaces"}); bad.status != 400 {
		t.Fatalf("bad shop id: %d", bad.status)
	}

	tokenURL := base + "/shopify/" + shop + "/admin/oauth/access_token"
	form := func(v url.Values) answer {
		return do(t, "POST", tokenURL, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte(v.Encode()))
	}
	good := url.Values{"grant_type": {"refresh_token"}, "client_id": {creds["client_id"].(string)},
		"client_secret": {creds["client_secret"].(string)}, "refresh_token": {creds["refresh_token"].(string)}}
	wrong := url.Values{}
	for k, v := range good {
		wrong[k] = v
	}
	wrong.Set("client_secret", "shpss_wrong")
	if r := form(wrong); r.status != 401 || r.body["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %d %s", r.status, r.raw)
	}
	wrong.Set("client_secret", good.Get("client_secret"))
	wrong.Set("refresh_token", "shprt_unknown")
	if r := form(wrong); r.status != 400 || r.body["error"] != "invalid_grant" {
		t.Fatalf("unknown refresh token: %d %s", r.status, r.raw)
	}

	time.Sleep(400 * time.Millisecond)
	if r := gql(t, base, shop, access, q, nil); r.status != 401 {
		t.Fatalf("expired token: %d", r.status)
	}
	r := form(good)
	next, _ := r.body["access_token"].(string)
	if r.status != 200 || next == "" || next == access || r.body["refresh_token"] == good.Get("refresh_token") ||
		r.body["expires_in"] == nil || r.body["refresh_token_expires_in"] == nil {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	// The answer was lost: the spent refresh token works until the new access
	// token is used.
	r = postJSON(t, tokenURL, map[string]string{"grant_type": "refresh_token", "client_id": good.Get("client_id"),
		"client_secret": good.Get("client_secret"), "refresh_token": good.Get("refresh_token")})
	next, _ = r.body["access_token"].(string)
	if r.status != 200 {
		t.Fatalf("refresh again (JSON): %d %s", r.status, r.raw)
	}
	if a := gql(t, base, shop, next, q, nil); a.status != 200 {
		t.Fatalf("refreshed token: %d %s", a.status, a.raw)
	}
	if r := form(good); r.status != 400 {
		t.Fatalf("spent refresh token after the new token was used: %d %s", r.status, r.raw)
	}
	// expire_tokens still expires every token issued so far.
	if err := s.SetFaults(marketplace.Shopify, marketplace.Faults{ExpireTokens: true}); err != nil {
		t.Fatal(err)
	}
	if a := gql(t, base, shop, next, q, nil); a.status != 401 {
		t.Fatalf("after expire_tokens: %d", a.status)
	}
	if c := s.Received(marketplace.Shopify).Counters; c.TokenRefreshes != 2 {
		t.Fatalf("counters %+v", c)
	}
	// Reset forgets shops.
	s.Reset()
	if r := postJSON(t, base+"/_sandbox/shopify/shops/"+shop+"/orders", map[string]any{"lines": []any{map[string]any{"sku": "A", "quantity": 1}}}); r.status != 404 {
		t.Fatalf("order after reset: %d", r.status)
	}
}

// Orders placed through the admin API read through orders(first:, after:,
// query:, sortKey: UPDATED_AT), with fulfillment orders per location, and
// cancel as the merchant would.
func TestShopifyOrdersQuery(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	tok := acme(t, s)
	var ids []string
	for i := range 3 {
		lines := []any{map[string]any{"product_id": "gid://shopify/Product/7001", "variant_id": 7101, "sku": fmt.Sprintf("MUG-%d", i), "quantity": 2, "title": "Mug"}}
		if i == 1 {
			lines = append(lines, map[string]any{"sku": "TEE", "quantity": 1, "location": "second"})
		}
		r := postJSON(t, base+"/_sandbox/shopify/shops/acme/orders", map[string]any{"lines": lines, "currency": "usd",
			"address": map[string]any{"name": "Ada", "line1": "1 Main St", "city": "Springfield", "region": "IL", "postal_code": "62701", "country_code": "US"}})
		if r.status != 201 || len(r.body["item_ids"].([]any)) != len(lines) {
			t.Fatalf("place: %d %s", r.status, r.raw)
		}
		ids = append(ids, r.body["order_id"].(string))
	}
	if r := postJSON(t, base+"/_sandbox/shopify/shops/acme/orders/"+ids[0]+"/cancel", map[string]any{"reason": "inventory"}); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	if r := postJSON(t, base+"/_sandbox/shopify/shops/acme/orders/"+ids[0]+"/cancel", nil); r.status != 409 {
		t.Fatalf("cancel again: %d %s", r.status, r.raw)
	}
	if r := postJSON(t, base+"/_sandbox/shopify/shops/acme/orders", map[string]any{"lines": []any{}}); r.status != 400 {
		t.Fatalf("no lines: %d", r.status)
	}
	first := gql(t, base, "acme", tok, ordersQuery, map[string]any{"first": 2, "query": "updated_at:>'2020-01-01T00:00:00Z'"})
	nodes, _ := dig(first.body, "data", "orders", "nodes").([]any)
	if len(nodes) != 2 || dig(first.body, "data", "orders", "pageInfo", "hasNextPage") != true || dig(first.body, "extensions", "cost", "requestedQueryCost") == nil {
		t.Fatalf("first page: %s", first.raw)
	}
	o := nodes[0].(map[string]any)
	if o["legacyResourceId"] != ids[1] || o["name"] != "#1002" || o["currencyCode"] != "USD" || o["displayFinancialStatus"] != "PAID" ||
		dig(o, "shippingAddress", "provinceCode") != "IL" || dig(o, "lineItems", "nodes", 0, "product", "legacyResourceId") != "7001" ||
		dig(o, "lineItems", "nodes", 0, "variant", "id") != "gid://shopify/ProductVariant/7101" {
		t.Fatalf("order: %v", o)
	}
	locs := []any{dig(o, "fulfillmentOrders", "nodes", 0, "assignedLocation", "location", "id"), dig(o, "fulfillmentOrders", "nodes", 1, "assignedLocation", "location", "id")}
	if locs[0] == nil || locs[1] == nil || locs[0] == locs[1] {
		t.Fatalf("two lines at two locations: %v", locs)
	}
	after := dig(first.body, "data", "orders", "pageInfo", "endCursor")
	second := gql(t, base, "acme", tok, ordersQuery, map[string]any{"first": 2, "after": after, "query": "updated_at:>'2020-01-01T00:00:00Z'"})
	last := dig(second.body, "data", "orders", "nodes", 0)
	if dig(second.body, "data", "orders", "pageInfo", "hasNextPage") != false || dig(last, "legacyResourceId") != ids[0] ||
		dig(last, "cancelReason") != "INVENTORY" || dig(last, "cancelledAt") == nil || dig(last, "fulfillmentOrders", "nodes", 0, "status") != "CLOSED" {
		t.Fatalf("second page (the cancelled order, updated last): %s", second.raw)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	none := gql(t, base, "acme", tok, ordersQuery, map[string]any{"first": 2, "query": "updated_at:>'" + future + "'"})
	if n, _ := dig(none.body, "data", "orders", "nodes").([]any); none.status != 200 || len(n) != 0 {
		t.Fatalf("future filter: %s", none.raw)
	}
	if bad := gql(t, base, "acme", tok, ordersQuery, map[string]any{"first": 2, "query": "updated_at:>'yesterday'"}); dig(bad.body, "errors") == nil {
		t.Fatalf("bad filter: %s", bad.raw)
	}
}

// hookSink records webhook requests; fail answers 500 to the first n
// requests of each webhook id.
type hookSink struct {
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
	fail map[string]int
	n    int
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, r)
	h.body = append(h.body, b)
	id := r.Header.Get("X-Shopify-Webhook-Id")
	if h.fail[id] < h.n {
		h.fail[id]++
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
}

func (h *hookSink) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

func (h *hookSink) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d webhook requests, want %d", h.count(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Webhooks are signed with the shop's client secret and carry Shopify's
// headers; the switches duplicate, drop, forge and reorder deliveries, and a
// failed delivery is retried with the same webhook id.
func TestShopifyWebhooks(t *testing.T) {
	t.Parallel()
	_, base := start(t, marketplace.Options{})
	issued := postJSON(t, base+"/_sandbox/shopify/shops", map[string]any{"shop_id": "hooks"})
	secret := dig(issued.body, "store", "credentials", "webhook_secret").(string)
	sink := &hookSink{fail: map[string]int{}}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	if r := postJSON(t, base+"/_sandbox/shopify/shops/hooks/webhooks", map[string]any{"address": srv.URL + "/hook"}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	placeOne := func(sku string) string {
		r := postJSON(t, base+"/_sandbox/shopify/shops/hooks/orders", map[string]any{"lines": []any{map[string]any{"sku": sku, "quantity": 1}}})
		if r.status != 201 {
			t.Fatalf("place: %d %s", r.status, r.raw)
		}
		return r.body["order_id"].(string)
	}
	faults := func(patch string) {
		if r := do(t, "POST", base+"/_sandbox/faults?marketplace=shopify", nil, []byte(patch)); r.status != 200 {
			t.Fatalf("faults %s: %d %s", patch, r.status, r.raw)
		}
	}

	id := placeOne("A")
	sink.wait(t, 1)
	r, body := sink.got[0], sink.body[0]
	var payload map[string]any
	_ = json.Unmarshal(body, &payload)
	if r.Header.Get("X-Shopify-Topic") != "orders/create" || r.Header.Get("X-Shopify-Shop-Domain") != "hooks.myshopify.com" ||
		r.Header.Get("X-Shopify-Webhook-Id") == "" || r.Header.Get("X-Shopify-Event-Id") == "" || r.Header.Get("X-Shopify-API-Version") == "" ||
		r.Header.Get("X-Shopify-Triggered-At") == "" || !marketplace.VerifyShopifyWebhook(body, r.Header.Get("X-Shopify-Hmac-Sha256"), secret) ||
		fmt.Sprint(payload["id"]) == "" || !strings.Contains(string(body), `"id":`+id) || dig(payload, "line_items", 0, "sku") != "A" ||
		payload["financial_status"] != "paid" {
		t.Fatalf("delivery %v: %s", r.Header, body)
	}

	faults(`{"webhook_copies":3}`)
	placeOne("B")
	sink.wait(t, 4)
	ids := map[string]bool{}
	for _, r := range sink.got[1:4] {
		ids[r.Header.Get("X-Shopify-Webhook-Id")] = true
	}
	if len(ids) != 1 {
		t.Fatalf("copies carry %d webhook ids", len(ids))
	}

	faults(`{"webhook_copies":1,"webhook_bad_signature":true}`)
	placeOne("C")
	sink.wait(t, 5)
	if marketplace.VerifyShopifyWebhook(sink.body[4], sink.got[4].Header.Get("X-Shopify-Hmac-Sha256"), secret) {
		t.Fatal("a forged signature verifies")
	}

	faults(`{"webhook_bad_signature":false,"webhook_drop":true}`)
	placeOne("D")
	time.Sleep(100 * time.Millisecond)
	if sink.count() != 5 {
		t.Fatalf("a dropped delivery arrived: %d", sink.count())
	}

	faults(`{"webhook_drop":false,"webhook_shuffle":true}`)
	var shuffled []string
	for _, sku := range []string{"E", "F", "G"} {
		shuffled = append(shuffled, placeOne(sku))
	}
	sink.wait(t, 8)
	var arrived []string
	for _, b := range sink.body[5:8] {
		var p struct {
			ID json.Number `json:"id"`
		}
		_ = json.Unmarshal(b, &p)
		arrived = append(arrived, p.ID.String())
	}
	slices.Reverse(shuffled)
	if !slices.Equal(arrived, shuffled) {
		t.Fatalf("shuffled batch arrived %v, want %v", arrived, shuffled)
	}

	faults(`{"webhook_shuffle":false}`)
	sink.mu.Lock()
	sink.n = 2
	sink.mu.Unlock()
	placeOne("H")
	sink.wait(t, 11)
	retried := map[string]bool{}
	for _, r := range sink.got[8:11] {
		retried[r.Header.Get("X-Shopify-Webhook-Id")] = true
	}
	if len(retried) != 1 {
		t.Fatalf("retries carry %d webhook ids", len(retried))
	}

	var list struct {
		Deliveries []marketplace.ShopifyDelivery `json:"deliveries"`
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		a := do(t, "GET", base+"/_sandbox/shopify/webhooks", nil, nil)
		_ = json.Unmarshal([]byte(a.raw), &list)
		if n := len(list.Deliveries); n == 8 && list.Deliveries[7].Status == "delivered" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := list.Deliveries
	if len(d) != 8 || d[0].Topic != "orders/create" || d[0].OrderID != id || d[1].Copies != 3 || !d[2].BadSignature ||
		!d[3].Dropped || d[3].Status != "dropped" || d[7].Attempts != 3 || d[7].Status != "delivered" {
		t.Fatalf("deliveries: %+v", d)
	}

	// A cancel sends orders/cancelled and orders/updated.
	if r := postJSON(t, base+"/_sandbox/shopify/shops/hooks/orders/"+id+"/cancel", nil); r.status != 200 {
		t.Fatalf("cancel: %d", r.status)
	}
	sink.wait(t, 13)
	topics := []string{sink.got[11].Header.Get("X-Shopify-Topic"), sink.got[12].Header.Get("X-Shopify-Topic")}
	slices.Sort(topics)
	var cancelled map[string]any
	_ = json.Unmarshal(sink.body[12], &cancelled)
	if !slices.Equal(topics, []string{"orders/cancelled", "orders/updated"}) || cancelled["cancelled_at"] == nil || cancelled["cancel_reason"] != "customer" {
		t.Fatalf("cancel deliveries %v: %v", topics, cancelled)
	}

	// Uninstalling the app revokes the shop's tokens and sends app/uninstalled.
	if r := postJSON(t, base+"/_sandbox/shopify/shops/hooks/uninstall", nil); r.status != 200 {
		t.Fatalf("uninstall: %d", r.status)
	}
	sink.wait(t, 14)
	if topic := sink.got[13].Header.Get("X-Shopify-Topic"); topic != "app/uninstalled" || !strings.Contains(string(sink.body[13]), `"myshopify_domain":"hooks.myshopify.com"`) {
		t.Fatalf("uninstall delivery %s: %s", topic, sink.body[13])
	}
	access := dig(issued.body, "store", "credentials", "access_token").(string)
	if r := gql(t, base, "hooks", access, `{ orders(first: 1) { nodes { id } } }`, nil); r.status != 401 {
		t.Fatalf("token after uninstall: %d", r.status)
	}
}

// orders cursors are keyset cursors: an order changed while a client pages
// moves behind the cursor without making the next page skip another.
func TestShopifyOrdersCursorSurvivesChanges(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	tok := acme(t, s)
	var ids []string
	for range 4 {
		p, err := s.PlaceShopifyOrder("acme", marketplace.ShopifyOrderInput{Lines: []marketplace.ShopifyOrderLine{{SKU: "A", Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.OrderID)
		time.Sleep(2 * time.Millisecond)
	}
	q := `query($after: String) { orders(first: 2, after: $after, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } nodes { legacyResourceId } } }`
	first := gql(t, base, "acme", tok, q, map[string]any{"after": nil})
	if err := s.CancelShopifyOrder("acme", ids[0], ""); err != nil {
		t.Fatal(err)
	}
	second := gql(t, base, "acme", tok, q, map[string]any{"after": dig(first.body, "data", "orders", "pageInfo", "endCursor")})
	var got []string
	for _, page := range []answer{first, second} {
		for _, n := range dig(page.body, "data", "orders", "nodes").([]any) {
			got = append(got, n.(map[string]any)["legacyResourceId"].(string))
		}
	}
	if want := []string{ids[0], ids[1], ids[2], ids[3]}; !slices.Equal(got, want) {
		t.Fatalf("pages read %v, want %v then the changed order later", got, want)
	}
}
