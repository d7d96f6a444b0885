package e2e

// Marketplace order import over the whole fleet: shops issued by the
// marketplace stand-in are connected as stores, orders are placed in the
// stand-in only, and printfleet finds them by itself — Shopify's signed
// webhooks through the gateway's public route, and the worker's poll of
// every store (every second in this fleet) behind them. No REST call ever
// creates these orders.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var importMarkets = []string{"shopify", "etsy", "amazon"}

func TestImport(t *testing.T) {
	e := need(t)
	variant := mustSticker(t, e)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *environment, string)
	}{
		{"WholeLoop", testImportWholeLoop},
		{"ShopifyWebhookCopies", testImportWebhookCopies},
		{"ShopifyBadSignature", testImportBadSignature},
		{"ShopifyWebhookDropped", testImportWebhookDropped},
		{"UnmappedLineOnHold", testImportUnmappedLine},
		{"CancelledOnHold", testImportCancelledOnHold},
		{"ThrottleStorm", testImportThrottleStorm},
	} {
		start := time.Now()
		t.Run(sc.name, func(t *testing.T) { sc.run(t, e, variant) })
		t.Logf("%s took %v", sc.name, time.Since(start).Round(time.Second))
	}
}

// newSeller mints a token for a fresh user: each scenario lists only its
// own orders.
func newSeller(t *testing.T, prefix string) string {
	return token(t, newSubject(prefix), "user", time.Hour)
}

// uniqueSKU is a SKU no other store of the run uses.
func uniqueSKU(prefix string) string {
	return prefix + "-" + strings.ToUpper(uuid.NewString()[:8])
}

// 1. Per marketplace: connect, map, order in the marketplace, and the
// order arrives priced, is paid and produced, and its tracking goes back.
func testImportWholeLoop(t *testing.T, e *environment, variant string) {
	for _, market := range importMarkets {
		t.Run(market, func(t *testing.T) {
			t.Parallel() // each market has its own shop, sandbox faults and counters
			shop := connectShop(t, e, newSeller(t, "import-loop-"+market), market)
			sku := uniqueSKU("LOOP-" + strings.ToUpper(market))
			mapSKU(t, e, shop, sku, variant)
			if market == "shopify" {
				registerWebhook(t, e, shop)
			}
			ext, items := placeSandboxOrder(t, e, shop, sandboxLine(market, sku, "Kiss-Cut Sticker", 2))
			o := waitImported(t, e, shop, ext)
			id := str(o, "id")
			if amount(dig(o, "total")) <= 0 || str(o, "store_id") != shop.storeID {
				t.Fatalf("imported order not priced or not of the store: %s", secJSON(o))
			}
			if str(o, "status") == "ORDER_STATUS_ON_HOLD" {
				t.Fatalf("a mapped order is ON_HOLD: %q%s", str(o, "hold_reason"), diagnose(t, e, shop, ext))
			}
			got := asSlice(dig(o, "items"))
			if len(got) != 1 || str(got[0], "variant_id") != variant || fmt.Sprint(dig(got[0], "quantity")) != "2" {
				t.Errorf("imported items = %s, want 2 × variant %s", secJSON(got), variant)
			}
			if len(got) == 1 && len(items) == 1 && !sameExternalID(str(got[0], "external_item_id"), items[0]) {
				t.Errorf("item's external_item_id = %q, want the marketplace's line item id %q", str(got[0], "external_item_id"), items[0])
			}
			waitStatus(t, e, shop.seller, id, "ORDER_STATUS_PAID", 60*time.Second)
			waitStatus(t, e, shop.seller, id, "ORDER_STATUS_IN_PRODUCTION", 90*time.Second)
			shipAndWaitTracking(t, e, shop, id, ext)
			if market == "shopify" {
				ds := waitDeliveriesSettled(t, e, shop, ext, 1)
				for _, d := range ds {
					if ok, _, status := deliveryState(d); !ok {
						t.Errorf("webhook delivery %s (%v) answered %s, want 2xx", str(d, "webhook_id"), d["topic"], status)
					}
				}
				t.Logf("shopify webhook deliveries of %s: %s", ext, secJSON(ds))
			}
			events := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id+"/events", shop.seller, nil)
			var types []string
			for _, ev := range asSlice(dig(events, "events")) {
				types = append(types, str(ev, "type"))
			}
			t.Logf("%s order %s timeline: %s", market, ext, strings.Join(types, " "))
		})
	}
}

