package e2e

// Helpers of the marketplace import suite (imports_test.go): shops issued by
// the marketplace stand-in and connected as stores, orders placed in the
// stand-in, and waits that explain themselves when they time out (the
// store as its seller sees it, the seller's orders, the Shopify webhook log
// and the marketplace worker's last lines about the store).

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// importShop is a shop the marketplace stand-in issued, connected as a
// printfleet store by its seller.
type importShop struct {
	market  string // shopify, etsy or amazon
	shopID  string // the stand-in's id of the shop in its /_sandbox routes
	storeID string // printfleet's store id
	seller  string // the seller's token
	// secret signs Shopify webhooks (the app's client secret); empty for the
	// other marketplaces.
	secret string
}

// marketplaceEnum is the proto enum name of a marketplace.
func marketplaceEnum(market string) string { return "MARKETPLACE_" + strings.ToUpper(market) }

// importTimeout bounds the wait for an order placed in the stand-in to show
// in printfleet. Amazon's getOrders budget is tiny (one call a minute once
// the burst is spent), so its polls may have to wait for it.
func importTimeout(market string) time.Duration {
	if market == "amazon" {
		return 3 * time.Minute
	}
	return 90 * time.Second
}

// sandboxCall sends a request to the marketplace stand-in's admin API and
// returns the status and body (no assertion).
func sandboxCall(t testing.TB, e *environment, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, e.layout.MarketplacesURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sandbox %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// sandboxMust asserts the stand-in's status and decodes its JSON object.
func sandboxMust(t testing.TB, e *environment, want int, method, path string, body any) map[string]any {
	t.Helper()
	code, raw := sandboxCall(t, e, method, path, body)
	if code != want {
		t.Fatalf("sandbox %s %s: status %d, want %d: %s", method, path, code, want, secClip(raw, 800))
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("sandbox %s %s: not a JSON object: %s", method, path, secClip(raw, 800))
	}
	return m
}

// connectShop has the stand-in issue a shop of market and connects it as a
// store of the seller with exactly the store body the stand-in returned
// (plus a name). The issued credentials are remembered as secrets, so the
// log scan (TestZZLogsHoldNoSecrets) looks for them too.
func connectShop(t *testing.T, e *environment, seller, market string) importShop {
	t.Helper()
	shop, _ := connectShopWith(t, e, seller, market, "", nil, nil)
	return shop
}

// mapSKU maps the store's SKU to a printfleet variant (blank: no design).
func mapSKU(t *testing.T, e *environment, shop importShop, sku, variant string) string {
	t.Helper()
	l := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/stores/"+shop.storeID+"/listings", shop.seller,
		map[string]any{"sku": sku, "variant_id": variant})
	return str(l, "id")
}

// webhookAddress is where Shopify delivers the store's webhooks.
func webhookAddress(e *environment, storeID string) string {
	return e.layout.GatewayURL() + "/v1/marketplaces/shopify/stores/" + storeID + "/webhooks"
}

// registerWebhook tells the Shopify stand-in to deliver the shop's webhooks
// to printfleet's gateway.
func registerWebhook(t *testing.T, e *environment, shop importShop) {
	t.Helper()
	code, raw := sandboxCall(t, e, http.MethodPost, "/_sandbox/shopify/shops/"+shop.shopID+"/webhooks",
		map[string]any{"address": webhookAddress(e, shop.storeID)})
	if code >= 300 {
		t.Fatalf("register the webhook address of shop %s: %d %s", shop.shopID, code, secClip(raw, 500))
	}
}

// sandboxLine is an order line in the stand-in's common shape, with ids of
// each marketplace's own form (the SKU is what the listings map).
func sandboxLine(market, sku, title string, qty int) map[string]any {
	n := time.Now().UnixNano()
	l := map[string]any{"sku": sku, "title": title, "quantity": qty}
	switch market {
	case "amazon":
		l["product_id"] = fmt.Sprintf("B0%08X", uint32(n))
	default:
		l["product_id"] = fmt.Sprint(7_000_000_000 + n%1_000_000_000)
		l["variant_id"] = fmt.Sprint(42_000_000_000 + n%1_000_000_000)
	}
	return l
}

