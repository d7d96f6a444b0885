package marketplace_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/sandbox/marketplace"
)

// amazonSeller issues a seller and returns its id, its store body and a
// fresh access token from the token endpoint.
func amazonSeller(t *testing.T, base, region string) (string, map[string]any, string) {
	t.Helper()
	a := do(t, "POST", base+"/_sandbox/amazon/shops", nil, []byte(`{"region":"`+region+`"}`))
	if a.status != 201 {
		t.Fatalf("issue: %d %s", a.status, a.raw)
	}
	store, _ := a.body["store"].(map[string]any)
	creds, _ := store["credentials"].(map[string]any)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {creds["refresh_token"].(string)},
		"client_id": {creds["client_id"].(string)}, "client_secret": {creds["client_secret"].(string)}}
	tok := do(t, "POST", base+"/amazon/auth/o2/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte(form.Encode()))
	if tok.status != 200 {
		t.Fatalf("token: %d %s", tok.status, tok.raw)
	}
	return a.body["shop_id"].(string), store, tok.body["access_token"].(string)
}

func amazonOrder(t *testing.T, base, seller string, lines string) answer {
	t.Helper()
	return do(t, "POST", base+"/_sandbox/amazon/shops/"+seller+"/orders", nil,
		[]byte(`{"lines":`+lines+`,"address":{"name":"A B","line1":"1 Main","city":"Berlin","postal_code":"10115","country_code":"de"},"currency":"EUR"}`))
}

func amazonGet(t *testing.T, base, token, path string) answer {
	t.Helper()
	return do(t, "GET", base+path, map[string]string{"x-amz-access-token": token}, nil)
}