// 2. Every webhook delivered five times at once while the poll runs too:
// one order.
func testImportWebhookCopies(t *testing.T, e *environment, variant string) {
	setMarketFaults(t, e, "shopify", `{"webhook_copies":5}`)
	t.Cleanup(func() { setMarketFaults(t, e, "shopify", `{"webhook_copies":1}`) })
	shop := connectShop(t, e, newSeller(t, "import-copies"), "shopify")
	sku := uniqueSKU("COPIES")
	mapSKU(t, e, shop, sku, variant)
	registerWebhook(t, e, shop)
	ext, _ := placeSandboxOrder(t, e, shop, sandboxLine("shopify", sku, "Kiss-Cut Sticker", 1))
	o := waitImported(t, e, shop, ext)
	ds := waitDeliveriesSettled(t, e, shop, ext, 1)
	copies := 0.0
	for _, d := range ds {
		if str(d, "topic") == "orders/create" {
			copies, _ = d["copies"].(float64)
			if attempts, _ := d["attempts"].(float64); attempts < 5 {
				t.Errorf("orders/create of %s sent %v times, want ≥ 5 copies: %s", ext, attempts, secJSON(d))
			}
		}
	}
	if copies != 5 {
		t.Errorf("the webhook log shows no orders/create delivery of %s with 5 copies: %s", ext, secJSON(ds))
	}
	// Two polls after every copy was answered: any late duplicate exists by now.
	waitPolledAfter(t, e, shop, time.Now().Add(2*time.Second))
	if got := withExternal(sellerOrders(t, e, shop.seller, ""), shop.storeID, ext); len(got) != 1 {
		t.Fatalf("%d printfleet orders for Shopify order %s, want exactly 1:%s", len(got), ext, describeOrders(got))
	}
	accepted := 0
	for _, d := range ds {
		if ok, _, status := deliveryState(d); ok {
			accepted++
		} else {
			t.Errorf("delivery %s (%v) answered %s: a duplicate must be accepted too (200)", str(d, "webhook_id"), d["topic"], status)
		}
	}
	t.Logf("webhook_copies=5: %d deliveries of order %s, %d accepted, one printfleet order %s (%s)",
		len(ds), ext, accepted, str(o, "id"), str(o, "status"))
	waitStatus(t, e, shop.seller, str(o, "id"), "ORDER_STATUS_PAID", 60*time.Second)
	placed := 0
	events := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+str(o, "id")+"/events", shop.seller, nil)
	for _, ev := range asSlice(dig(events, "events")) {
		if str(ev, "type") == "order.placed" {
			placed++
		}
	}
	if placed != 1 {
		t.Errorf("order %s was placed %d times, want once: %s", str(o, "id"), placed, secJSON(events))
	}
}