// sandboxAddress is the shipping address of the stand-in's orders.
func sandboxAddress() map[string]any {
	return map[string]any{"name": "Ada Lovelace", "line1": "12 Analytical Row", "line2": "", "city": "London",
		"region": "", "postal_code": "N1 9GU", "country_code": "GB"}
}

// placeSandboxOrder places an order in the shop and returns the external
// order id and the line item ids.
func placeSandboxOrder(t *testing.T, e *environment, shop importShop, lines ...map[string]any) (string, []string) {
	t.Helper()
	ls := make([]any, len(lines))
	for i, l := range lines {
		ls[i] = l
	}
	o := sandboxMust(t, e, http.StatusCreated, http.MethodPost, "/_sandbox/"+shop.market+"/shops/"+shop.shopID+"/orders",
		map[string]any{"lines": ls, "address": sandboxAddress(), "currency": "USD"})
	id := str(o, "order_id")
	if id == "" {
		t.Fatalf("sandbox %s order without order_id: %v", shop.market, o)
	}
	var items []string
	for _, it := range asSlice(dig(o, "item_ids")) {
		items = append(items, fmt.Sprint(it))
	}
	return id, items
}

// cancelSandboxOrder cancels the order in the stand-in.
func cancelSandboxOrder(t *testing.T, e *environment, shop importShop, orderID string) {
	t.Helper()
	sandboxMust(t, e, http.StatusOK, http.MethodPost, "/_sandbox/"+shop.market+"/shops/"+shop.shopID+"/orders/"+orderID+"/cancel", map[string]any{})
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// sellerOrders lists every order of the token's user (all pages).
func sellerOrders(t testing.TB, e *environment, tok, query string) []map[string]any {
	t.Helper()
	return listAll(t, e, tok, "/v1/orders?page_size=100"+query, "orders")
}

// listAll GETs path (which carries its query, page_size included) page by
// page and returns the objects under key of every page; more than 50 pages
// fails the test.
func listAll(t testing.TB, e *environment, tok, path, key string) []map[string]any {
	t.Helper()
	var out []map[string]any
	next := ""
	for page := 0; page < 50; page++ {
		p := path
		if next != "" {
			p += "&page_token=" + url.QueryEscape(next)
		}
		body := e.api.must(t, http.StatusOK, http.MethodGet, p, tok, nil)
		for _, o := range asSlice(dig(body, key)) {
			if m, ok := o.(map[string]any); ok {
				out = append(out, m)
			}
		}
		if next = str(body, "next_page_token"); next == "" {
			return out
		}
	}
	t.Fatalf("%s: more than 50 pages", path)
	return nil
}

// withExternal keeps the orders of the store with that external order id.
func withExternal(orders []map[string]any, storeID, ext string) []map[string]any {
	var out []map[string]any
	for _, o := range orders {
		if sameExternalID(str(o, "external_order_id"), ext) && str(o, "store_id") == storeID {
			out = append(out, o)
		}
	}
	return out
}

// describeOrders is a one-line-per-order summary for failure messages.
func describeOrders(orders []map[string]any) string {
	if len(orders) == 0 {
		return "(no orders)"
	}
	var b strings.Builder
	for _, o := range orders {
		fmt.Fprintf(&b, "\n  %s store %s external %q %s total %v hold %q", str(o, "id"), str(o, "store_id"),
			str(o, "external_order_id"), str(o, "status"), dig(o, "total", "amount_minor"), str(o, "hold_reason"))
	}
	return b.String()
}

// amount reads a Money's amount_minor (a JSON number, or a string should
// int64 be rendered as one).
func amount(v any) float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(dig(v, "amount_minor")), 64)
	return f
}

// storeAsListed is the store as its seller reads it in GET /v1/stores.
func storeAsListed(t testing.TB, e *environment, shop importShop) map[string]any {
	t.Helper()
	list := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/stores", shop.seller, nil)
	for _, s := range asSlice(dig(list, "stores")) {
		if str(s, "id") == shop.storeID {
			return s.(map[string]any)
		}
	}
	t.Fatalf("store %s is not in its seller's GET /v1/stores: %v", shop.storeID, list)
	return nil
}