func TestAmazonSellersOrdersAndReads(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	seller, store, tok := amazonSeller(t, base, "eu")
	if store["shop_id"] != "A1PA6795UKMFR9" || store["region"] != "eu" || store["marketplace"] != "MARKETPLACE_AMAZON" {
		t.Fatalf("store: %v", store)
	}
	o := amazonOrder(t, base, seller, `[{"product_id":"B0ASIN0001","sku":"TEE-M","quantity":2,"title":"Tee"},{"sku":"MUG","quantity":1}]`)
	if o.status != 201 {
		t.Fatalf("order: %d %s", o.status, o.raw)
	}
	id := o.body["order_id"].(string)
	items := o.body["item_ids"].([]any)

	list := amazonGet(t, base+"/amazon-eu", tok, "/orders/v0/orders?MarketplaceIds=A1PA6795UKMFR9&LastUpdatedAfter=2020-01-01T00:00:00Z")
	if list.status != 200 || list.header.Get("x-amzn-RateLimit-Limit") != "0.0167" || dig(list.body, "payload", "Orders", 0, "AmazonOrderId") != id ||
		dig(list.body, "payload", "Orders", 0, "OrderStatus") != "Unshipped" || dig(list.body, "payload", "Orders", 0, "ShippingAddress", "CountryCode") != "DE" ||
		dig(list.body, "payload", "Orders", 0, "OrderTotal", "CurrencyCode") != "EUR" || dig(list.body, "payload", "LastUpdatedBefore") == nil {
		t.Fatalf("getOrders: %d %v %s", list.status, list.header, list.raw)
	}
	its := amazonGet(t, base+"/amazon-eu", tok, "/orders/v0/orders/"+id+"/orderItems")
	if its.status != 200 || its.header.Get("x-amzn-RateLimit-Limit") != "0.5" || dig(its.body, "payload", "OrderItems", 0, "OrderItemId") != items[0] ||
		dig(its.body, "payload", "OrderItems", 0, "SellerSKU") != "TEE-M" || dig(its.body, "payload", "OrderItems", 0, "ASIN") != "B0ASIN0001" ||
		dig(its.body, "payload", "OrderItems", 0, "QuantityOrdered") != 2.0 || dig(its.body, "payload", "AmazonOrderId") != id {
		t.Fatalf("getOrderItems: %d %s", its.status, its.raw)
	}

	// The model's validation.
	for _, q := range []string{"LastUpdatedAfter=2020-01-01T00:00:00Z", "MarketplaceIds=A1PA6795UKMFR9",
		"MarketplaceIds=A1PA6795UKMFR9&LastUpdatedAfter=2020-01-01T00:00:00Z&CreatedAfter=2020-01-01T00:00:00Z",
		"MarketplaceIds=A1PA6795UKMFR9&LastUpdatedAfter=2020-01-01T00:00:00Z&MaxResultsPerPage=101",
		"MarketplaceIds=ATVPDKIKX0DER&LastUpdatedAfter=2020-01-01T00:00:00Z",
		"MarketplaceIds=A1PA6795UKMFR9&NextToken=bogus"} {
		if a := amazonGet(t, base+"/amazon-eu", tok, "/orders/v0/orders?"+q); a.status != 400 || dig(a.body, "errors", 0, "code") != "InvalidInput" {
			t.Errorf("%s: %d %s", q, a.status, a.raw)
		}
	}
	if a := amazonGet(t, base+"/amazon-eu", tok, "/orders/v0/orders/113-0000000-0000000/orderItems"); a.status != 404 || dig(a.body, "errors", 0, "code") != "NotFound" {
		t.Errorf("items of an unknown order: %d %s", a.status, a.raw)
	}

	// The seller is served only at its region's endpoint.
	if a := amazonGet(t, base+"/amazon", tok, "/orders/v0/orders?MarketplaceIds=A1PA6795UKMFR9&LastUpdatedAfter=2020-01-01T00:00:00Z"); a.status != 403 ||
		dig(a.body, "errors", 0, "code") != "Unauthorized" {
		t.Errorf("eu seller at na: %d %s", a.status, a.raw)
	}
	// Only issued tokens work once a seller exists.
	if a := amazonGet(t, base+"/amazon-eu", "Atza|"+seller+".made-up", "/orders/v0/orders/"+id+"/orderItems"); a.status != 403 {
		t.Errorf("made-up token: %d %s", a.status, a.raw)
	}
	bad := do(t, "POST", base+"/amazon/auth/o2/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		[]byte("grant_type=refresh_token&refresh_token=Atzr|"+seller+".x&client_id=c&client_secret=s"))
	if bad.status != 401 || bad.body["error"] != "invalid_client" {
		t.Errorf("made-up client: %d %s", bad.status, bad.raw)
	}

	// confirmShipment checks the order and its items.
	confirm := func(order, item string) answer {
		body, _ := json.Marshal(map[string]any{"marketplaceId": "A1PA6795UKMFR9", "packageDetail": map[string]any{
			"packageReferenceId": "1", "carrierCode": "DHL", "trackingNumber": "JD0123456789", "shipDate": "2024-05-01T10:00:00Z",
			"orderItems": []any{map[string]any{"orderItemId": item, "quantity": 2}}}})
		return do(t, "POST", base+"/amazon-eu/orders/v0/orders/"+order+"/shipmentConfirmation", map[string]string{"x-amz-access-token": tok}, body)
	}
	if a := confirm("113-0000000-0000000", items[0].(string)); a.status != 404 {
		t.Errorf("unknown order: %d %s", a.status, a.raw)
	}
	if a := confirm(id, "12345"); a.status != 400 || !strings.Contains(a.raw, "is not an item of order") {
		t.Errorf("foreign item: %d %s", a.status, a.raw)
	}
	if a := confirm(id, items[0].(string)); a.status != 204 {
		t.Fatalf("confirm: %d %s", a.status, a.raw)
	}
	show := do(t, "GET", base+"/_sandbox/amazon/shops/"+seller+"/orders/"+id, nil, nil)
	if dig(show.body, "order", "OrderStatus") != "PartiallyShipped" || dig(show.body, "items", 0, "QuantityShipped") != 2.0 {
		t.Fatalf("after a partial shipment: %s", show.raw)
	}
	if a := do(t, "POST", base+"/_sandbox/amazon/shops/"+seller+"/orders/"+id+"/cancel", nil, nil); a.status != 409 {
		t.Errorf("cancel a shipped order: %d %s", a.status, a.raw)
	}

	// Cancelling.
	o2 := amazonOrder(t, base, seller, `[{"sku":"X","quantity":1}]`)
	id2 := o2.body["order_id"].(string)
	if a := do(t, "POST", base+"/_sandbox/amazon/shops/"+seller+"/orders/"+id2+"/cancel", nil, nil); a.status != 200 || a.body["status"] != "Canceled" {
		t.Fatalf("cancel: %d %s", a.status, a.raw)
	}
	list = amazonGet(t, base+"/amazon-eu", tok, "/orders/v0/orders?MarketplaceIds=A1PA6795UKMFR9&LastUpdatedAfter=2020-01-01T00:00:00Z&OrderStatuses=Canceled")
	if dig(list.body, "payload", "Orders", 0, "AmazonOrderId") != id2 || dig(list.body, "payload", "Orders", 1) != nil {
		t.Fatalf("cancelled listing: %s", list.raw)
	}
	if c := s.Received(marketplace.Amazon).Counters; c.Accepted != 1 || c.OverBudget != 0 {
		t.Fatalf("counters: %+v", c)
	}

	// Reset forgets sellers and their orders.
	s.Reset()
	if a := do(t, "GET", base+"/_sandbox/amazon/shops/"+seller+"/orders/"+id, nil, nil); a.status != 404 {
		t.Errorf("after reset: %d", a.status)
	}
}

func TestAmazonGetOrdersPagingAndBudget(t *testing.T) {
	t.Parallel()
	_, base := start(t, marketplace.Options{Limits: marketplace.Limits{AmazonOrdersRate: 1, AmazonOrdersBurst: 3}})
	seller, _, tok := amazonSeller(t, base, "na")
	want := map[string]bool{}
	for range 5 {
		want[amazonOrder(t, base, seller, `[{"sku":"X","quantity":1}]`).body["order_id"].(string)] = true
	}
	q := "/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&CreatedAfter=2020-01-01T00:00:00Z&MaxResultsPerPage=2"
	got := map[string]bool{}
	for page := 0; q != ""; page++ {
		a := amazonGet(t, base+"/amazon", tok, q)
		if a.status != 200 {
			t.Fatalf("page %d: %d %s", page, a.status, a.raw)
		}
		orders, _ := dig(a.body, "payload", "Orders").([]any)
		for _, o := range orders {
			got[o.(map[string]any)["AmazonOrderId"].(string)] = true
		}
		q = ""
		if next, _ := dig(a.body, "payload", "NextToken").(string); next != "" {
			q = "/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&NextToken=" + url.QueryEscape(next)
		}
	}
	if len(got) != 5 {
		t.Fatalf("paged %d of 5 orders", len(got))
	}
	// Three pages spent the burst of 3: the next call is over budget.
	a := amazonGet(t, base+"/amazon", tok, "/orders/v0/orders?MarketplaceIds=ATVPDKIKX0DER&CreatedAfter=2020-01-01T00:00:00Z")
	if a.status != 429 || dig(a.body, "errors", 0, "code") != "QuotaExceeded" || a.header.Get("x-amzn-RateLimit-Limit") != "1" {
		t.Fatalf("over budget: %d %v %s", a.status, a.header, a.raw)
	}
	// getOrderItems has its own bucket.
	for id := range want {
		if a := amazonGet(t, base+"/amazon", tok, "/orders/v0/orders/"+id+"/orderItems"); a.status != 200 {
			t.Fatalf("items: %d %s", a.status, a.raw)
		}
		break
	}
}