// 3. Webhooks that do not verify are refused and change nothing, and their
// bodies are never logged.
func testImportBadSignature(t *testing.T, e *environment, variant string) {
	shop := connectShop(t, e, newSeller(t, "import-badsig"), "shopify")
	sku := uniqueSKU("BADSIG")
	mapSKU(t, e, shop, sku, variant)
	registerWebhook(t, e, shop)

	// The stand-in signs with a wrong key: every delivery is refused, and the
	// order still arrives through the poll.
	setMarketFaults(t, e, "shopify", `{"webhook_bad_signature":true}`)
	healed := false
	heal := func() {
		if !healed {
			healed = true
			setMarketFaults(t, e, "shopify", `{"webhook_bad_signature":false}`)
		}
	}
	t.Cleanup(heal)
	ext, _ := placeSandboxOrder(t, e, shop, sandboxLine("shopify", sku, "Kiss-Cut Sticker", 1))
	ds := waitDeliveriesSettled(t, e, shop, ext, 1)
	heal()
	for _, d := range ds {
		if _, _, status := deliveryState(d); status != "failed/401" || d["bad_signature"] != true {
			t.Errorf("delivery with a bad signature: %s, want bad_signature and failed/401", secJSON(d))
		}
	}
	waitImported(t, e, shop, ext)

	// Forged deliveries straight to the gateway, for an order the
	// marketplace never had; the marker must reach no log.
	marker := "pf-webhook-marker-" + uuid.NewString()
	fake := fmt.Sprint(9_100_000_000 + time.Now().UnixNano()%100_000_000)
	body := shopifyOrderWebhook(fake, sku, marker)
	var rids []string
	check := func(what, storeID, sig string, wantStatus int, wantCode string) {
		t.Helper()
		rid := "import-webhook-" + uuid.NewString()
		rids = append(rids, rid)
		r := postWebhook(t, e, storeID, sig, rid, body)
		if msg := checkErrorBody(r, wantStatus, wantCode); msg != "" {
			t.Errorf("%s: %s", what, msg)
		}
		if strings.Contains(string(r.Body), marker) {
			t.Errorf("%s: the answer repeats the body: %s", what, secClip(r.Body, 400))
		}
	}
	wrong := shopifySign("not-the-shops-secret", body)
	check("a wrong X-Shopify-Hmac-Sha256", shop.storeID, wrong, http.StatusUnauthorized, "UNAUTHENTICATED")
	check("no X-Shopify-Hmac-Sha256", shop.storeID, "", http.StatusUnauthorized, "UNAUTHENTICATED")
	check("a signature of another body", shop.storeID, shopifySign(shop.secret, append([]byte(" "), body...)), http.StatusUnauthorized, "UNAUTHENTICATED")
	if shop.secret != "" {
		check("the right signature for a store that does not exist", ghostID(), shopifySign(shop.secret, body), http.StatusUnauthorized, "UNAUTHENTICATED")
		etsy := connectShop(t, e, shop.seller, "etsy")
		check("the right signature for the seller's Etsy store", etsy.storeID, shopifySign(shop.secret, body), http.StatusUnauthorized, "UNAUTHENTICATED")
	} else {
		t.Errorf("the sandbox's Shopify store body has no webhook_secret/client_secret: the forged-signature cases prove less")
	}
	check("a store id that is not a UUID", "not-a-store", wrong, http.StatusNotFound, "NOT_FOUND")
	sent := time.Now()

	// A few polls later, still no order for it.
	waitPolledAfter(t, e, shop, sent.Add(3*time.Second))
	for _, o := range sellerOrders(t, e, shop.seller, "") {
		if sameExternalID(str(o, "external_order_id"), fake) {
			t.Fatalf("a refused webhook created an order:%s", describeOrders([]map[string]any{o}))
		}
	}
	for _, rid := range rids[:2] {
		if !waitLogged(e, "gateway", rid) {
			t.Logf("the gateway's log does not name request %s after 10 s: the scan below may have run before its lines", rid)
		}
	}
	if hits := logsHolding(t, e, marker); len(hits) > 0 {
		t.Errorf("the body of a refused webhook reached the logs:\n%s", strings.Join(hits, "\n"))
	}
	t.Logf("forged webhooks: %d refused, no order for %s, marker in no log", len(rids), fake)
}

// 4. Webhooks lost on the way: the poll brings the order anyway.
func testImportWebhookDropped(t *testing.T, e *environment, variant string) {
	setMarketFaults(t, e, "shopify", `{"webhook_drop":true}`)
	t.Cleanup(func() { setMarketFaults(t, e, "shopify", `{"webhook_drop":false}`) })
	shop := connectShop(t, e, newSeller(t, "import-drop"), "shopify")
	sku := uniqueSKU("DROP")
	mapSKU(t, e, shop, sku, variant)
	registerWebhook(t, e, shop)
	ext, _ := placeSandboxOrder(t, e, shop, sandboxLine("shopify", sku, "Kiss-Cut Sticker", 1))
	o := waitImported(t, e, shop, ext)
	dropped := 0
	for _, d := range deliveriesOf(t, e, ext) {
		if d["dropped"] == true {
			dropped++
		} else if ok, _, _ := deliveryState(d); ok {
			t.Errorf("a delivery reached printfleet with webhook_drop on: %s", secJSON(d))
		}
	}
	if dropped == 0 {
		t.Errorf("no delivery of %s recorded as dropped: the scenario proved nothing (%s)", ext, secJSON(deliveriesOf(t, e, ext)))
	}
	t.Logf("webhook_drop: %d deliveries dropped, order %s arrived by the poll (%s)", dropped, str(o, "id"), str(o, "status"))
	waitStatus(t, e, shop.seller, str(o, "id"), "ORDER_STATUS_PAID", 60*time.Second)
}

