package marketplace_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/printfleet/printfleet/sandbox/marketplace"
)

func start(t *testing.T, o marketplace.Options) (*marketplace.Server, string) {
	t.Helper()
	s := marketplace.New(o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, method, u string, header map[string]string, body []byte) answer {
	t.Helper()
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// dig walks a decoded JSON value by keys and list indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// --- Shopify ---

const foQuery = `query($id: ID!) { order(id: $id) { id fulfillmentOrders(first: 5) { nodes { id status lineItems(first: 10) { nodes { id remainingQuantity } } } } } }`
const createMutation = `mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id status trackingInfo { company number url } } userErrors { field message } } }`

func shopify(t *testing.T, base, token, query string, vars map[string]any) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return do(t, "POST", base+"/shopify/acme/admin/api/2026-10/graphql.json",
		map[string]string{"X-Shopify-Access-Token": token, "Content-Type": "application/json"}, body)
}

// acme issues the shop the Shopify tests call and returns its access token.
func acme(t *testing.T, s *marketplace.Server) string {
	t.Helper()
	shop, err := s.IssueShopifyShop("acme")
	if err != nil {
		t.Fatal(err)
	}
	return shop.Store.Credentials.AccessToken
}

func fulfill(foID, number string) map[string]any {
	return map[string]any{"f": map[string]any{
		"lineItemsByFulfillmentOrder": []any{map[string]any{"fulfillmentOrderId": foID}},
		"trackingInfo":                map[string]any{"company": "UPS", "number": number, "url": "https://ups.example/t/" + number},
		"notifyCustomer":              true,
	}}
}

// Admin GraphQL: versions past their support window are not served, and a
// failure of Shopify's own comes as HTTP 200 with INTERNAL_SERVER_ERROR.
func TestShopifyVersionsAndInternalErrors(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	tok := acme(t, s)
	body, _ := json.Marshal(map[string]any{"query": foQuery, "variables": map[string]any{"id": "gid://shopify/Order/43"}})
	old := do(t, "POST", base+"/shopify/acme/admin/api/2025-01/graphql.json",
		map[string]string{"X-Shopify-Access-Token": tok, "Content-Type": "application/json"}, body)
	if old.status != 404 {
		t.Fatalf("2025-01: %d %s", old.status, old.raw)
	}
	s.SetFaults(marketplace.Shopify, marketplace.Faults{InternalErrorNext: 1})
	a := shopify(t, base, tok, foQuery, map[string]any{"id": "gid://shopify/Order/43"})
	if a.status != 200 || dig(a.body, "errors", 0, "extensions", "code") != "INTERNAL_SERVER_ERROR" || dig(a.body, "data") != nil {
		t.Fatalf("internal error: %d %s", a.status, a.raw)
	}
	if b := shopify(t, base, tok, foQuery, map[string]any{"id": "gid://shopify/Order/43"}); b.status != 200 || dig(b.body, "errors") != nil {
		t.Fatalf("after the fault: %d %s", b.status, b.raw)
	}
}

func TestShopifyFulfillmentFlow(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	tok := acme(t, s)
	read := shopify(t, base, tok, foQuery, map[string]any{"id": "gid://shopify/Order/42"})
	fo := dig(read.body, "data", "order", "fulfillmentOrders", "nodes", 0)
	foID, _ := dig(fo, "id").(string)
	if read.status != 200 || dig(fo, "status") != "OPEN" || !strings.HasPrefix(foID, "gid://shopify/FulfillmentOrder/") {
		t.Fatalf("read: %d %s", read.status, read.raw)
	}
	again := shopify(t, base, tok, foQuery, map[string]any{"id": "gid://shopify/Order/42"})
	if dig(again.body, "data", "order", "fulfillmentOrders", "nodes", 0, "id") != foID {
		t.Fatal("fulfillment order id is not stable")
	}
	cost := dig(read.body, "extensions", "cost")
	if dig(cost, "requestedQueryCost") != float64(68) || dig(cost, "throttleStatus", "maximumAvailable") != float64(1000) ||
		dig(cost, "throttleStatus", "restoreRate") != float64(50) || dig(cost, "actualQueryCost") == nil {
		t.Fatalf("cost extension: %v", cost)
	}

	created := shopify(t, base, tok, createMutation, fulfill(foID, "1Z999AA10123456784"))
	payload := dig(created.body, "data", "fulfillmentCreate")
	if dig(payload, "fulfillment", "status") != "SUCCESS" || len(dig(payload, "userErrors").([]any)) != 0 ||
		dig(payload, "fulfillment", "trackingInfo", 0, "number") != "1Z999AA10123456784" {
		t.Fatalf("create: %s", created.raw)
	}
	if dig(created.body, "extensions", "cost", "requestedQueryCost") != float64(10) {
		t.Fatalf("mutation cost: %v", dig(created.body, "extensions"))
	}
	dup := shopify(t, base, tok, createMutation, fulfill(foID, "1Z999AA10123456784"))
	if msg, _ := dig(dup.body, "data", "fulfillmentCreate", "userErrors", 0, "message").(string); !strings.Contains(msg, "unfulfillable status= closed") {
		t.Fatalf("second create: %s", dup.raw)
	}
	closed := shopify(t, base, tok, foQuery, map[string]any{"id": "gid://shopify/Order/42"})
	if dig(closed.body, "data", "order", "fulfillmentOrders", "nodes", 0, "status") != "CLOSED" {
		t.Fatalf("after create: %s", closed.raw)
	}
	rep := s.Received(marketplace.Shopify)
	if len(rep.Pushes) != 1 || rep.PushesByOrder["gid://shopify/Order/42"] != 1 || rep.Counters.Duplicates != 1 || rep.Counters.Reads != 3 {
		t.Fatalf("report: %+v", rep)
	}
	if p := rep.Pushes[0]; p.Store != "acme" || p.Carrier != "UPS" || p.TrackingNumber != "1Z999AA10123456784" {
		t.Fatalf("push: %+v", p)
	}
}

func TestShopifyRejections(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	tok := acme(t, s)
	read := shopify(t, base, tok, foQuery, map[string]any{"id": "gid://shopify/Order/7"})
	foID := dig(read.body, "data", "order", "fulfillmentOrders", "nodes", 0, "id").(string)

	bad := shopify(t, base, tok, createMutation, fulfill(foID, "??"))
	if f := dig(bad.body, "data", "fulfillmentCreate", "userErrors", 0, "field"); f == nil || !strings.Contains(bad.raw, "Tracking number is invalid") {
		t.Fatalf("invalid tracking: %s", bad.raw)
	}
	unknown := shopify(t, base, tok, createMutation, fulfill("gid://shopify/FulfillmentOrder/1", "1Z999"))
	if !strings.Contains(unknown.raw, "Fulfillment order does not exist") {
		t.Fatalf("unknown fulfillment order: %s", unknown.raw)
	}
	extra := fulfill(foID, "1Z999")
	extra["f"].(map[string]any)["bogus"] = 1
	if a := shopify(t, base, tok, createMutation, extra); !strings.Contains(a.raw, "bogus") || dig(a.body, "errors") == nil {
		t.Fatalf("unknown input key: %s", a.raw)
	}
	if a := shopify(t, base, "", foQuery, map[string]any{"id": "gid://shopify/Order/7"}); a.status != 401 {
		t.Fatalf("no token: %d", a.status)
	}
	if a := shopify(t, base, tok, foQuery, map[string]any{"id": "7"}); !strings.Contains(a.raw, "Invalid global id") {
		t.Fatalf("bad id: %s", a.raw)
	}
}

func TestShopifyCostBucket(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{Limits: marketplace.Limits{ShopifyBucketSize: 100, ShopifyRestoreRate: 10}})
	tok := acme(t, s)
	vars := map[string]any{"id": "gid://shopify/Order/9"}
	first := shopify(t, base, tok, foQuery, vars) // charges 68, refunds all but the actual cost
	left := dig(first.body, "extensions", "cost", "throttleStatus", "currentlyAvailable").(float64)
	if left < 90 || left >= 100 {
		t.Fatalf("after one read: %v available", left)
	}
	// Drain with mutations on an unknown order (10 points each, nothing refunded).
	for range 10 {
		shopify(t, base, tok, createMutation, fulfill("gid://shopify/FulfillmentOrder/1", "1Z999"))
	}
	th := shopify(t, base, tok, foQuery, vars)
	if dig(th.body, "errors", 0, "extensions", "code") != "THROTTLED" || dig(th.body, "data") != nil {
		t.Fatalf("expected THROTTLED: %s", th.raw)
	}
	if c := s.Received(marketplace.Shopify).Counters; c.RejectedBudget == 0 || c.OverBudget != c.RejectedBudget {
		t.Fatalf("counters: %+v", c)
	}

	if err := s.SetFaults(marketplace.Shopify, marketplace.Faults{ThrottleNext: 1}); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	tok = acme(t, s)
	if err := s.SetFaults(marketplace.Shopify, marketplace.Faults{ThrottleNext: 1}); err != nil {
		t.Fatal(err)
	}
	forced := shopify(t, base, tok, foQuery, vars)
	if dig(forced.body, "errors", 0, "extensions", "code") != "THROTTLED" ||
		dig(forced.body, "extensions", "cost", "throttleStatus", "currentlyAvailable") != float64(0) {
		t.Fatalf("forced throttle: %s", forced.raw)
	}
	if c := s.Received(marketplace.Shopify).Counters; c.ThrottledForced != 1 || c.OverBudget != 0 {
		t.Fatalf("counters: %+v", c)
	}
}