// lastImportAt is the store's last successful poll (zero when none).
func lastImportAt(s map[string]any) time.Time {
	at, _ := time.Parse(time.RFC3339Nano, str(s, "last_import_at"))
	return at
}

// diagnose tells what printfleet and the stand-in know of a shop, for a
// wait that timed out.
func diagnose(t testing.TB, e *environment, shop importShop, ext string) string {
	t.Helper()
	var b strings.Builder
	st := storeAsListed(t, e, shop)
	fmt.Fprintf(&b, "\nstore %s (%s shop %s): needs_reconnection=%v reason=%q last_import_at=%q",
		shop.storeID, shop.market, shop.shopID, st["needs_reconnection"], str(st, "reconnection_reason"), str(st, "last_import_at"))
	fmt.Fprintf(&b, "\nseller's orders:%s", describeOrders(sellerOrders(t, e, shop.seller, "")))
	if shop.market == "shopify" {
		fmt.Fprintf(&b, "\nwebhook deliveries of order %s: %s", ext, secJSON(deliveriesOf(t, e, ext)))
	}
	fmt.Fprintf(&b, "\nmarketplace worker, last lines naming the store or an import:\n%s",
		procLogLines(e, "marketplace", 25, shop.storeID, "import"))
	return b.String()
}

// procLogLines returns the last n lines of a process's log holding any of the
// words.
func procLogLines(e *environment, proc string, n int, words ...string) string {
	raw, err := os.ReadFile(e.fleet.LogPath(proc))
	if err != nil {
		return err.Error()
	}
	var hits []string
	for _, line := range strings.Split(string(raw), "\n") {
		for _, w := range words {
			if w != "" && strings.Contains(line, w) {
				hits = append(hits, secClip([]byte(redactSecrets(line)), 500))
				break
			}
		}
	}
	if len(hits) > n {
		hits = hits[len(hits)-n:]
	}
	if len(hits) == 0 {
		return "  (none)"
	}
	return "  " + strings.Join(hits, "\n  ")
}

// waitFor polls cond until it holds; on timeout it fails with the last
// state and what diag tells.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string), diag func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last: %s)%s", timeout, what, state, diag())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitImported waits until the seller's orders hold one with the external
// order id, without any REST call creating it, and returns it.
func waitImported(t testing.TB, e *environment, shop importShop, ext string) map[string]any {
	t.Helper()
	var found map[string]any
	start := time.Now()
	waitFor(t, importTimeout(shop.market), "the "+shop.market+" order "+ext+" in GET /v1/orders", func() (bool, string) {
		got := withExternal(sellerOrders(t, e, shop.seller, ""), shop.storeID, ext)
		if len(got) == 0 {
			return false, "not listed"
		}
		found = got[0]
		return true, ""
	}, func() string { return diagnose(t, e, shop, ext) })
	t.Logf("%s order %s imported as %s (%s) after %v", shop.market, ext, str(found, "id"), str(found, "status"),
		time.Since(start).Round(time.Millisecond))
	return found
}

// waitPolledAfter waits until the store's last successful poll is later than
// at: every order the marketplace held before at has been read by then.
func waitPolledAfter(t testing.TB, e *environment, shop importShop, at time.Time) {
	t.Helper()
	waitFor(t, importTimeout(shop.market), fmt.Sprintf("a poll of store %s after %s", shop.storeID, at.Format(time.RFC3339Nano)),
		func() (bool, string) {
			st := storeAsListed(t, e, shop)
			return lastImportAt(st).After(at), "last_import_at " + str(st, "last_import_at")
		}, func() string { return diagnose(t, e, shop, "") })
}