// 5. A line no listing maps holds the order until the seller maps it and
// retries.
func testImportUnmappedLine(t *testing.T, e *environment, variant string) {
	shop := connectShop(t, e, newSeller(t, "import-hold"), "shopify")
	bob := newSeller(t, "import-hold-bob")
	registerWebhook(t, e, shop)
	sku := uniqueSKU("UNMAPPED")
	title := "Holo Sticker " + sku[len(sku)-4:]
	ext, _ := placeSandboxOrder(t, e, shop, sandboxLine("shopify", sku, title, 1))
	o := waitImported(t, e, shop, ext)
	id := str(o, "id")
	if str(o, "status") != "ORDER_STATUS_ON_HOLD" {
		t.Fatalf("an order with an unmapped line is %s, want ORDER_STATUS_ON_HOLD: %s", str(o, "status"), secJSON(o))
	}
	reason := str(o, "hold_reason")
	if !strings.Contains(reason, sku) && !strings.Contains(reason, title) {
		t.Errorf("hold_reason %q names neither the line's SKU %q nor its title %q", reason, sku, title)
	}
	held := withExternal(sellerOrders(t, e, shop.seller, "&status=ORDER_STATUS_ON_HOLD"), shop.storeID, ext)
	if len(held) != 1 {
		t.Errorf("GET /v1/orders?status=ORDER_STATUS_ON_HOLD lists %d orders for %s, want 1", len(held), ext)
	}

	retry := "/v1/orders/" + id + ":retry-import"
	if msg := checkErrorBody(e.api.do(t, http.MethodPost, retry, bob, map[string]any{}), http.StatusNotFound, "NOT_FOUND"); msg != "" {
		t.Errorf("another user's retry-import: %s", msg)
	}
	r := e.api.do(t, http.MethodPost, retry, shop.seller, map[string]any{})
	if r.Status == http.StatusOK {
		t.Fatalf("retry-import before the line is mapped placed the order: %s", secClip(r.Body, 600))
	}
	var eb secErrorBody
	_ = json.Unmarshal(r.Body, &eb)
	if r.Status != http.StatusBadRequest || eb.Error.Code != "FAILED_PRECONDITION" {
		t.Errorf("retry-import with the line still unmapped: %d %s, want 400 FAILED_PRECONDITION", r.Status, secClip(r.Body, 600))
	}
	if s := orderStatus(t, e, shop.seller, id); s != "ORDER_STATUS_ON_HOLD" {
		t.Fatalf("after a refused retry the order is %s, want still ON_HOLD", s)
	}

	mapSKU(t, e, shop, sku, variant)
	placed := e.api.must(t, http.StatusOK, http.MethodPost, retry, shop.seller, map[string]any{})
	if s := str(placed, "status"); s != "ORDER_STATUS_PENDING" {
		t.Errorf("retry-import once mapped answered status %s, want ORDER_STATUS_PENDING: %s", s, secJSON(placed))
	}
	if amount(dig(placed, "total")) <= 0 || len(asSlice(dig(placed, "items"))) != 1 {
		t.Errorf("the order placed by retry-import is not priced or has no item: %s", secJSON(placed))
	}
	waitStatus(t, e, shop.seller, id, "ORDER_STATUS_PAID", 60*time.Second)
	if got := withExternal(sellerOrders(t, e, shop.seller, ""), shop.storeID, ext); len(got) != 1 {
		t.Errorf("%d orders for %s after the retry, want 1:%s", len(got), ext, describeOrders(got))
	}
	t.Logf("held for %q, retried once mapped, paid", reason)
}

// 6. A held order cancelled in the marketplace is cancelled in printfleet.
func testImportCancelledOnHold(t *testing.T, e *environment, _ string) {
	for _, market := range importMarkets {
		t.Run(market, func(t *testing.T) {
			t.Parallel() // each market has its own shop, sandbox faults and counters
			shop := connectShop(t, e, newSeller(t, "import-cancel-"+market), market)
			if market == "shopify" {
				registerWebhook(t, e, shop)
			}
			sku := uniqueSKU("CANCEL")
			ext, _ := placeSandboxOrder(t, e, shop, sandboxLine(market, sku, "Unmapped Sticker", 1))
			o := waitImported(t, e, shop, ext)
			id := str(o, "id")
			if str(o, "status") != "ORDER_STATUS_ON_HOLD" {
				t.Fatalf("unmapped order is %s, want ORDER_STATUS_ON_HOLD: %s", str(o, "status"), secJSON(o))
			}
			cancelled := time.Now()
			cancelSandboxOrder(t, e, shop, ext)
			waitFor(t, importTimeout(market), "order "+id+" CANCELLED after the marketplace cancelled "+ext, func() (bool, string) {
				s := orderStatus(t, e, shop.seller, id)
				return s == "ORDER_STATUS_CANCELLED", s
			}, func() string { return diagnose(t, e, shop, ext) })
			t.Logf("%s cancellation of %s reached printfleet in %v", market, ext, time.Since(cancelled).Round(time.Millisecond))
		})
	}
}