// --- Amazon ---

func confirmBody(ref, tracking string) []byte {
	b, _ := json.Marshal(map[string]any{"marketplaceId": "ATVPDKIKX0DER", "packageDetail": map[string]any{
		"packageReferenceId": ref, "carrierCode": "UPS", "trackingNumber": tracking,
		"shipDate": time.Now().UTC().Format(time.RFC3339), "orderItems": []any{map[string]any{"orderItemId": "12345678901234", "quantity": 1}},
	}})
	return b
}

func amazonConfirm(t *testing.T, base, token, order string, body []byte) answer {
	t.Helper()
	return do(t, "POST", base+"/amazon/orders/v0/orders/"+order+"/shipmentConfirmation",
		map[string]string{"x-amz-access-token": token, "Content-Type": "application/json"}, body)
}

func TestAmazonConfirmShipment(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{Limits: marketplace.Limits{AmazonRate: 1, AmazonBurst: 3}})
	a := amazonConfirm(t, base, "Atza|seller1.x", "902-3159896-1390916", confirmBody("1", "1Z999AA1"))
	if a.status != 204 || a.header.Get("x-amzn-RateLimit-Limit") != "1" || a.header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("confirm: %d %v %s", a.status, a.header, a.raw)
	}
	resend := amazonConfirm(t, base, "Atza|seller1.x", "902-3159896-1390916", confirmBody("1", "1Z999AA2"))
	if resend.status != 204 {
		t.Fatalf("resend: %d", resend.status)
	}
	rep := s.Received(marketplace.Amazon)
	if len(rep.Pushes) != 1 || rep.Pushes[0].Updates != 1 || rep.Pushes[0].TrackingNumber != "1Z999AA2" || rep.Pushes[0].Store != "seller1" {
		t.Fatalf("resend should edit the package: %+v", rep.Pushes)
	}
	bad := amazonConfirm(t, base, "Atza|seller1.x", "not-an-order", confirmBody("1", "1Z999AA1"))
	if bad.status != 400 || dig(bad.body, "errors", 0, "code") != "InvalidInput" {
		t.Fatalf("invalid: %d %s", bad.status, bad.raw)
	}
	over := amazonConfirm(t, base, "Atza|seller1.x", "902-3159896-1390916", confirmBody("2", "1Z999AA3"))
	if over.status != 429 || dig(over.body, "errors", 0, "code") != "QuotaExceeded" {
		t.Fatalf("over budget: %d %s", over.status, over.raw)
	}
	// Another seller has its own bucket.
	if other := amazonConfirm(t, base, "Atza|seller2.x", "902-3159896-1390916", confirmBody("3", "1Z999AA4")); other.status != 204 {
		t.Fatalf("other seller: %d", other.status)
	}
	c := s.Received(marketplace.Amazon).Counters
	if c.RejectedBudget != 1 || c.OverBudget != 1 || c.ValidationErrors != 1 || c.Updates != 1 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestAmazonValidationAndTokens(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	tests := map[string][]byte{
		"no body":      []byte(`{}`),
		"unknown key":  []byte(`{"marketplaceId":"ATVPDKIKX0DER","bogus":1}`),
		"bad ref":      confirmBody("0", "1Z999AA1"),
		"bad tracking": confirmBody("1", "?"),
		"not json":     []byte(`nope`),
	}
	for name, body := range tests {
		if a := amazonConfirm(t, base, "Atza|s.x", "902-3159896-1390916", body); a.status != 400 || dig(a.body, "errors", 0, "code") != "InvalidInput" {
			t.Errorf("%s: %d %s", name, a.status, a.raw)
		}
	}
	if a := amazonConfirm(t, base, "", "902-3159896-1390916", confirmBody("1", "1Z999AA1")); a.status != 403 || dig(a.body, "errors", 0, "code") != "Unauthorized" {
		t.Fatalf("no token: %d %s", a.status, a.raw)
	}
	if err := s.SetFaults(marketplace.Amazon, marketplace.Faults{ExpireTokens: true}); err != nil {
		t.Fatal(err)
	}
	exp := amazonConfirm(t, base, "Atza|s.x", "902-3159896-1390916", confirmBody("1", "1Z999AA1"))
	if exp.status != 403 || !strings.Contains(exp.raw, "expired") {
		t.Fatalf("expired: %d %s", exp.status, exp.raw)
	}
	tok := do(t, "POST", base+"/amazon/auth/o2/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		[]byte("grant_type=refresh_token&refresh_token=Atzr|s.r&client_id=amzn1.application-oa2-client.x&client_secret=sec"))
	access, _ := tok.body["access_token"].(string)
	if tok.status != 200 || !strings.HasPrefix(access, "Atza|s.") || tok.body["refresh_token"] != "Atzr|s.r" {
		t.Fatalf("refresh: %d %s", tok.status, tok.raw)
	}
	if a := amazonConfirm(t, base, access, "902-3159896-1390916", confirmBody("1", "1Z999AA1")); a.status != 204 {
		t.Fatalf("with new token: %d %s", a.status, a.raw)
	}
	noClient := do(t, "POST", base+"/amazon/auth/o2/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		[]byte("grant_type=refresh_token&refresh_token=Atzr|s.r"))
	if noClient.status != 401 || noClient.body["error"] != "invalid_client" {
		t.Fatalf("no client: %d %s", noClient.status, noClient.raw)
	}
}

// --- switches and recording over HTTP ---

func TestSandboxEndpoints(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	post := func(path, body string) answer {
		return do(t, "POST", base+path, map[string]string{"Content-Type": "application/json"}, []byte(body))
	}
	if a := post("/_sandbox/faults?marketplace=etsy", `{"error_next": 1, "latency_ms": 20}`); a.status != 200 {
		t.Fatalf("set faults: %d %s", a.status, a.raw)
	}
	if f := s.Faults(marketplace.Etsy); f.ErrorNext != 1 || f.LatencyMS != 20 || s.Faults(marketplace.Shopify).LatencyMS != 0 {
		t.Fatalf("faults: %+v", f)
	}
	began := time.Now()
	if a := etsyTrack(t, base, "1.t", "1", "9400111899223"); a.status != 500 || time.Since(began) < 20*time.Millisecond {
		t.Fatalf("injected: %d after %v", a.status, time.Since(began))
	}
	if a := post("/_sandbox/faults?marketplace=ebay", `{}`); a.status != 400 {
		t.Fatalf("unknown marketplace: %d", a.status)
	}
	if a := post("/_sandbox/faults", `{"throttle": true}`); a.status != 200 || !s.Faults(marketplace.Amazon).Throttle {
		t.Fatalf("all marketplaces: %d", a.status)
	}
	got := do(t, "GET", base+"/_sandbox/received?marketplace=etsy", nil, nil)
	if got.status != 200 || dig(got.body, "marketplace") != "etsy" || dig(got.body, "counters", "injected_errors") != float64(1) {
		t.Fatalf("received: %s", got.raw)
	}
	all := do(t, "GET", base+"/_sandbox/received", nil, nil)
	if dig(all.body, "amazon", "marketplace") != "amazon" {
		t.Fatalf("received all: %s", all.raw)
	}
	if a := post("/_sandbox/reset", ``); a.status != 204 || s.Faults(marketplace.Amazon).Throttle || s.Received(marketplace.Etsy).Counters.Requests != 0 {
		t.Fatalf("reset: %d", a.status)
	}
}

func TestConcurrentTrafficIsConsistent(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{Limits: marketplace.Limits{AmazonBurst: 5, AmazonRate: 1}})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			ref := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}[i%10]
			amazonConfirm(t, base, "Atza|busy.x", "902-3159896-1390916", confirmBody(ref, "1Z999AA1"))
		})
	}
	wg.Wait()
	c := s.Received(marketplace.Amazon).Counters
	if c.Accepted+c.Updates != 5 || c.RejectedBudget != 15 {
		t.Fatalf("burst 5 of 20 concurrent: %+v", c)
	}
}