// deliveriesOf returns the Shopify stand-in's webhook deliveries of an order
// (all of them when orderID is empty).
func deliveriesOf(t testing.TB, e *environment, orderID string) []map[string]any {
	t.Helper()
	code, raw := sandboxCall(t, e, http.MethodGet, "/_sandbox/shopify/webhooks", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /_sandbox/shopify/webhooks: %d %s", code, secClip(raw, 500))
	}
	var body struct {
		Deliveries []map[string]any `json:"deliveries"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET /_sandbox/shopify/webhooks: %v: %s", err, secClip(raw, 500))
	}
	var out []map[string]any
	for _, d := range body.Deliveries {
		if orderID == "" || sameExternalID(fmt.Sprint(d["order_id"]), orderID) {
			out = append(out, d)
		}
	}
	return out
}

// deliveryState reads a delivery of the Shopify stand-in's webhook log:
// status is pending or held while on its way, then delivered (a copy was
// answered 2xx), failed (every attempt of every copy was not), dropped or
// no_address; http_status is the last answer's status. It returns both as
// "delivered/200".
func deliveryState(d map[string]any) (accepted, settled bool, status string) {
	word := strings.ToLower(fmt.Sprint(d["status"]))
	code := 0
	if f, ok := d["http_status"].(float64); ok {
		code = int(f)
	}
	status = fmt.Sprintf("%s/%d", word, code)
	switch word {
	case "delivered":
		return true, true, status
	case "failed", "dropped", "no_address":
		return false, true, status
	}
	return false, false, status
}

// waitDeliveriesSettled waits until the order has at least min deliveries
// and none is still on its way, and returns them.
func waitDeliveriesSettled(t *testing.T, e *environment, shop importShop, ext string, minimum int) []map[string]any {
	t.Helper()
	var ds []map[string]any
	waitFor(t, 60*time.Second, fmt.Sprintf("≥ %d settled webhook deliveries of order %s", minimum, ext), func() (bool, string) {
		ds = deliveriesOf(t, e, ext)
		if len(ds) < minimum {
			return false, fmt.Sprintf("%d deliveries: %s", len(ds), secJSON(ds))
		}
		for _, d := range ds {
			if _, settled, _ := deliveryState(d); !settled {
				return false, "on their way: " + secJSON(ds)
			}
		}
		return true, ""
	}, func() string { return diagnose(t, e, shop, ext) })
	return ds
}

// marketReport is what GET /_sandbox/received answers for one marketplace.
type marketReport struct {
	Pushes []struct {
		Order          string `json:"order"`
		TrackingNumber string `json:"tracking_number"`
	} `json:"pushes"`
	Counters struct {
		Requests        int `json:"requests"`
		ThrottledForced int `json:"throttled_forced"`
		RejectedBudget  int `json:"rejected_budget"`
		OverBudget      int `json:"over_budget"`
		Accepted        int `json:"accepted"`
	} `json:"counters"`
}

func receivedBy(t testing.TB, e *environment, market string) marketReport {
	t.Helper()
	code, raw := sandboxCall(t, e, http.MethodGet, "/_sandbox/received?marketplace="+market, nil)
	var rep marketReport
	if code != http.StatusOK || json.Unmarshal(raw, &rep) != nil {
		t.Fatalf("GET /_sandbox/received?marketplace=%s: %d %s", market, code, secClip(raw, 500))
	}
	return rep
}

// shipAndWaitTracking ships the order as the fulfillment partner and waits
// until the marketplace recorded the tracking for its external order.
func shipAndWaitTracking(t *testing.T, e *environment, shop importShop, orderID, ext string) {
	t.Helper()
	partner := token(t, "print-partner", "fulfillment", time.Hour)
	tracking := "1Z" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))[:16]
	e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/orders/"+orderID+"/shipments", partner, map[string]any{
		"carrier": "UPS", "tracking_number": tracking, "tracking_url": "https://www.ups.com/track?tracknum=" + tracking,
	})
	waitStatus(t, e, shop.seller, orderID, "ORDER_STATUS_SHIPPED", 15*time.Second)
	start := time.Now()
	waitFor(t, 90*time.Second, "tracking "+tracking+" of order "+ext+" at "+shop.market, func() (bool, string) {
		rep := receivedBy(t, e, shop.market)
		for _, p := range rep.Pushes {
			if p.TrackingNumber == tracking {
				if !sameExternalID(p.Order, ext) {
					t.Errorf("the tracking %s reached %s for order %q, want the imported order %q", tracking, shop.market, p.Order, ext)
				}
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d pushes recorded, none with the tracking", len(rep.Pushes))
	}, func() string {
		events := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+orderID+"/events", shop.seller, nil)
		return "\ntimeline: " + secJSON(events) + "\nmarketplace worker:\n" + procLogLines(e, "marketplace", 20, orderID, ext)
	})
	t.Logf("%s recorded the tracking of order %s %v after the shipment", shop.market, ext, time.Since(start).Round(time.Millisecond))
}

// shopifyOrderWebhook is an orders/create body in Shopify's REST shape.
func shopifyOrderWebhook(ext, sku, marker string) []byte {
	n := time.Now().UnixNano()
	body, _ := json.Marshal(map[string]any{
		"id": json.Number(ext), "admin_graphql_api_id": "gid://shopify/Order/" + ext, "name": "#" + ext[len(ext)-4:],
		"updated_at": time.Now().UTC().Format(time.RFC3339), "cancelled_at": nil, "cancel_reason": nil,
		"currency": "USD", "financial_status": "paid",
		"line_items": []any{map[string]any{"id": json.Number(fmt.Sprint(13_000_000_000 + n%1_000_000)), "variant_id": json.Number(fmt.Sprint(42_000_000_000 + n%1_000_000)),
			"product_id": json.Number(fmt.Sprint(7_000_000_000 + n%1_000_000)), "sku": sku, "quantity": 1, "title": "Sticker " + marker}},
		"shipping_address": map[string]any{"name": "Ada " + marker, "address1": "12 Analytical Row", "address2": "", "city": "London",
			"province_code": "", "zip": "N1 9GU", "country_code": "GB"},
	})
	return body
}

// shopifySign is Shopify's X-Shopify-Hmac-Sha256 of body under secret.
func shopifySign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// postWebhook sends a webhook to the gateway's public route as Shopify
// would; signature "" leaves the header out.
func postWebhook(t *testing.T, e *environment, storeID, signature, requestID string, body []byte) response {
	t.Helper()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Shopify-Topic", "orders/create")
	h.Set("X-Shopify-Webhook-Id", uuid.NewString())
	h.Set("X-Shopify-Shop-Domain", "e2e-forged.myshopify.com")
	h.Set("X-Shopify-API-Version", "2025-01")
	h.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	h.Set("X-Request-Id", requestID)
	if signature != "" {
		h.Set("X-Shopify-Hmac-Sha256", signature)
	}
	return secRawDo(t, http.MethodPost, webhookAddress(e, storeID), h, bytes.NewReader(body))
}

// logsHolding lists file:line of every line under the fleet's logs that
// holds s.
func logsHolding(t *testing.T, e *environment, s string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(e.logs, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Contains(raw, []byte(s)) {
			return nil
		}
		for n, line := range strings.Split(string(raw), "\n") {
			if strings.Contains(line, s) {
				hits = append(hits, fmt.Sprintf("%s:%d: %s", filepath.Base(path), n+1, secClip([]byte(line), 300)))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", e.logs, err)
	}
	return hits
}

// waitLogged waits up to 10 s until a process's log holds s (the access log
// line of a request is written once its response is out).
func waitLogged(e *environment, proc, s string) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if raw, _ := os.ReadFile(e.fleet.LogPath(proc)); bytes.Contains(raw, []byte(s)) {
			return true
		}
	}
	return false
}

// sameExternalID reports whether two marketplace ids name the same object:
// equal, or one the global id ("gid://shopify/Order/123") of the other.
func sameExternalID(a, b string) bool {
	return a != "" && b != "" && (a == b || strings.HasSuffix(a, "/"+b) || strings.HasSuffix(b, "/"+a))
}

var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)`)
var metricLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// workerSamples reads the marketplace worker's samples of a metric with the
// given marketplace label, keyed by their other labels.
func workerSamples(t *testing.T, e *environment, name, market string) map[string]float64 {
	t.Helper()
	addr := adminAddrs(e)["marketplace"]
	if addr == "" {
		t.Fatal("no admin address for the marketplace worker")
	}
	return metricSamples(scrape(t, addr), name, market)
}

// metricSamples sums a metric's samples with the marketplace label market
// in a text exposition, by their other labels ("outcome=throttled").
func metricSamples(body []byte, name, market string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		var key []string
		ok := false
		for _, l := range metricLabel.FindAllStringSubmatch(m[2], -1) {
			if l[1] == "marketplace" {
				ok = l[2] == market
				continue
			}
			key = append(key, l[1]+"="+l[2])
		}
		if v, err := strconv.ParseFloat(m[3], 64); err == nil && ok {
			out[strings.Join(key, ",")] += v
		}
	}
	return out
}

