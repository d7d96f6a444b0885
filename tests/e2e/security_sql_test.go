package e2e

// SQL metacharacters.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var sqlMeta = []string{
	`'; DROP TABLE orders; --`,
	`" OR 1=1 --`,
	`\x27 \' \\ \"`,
	`%_ %% _%`,
	"Zoë Ünïcødé — 東京都 🚀 עברית \u202eolleh $1 ; /* */",
}

// fit cuts s to n runes.
func fitRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

// TestSQLMetacharacters stores SQL metacharacters in every free-text field a
// client can set and reads them back verbatim, through orders, catalog and
// the marketplace push; ids and query parameters made of metacharacters are
// refused with 400/404, never 5xx.
func TestSQLMetacharacters(t *testing.T) {
	e := need(t)
	sub := newSubject("sqlmeta")
	tok := secToken(t, sub, "user", time.Hour)
	partner := secToken(t, newSubject("sqlmeta-partner"), "fulfillment", time.Hour)
	variant, front := sticker(t, e)
	for i, s := range sqlMeta {
		t.Run(fmt.Sprintf("value %d", i), func(t *testing.T) {
			t.Parallel()
			// Store name; shop ids only allow [A-Za-z0-9._-] (and Shopify
			// lower-case letters, digits and hyphens), so "--" is all they get.
			shop := "sql--meta-" + uuid.NewString()[:8]
			// A shop the Shopify stand-in issued (the order below is pushed to
			// it), with order import off: its orders are typed in.
			issued, st := connectShopWith(t, e, tok, "shopify", shop, map[string]any{"order_import": "off", "name": fitRunes(s, 200)}, nil)
			if str(st, "name") != fitRunes(s, 200) || str(st, "shop_id") != shop {
				t.Errorf("store answered name %q shop %q, sent %q %q", str(st, "name"), str(st, "shop_id"), s, shop)
			}
			list := e.api.must(t, http.StatusOK, "GET", "/v1/stores?page_size=100", tok, nil)
			found := false
			for _, x := range dig(list, "stores").([]any) {
				if str(x, "id") == str(st, "id") {
					found = true
					if str(x, "name") != fitRunes(s, 200) {
						t.Errorf("listed store name %q, sent %q", str(x, "name"), s)
					}
				}
			}
			if !found {
				t.Errorf("store %s not listed", str(st, "id"))
			}

			// Design filename.
			design := uploadedDesign(t, e, tok, fitRunes(s, 255), "image/png", designPNG(t, 1800, 1800))
			if f := str(e.api.must(t, http.StatusOK, "GET", "/v1/designs/"+design, tok, nil), "filename"); f != fitRunes(s, 255) {
				t.Errorf("design filename %q, sent %q", f, s)
			}
			e.api.must(t, http.StatusOK, "POST", "/v1/designs/"+design+":process", tok, map[string]any{})

			// Address and external id on an order, then a cancel reason.
			addr := map[string]any{"name": fitRunes(s, 200), "line1": fitRunes(s, 200), "line2": fitRunes(s, 200), "city": fitRunes(s, 100),
				"region": fitRunes(s, 100), "postal_code": fitRunes(s, 20), "country_code": "US"}
			body := secBlankOrder(variant, 1)
			body["shipping_address"], body["external_order_id"] = addr, fitRunes(s, 128)
			// A blank order can reach production within a few hundred
			// milliseconds: cancel right after the create, and try again with
			// a fresh order when the pipeline won the race.
			var id string
			var created map[string]any
			for attempt := 1; ; attempt++ {
				r := secCreateOrder(t, e, tok, body)
				if r.Status != http.StatusCreated {
					t.Fatalf("order with metacharacters: %d %s", r.Status, r.Body)
				}
				created = r.JSON(t)
				id = str(created, "id")
				c := e.api.do(t, "POST", "/v1/orders/"+id+":cancel", tok, map[string]any{"reason": fitRunes(s, 500)})
				if c.Status == http.StatusOK {
					break
				}
				if c.Status != http.StatusBadRequest || !strings.Contains(string(c.Body), "FAILED_PRECONDITION") || attempt == 5 {
					t.Fatalf("cancel with a metacharacter reason (attempt %d): %d %s", attempt, c.Status, c.Body)
				}
			}
			for _, o := range []map[string]any{created, e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id, tok, nil)} {
				for k, v := range addr {
					if got := str(o, "shipping_address", k); got != v {
						t.Errorf("shipping_address.%s = %q, sent %q", k, got, v)
					}
				}
				if got := str(o, "external_order_id"); got != fitRunes(s, 128) {
					t.Errorf("external_order_id = %q, sent %q", got, s)
				}
			}
			if got := str(e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id, tok, nil), "failure_reason"); got != fitRunes(s, 500) {
				t.Errorf("failure_reason = %q, sent %q", got, s)
			}
			ev := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id+"/events", tok, nil)
			if !strings.Contains(secJSON(ev), mustJSONString(fitRunes(s, 500))) {
				t.Errorf("the timeline does not carry the reason %q verbatim: %s", s, secClip([]byte(secJSON(ev)), 1000))
			}

			// A printed order in that store, shipped with a metacharacter
			// carrier; the push reaches the marketplace intact.
			eventually(t, 90*time.Second, "design ready", func() (bool, string) {
				d := e.api.must(t, http.StatusOK, "GET", "/v1/designs/"+design, tok, nil)
				if str(d, "status") == "DESIGN_STATUS_REJECTED" {
					t.Fatalf("design rejected: %v", dig(d, "report", "problems"))
				}
				return str(d, "status") == "DESIGN_STATUS_READY", str(d, "status")
			})
			external, items := marketOrder(t, e, issued, 1)
			r := secCreateOrder(t, e, tok, map[string]any{
				"items": []any{map[string]any{"variant_id": variant, "quantity": 1, "design_id": design, "placement_id": front,
					"external_item_id": items[0]}},
				"shipping_address": addr, "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
				"store_id": str(st, "id"), "external_order_id": external,
			})
			if r.Status != http.StatusCreated {
				t.Fatalf("printed order: %d %s", r.Status, r.Body)
			}
			printed := str(r.JSON(t), "id")
			waitStatus(t, e, tok, printed, "ORDER_STATUS_IN_PRODUCTION", 120*time.Second)
			tracking := fmt.Sprintf("1Z--OR-1-1--%d", i) + strings.ToUpper(uuid.NewString()[:6])
			trackURL := "https://track.example/t?q='%20OR%201=1--&n=" + tracking
			sh := e.api.do(t, "POST", "/v1/orders/"+printed+"/shipments", partner, map[string]any{
				"carrier": fitRunes(s, 64), "tracking_number": tracking, "tracking_url": trackURL,
			})
			if sh.Status != http.StatusCreated {
				t.Fatalf("shipment with a metacharacter carrier: %d %s", sh.Status, sh.Body)
			}
			if str(sh.JSON(t), "carrier") != fitRunes(s, 64) || str(sh.JSON(t), "tracking_url") != trackURL {
				t.Errorf("shipment answered %s, sent carrier %q url %q", sh.Body, s, trackURL)
			}
			o := waitStatus(t, e, tok, printed, "ORDER_STATUS_SHIPPED", 30*time.Second)
			if got := str(o, "shipments", 0, "carrier"); got != fitRunes(s, 64) {
				t.Errorf("stored carrier %q, sent %q", got, s)
			}
			eventually(t, 60*time.Second, "the push at shopify", func() (bool, string) {
				got := sandboxReceived(t, e, "shopify")
				return strings.Contains(got, tracking), fmt.Sprintf("%d bytes recorded", len(got))
			})
		})
	}

	// Ids and query parameters made of metacharacters.
	t.Run("path and query", func(t *testing.T) {
		admin := secToken(t, newSubject("sqlmeta-admin"), "user,admin,fulfillment", time.Hour)
		badIDs := []string{`' OR '1'='1`, `1;DROP TABLE orders`, `%27`, `00000000-0000-0000-0000-000000000000' OR '1'='1`,
			`%_`, `\x27`, `東京`, strings.Repeat("9", 5000)}
		for _, rt := range restTable {
			param := rt.idParam()
			if param == "" {
				continue
			}
			for _, id := range badIDs {
				p := rt.fill(map[string]string{param: url.PathEscape(id)})
				var body any
				if rt.hasBody() {
					body = map[string]any{}
				}
				got := e.api.do(t, rt.Method, p, admin, body, "Idempotency-Key", uuid.NewString())
				if got.Status != http.StatusBadRequest && got.Status != http.StatusNotFound {
					t.Errorf("%s %s: %d %s, want 400 or 404", rt.Method, p, got.Status, secClip(got.Body, 300))
				} else if msg := checkErrorBody(got, got.Status, ""); msg != "" {
					t.Errorf("%s %s: %s", rt.Method, p, msg)
				}
			}
		}
		queries := []string{
			"/v1/orders?page_token=" + url.QueryEscape(`' OR 1=1 --`),
			"/v1/orders?page_token=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(`{"id":"' OR 1=1 --"}`))),
			"/v1/orders?status=" + url.QueryEscape(`ORDER_STATUS_PAID' OR 1=1 --`),
			"/v1/orders?page_size=" + url.QueryEscape(`1;DROP TABLE orders`),
			"/v1/orders?page_size=99999999999999",
			"/v1/orders?user_id=" + url.QueryEscape(`' OR '1'='1`),
			"/v1/orders/" + ghostID() + "/events?page_token=" + url.QueryEscape(`%_'`),
			"/v1/stores?page_token=" + url.QueryEscape(`' UNION SELECT credentials FROM stores --`),
			"/v1/products?page_token=" + url.QueryEscape(`'; DROP TABLE products; --`),
			"/v1/products?page_size=-1",
		}
		for _, q := range queries {
			got := e.api.do(t, "GET", q, admin, nil)
			switch {
			case got.Status >= 500 || (got.Status >= 300 && got.Status != 400 && got.Status != 404):
				t.Errorf("GET %s: %d %s", q, got.Status, secClip(got.Body, 300))
			case got.Status >= 400:
				if msg := checkErrorBody(got, got.Status, ""); msg != "" {
					t.Errorf("GET %s: %s", q, msg)
				}
			case strings.Contains(q, "user_id=") && len(dig(got.JSON(t), "orders").([]any)) != 0:
				t.Errorf("GET %s listed orders: %s", q, secClip(got.Body, 500))
			}
		}
	})
}

// mustJSONString is s as it appears inside a JSON document.
func mustJSONString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(s)
	out := strings.TrimSpace(buf.String())
	return out[1 : len(out)-1]
}