// 7. Orders placed while the marketplace throttles every call: each arrives
// exactly once after the storm, and no poll ignored the budget.
func testImportThrottleStorm(t *testing.T, e *environment, variant string) {
	const n = 4
	for _, market := range importMarkets {
		t.Run(market, func(t *testing.T) {
			t.Parallel() // each market has its own shop, sandbox faults and counters
			// No webhook: the poll alone has to get through the storm.
			shop := connectShop(t, e, newSeller(t, "import-storm-"+market), market)
			sku := uniqueSKU("STORM")
			mapSKU(t, e, shop, sku, variant)
			// A first poll before the storm, so the storm meets a running poll.
			waitPolledAfter(t, e, shop, time.Now())

			before := receivedBy(t, e, market)
			throttledBefore := workerSamples(t, e, "printfleet_marketplace_throttled_total", market)
			pollsBefore := workerSamples(t, e, "printfleet_marketplace_import_polls_total", market)
			importsBefore := workerSamples(t, e, "printfleet_marketplace_imports_total", market)
			setMarketFaults(t, e, market, `{"throttle":true}`)
			off := false
			stop := func() {
				if !off {
					off = true
					setMarketFaults(t, e, market, `{"throttle":false}`)
				}
			}
			t.Cleanup(stop)
			stormAt := time.Now()
			exts := make([]string, 0, n)
			for i := 0; i < n; i++ {
				ext, _ := placeSandboxOrder(t, e, shop, sandboxLine(market, sku, "Kiss-Cut Sticker", 1+i%2))
				exts = append(exts, ext)
			}
			// The storm lasts a few poll intervals past the last order.
			time.Sleep(4 * time.Second)
			stop()
			storm := time.Since(stormAt)

			start := time.Now()
			waitFor(t, importTimeout(market), fmt.Sprintf("all %d orders placed during the storm", n), func() (bool, string) {
				orders := sellerOrders(t, e, shop.seller, "")
				missing := 0
				for _, ext := range exts {
					if len(withExternal(orders, shop.storeID, ext)) == 0 {
						missing++
					}
				}
				return missing == 0, fmt.Sprintf("%d of %d missing", missing, n)
			}, func() string { return diagnose(t, e, shop, strings.Join(exts, ",")) })
			took := time.Since(start)
			waitPolledAfter(t, e, shop, time.Now().Add(2*time.Second))
			orders := sellerOrders(t, e, shop.seller, "")
			for _, ext := range exts {
				if got := withExternal(orders, shop.storeID, ext); len(got) != 1 {
					t.Errorf("%d printfleet orders for %s order %s, want exactly 1:%s", len(got), market, ext, describeOrders(got))
				}
			}
			if len(orders) != n {
				t.Errorf("the seller has %d orders, want %d:%s", len(orders), n, describeOrders(orders))
			}

			after := receivedBy(t, e, market)
			t.Logf("%s 429 STORM — %d orders placed in a %v forced-throttle storm, all imported %v after it ended",
				market, n, storm.Round(time.Millisecond), took.Round(time.Millisecond))
			t.Logf("  %s counters: requests +%d, throttled (forced) +%d, rejected for budget +%d, over_budget +%d",
				market, after.Counters.Requests-before.Counters.Requests, after.Counters.ThrottledForced-before.Counters.ThrottledForced,
				after.Counters.RejectedBudget-before.Counters.RejectedBudget, after.Counters.OverBudget-before.Counters.OverBudget)
			t.Logf("  worker: printfleet_marketplace_throttled_total +%v, printfleet_marketplace_import_polls_total by outcome +%v",
				sampleDelta(throttledBefore, workerSamples(t, e, "printfleet_marketplace_throttled_total", market)),
				sampleDelta(pollsBefore, workerSamples(t, e, "printfleet_marketplace_import_polls_total", market)))
			t.Logf("  worker: printfleet_marketplace_imports_total by source and outcome +%v",
				sampleDelta(importsBefore, workerSamples(t, e, "printfleet_marketplace_imports_total", market)))
			if after.Counters.ThrottledForced == before.Counters.ThrottledForced {
				t.Errorf("no %s call met the storm: the scenario proved nothing", market)
			}
			if after.Counters.OverBudget != before.Counters.OverBudget {
				t.Errorf("%s over_budget %d → %d: calls ignored the budget or Retry-After", market, before.Counters.OverBudget, after.Counters.OverBudget)
			}
		})
	}
}