// sampleDelta is after minus before, per label set, leaving out zeros.
func sampleDelta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// TestImportHelpers checks the import suite's own readers (no fleet needed).
func TestImportHelpers(t *testing.T) {
	// base64(HMAC-SHA256), as `openssl dgst -sha256 -hmac hush -binary | base64` gives.
	if got := shopifySign("hush", []byte(`{"id":1}`)); got != "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=" {
		t.Errorf("shopifySign = %s", got)
	}
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"5001", "5001", true}, {"gid://shopify/Order/5001", "5001", true}, {"5001", "gid://shopify/Order/5001", true},
		{"15001", "5001", false}, {"", "", false}, {"113-1-2", "113-1-3", false},
	} {
		if sameExternalID(c.a, c.b) != c.same {
			t.Errorf("sameExternalID(%q, %q) = %v", c.a, c.b, !c.same)
		}
	}
	for _, c := range []struct {
		d                 map[string]any
		accepted, settled bool
		status            string
	}{
		{map[string]any{"status": "delivered", "http_status": float64(200)}, true, true, "delivered/200"},
		{map[string]any{"status": "failed", "http_status": float64(401), "bad_signature": true}, false, true, "failed/401"},
		{map[string]any{"status": "pending", "http_status": float64(0)}, false, false, "pending/0"},
		{map[string]any{"status": "held"}, false, false, "held/0"},
		{map[string]any{"status": "dropped", "dropped": true}, false, true, "dropped/0"},
		{map[string]any{"status": "no_address"}, false, true, "no_address/0"},
	} {
		if a, s, st := deliveryState(c.d); a != c.accepted || s != c.settled || st != c.status {
			t.Errorf("deliveryState(%v) = %v, %v, %s, want %v, %v, %s", c.d, a, s, st, c.accepted, c.settled, c.status)
		}
	}
	body := []byte(`# HELP printfleet_marketplace_throttled_total x
printfleet_marketplace_throttled_total{marketplace="etsy"} 3
printfleet_marketplace_throttled_total{marketplace="amazon"} 7
printfleet_marketplace_import_polls_total{marketplace="etsy",outcome="ok"} 12
printfleet_marketplace_import_polls_total{marketplace="etsy",outcome="throttled"} 2
printfleet_marketplace_import_polls_total_created{marketplace="etsy",outcome="ok"} 1.7e+09
`)
	if got := metricSamples(body, "printfleet_marketplace_throttled_total", "etsy"); len(got) != 1 || got[""] != 3 {
		t.Errorf("throttled etsy = %v", got)
	}
	got := metricSamples(body, "printfleet_marketplace_import_polls_total", "etsy")
	if len(got) != 2 || got["outcome=ok"] != 12 || got["outcome=throttled"] != 2 {
		t.Errorf("polls etsy = %v", got)
	}
	if d := sampleDelta(map[string]float64{"outcome=ok": 10}, got); d["outcome=ok"] != 2 || d["outcome=throttled"] != 2 {
		t.Errorf("delta = %v", d)
	}
	var b map[string]any
	if err := json.Unmarshal(shopifyOrderWebhook("9100000001", "SKU-1", "m-1"), &b); err != nil || fmt.Sprint(b["id"]) != "9.100000001e+09" ||
		str(b, "shipping_address", "name") != "Ada m-1" {
		t.Errorf("webhook body = %v (%v)", b, err)
	}
}
