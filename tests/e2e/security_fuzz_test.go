package e2e

// Body fuzz corpus.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// fuzzCase is a body and the status it must get (0: anything below 500).
type fuzzCase struct {
	name        string
	body        []byte
	contentType string
	want        int
	chunked     bool
}

// genericCorpus is the route-independent part, in the spirit of the
// gateway's FuzzRequestBody seeds.
func genericCorpus() []fuzzCase {
	deep := func(open, close string, n int, inner string) []byte {
		return []byte(strings.Repeat(open, n) + inner + strings.Repeat(close, n))
	}
	big := []byte(`{"name":"` + strings.Repeat("A", 2<<20) + `"}`)
	cs := []fuzzCase{
		{name: "empty", body: []byte("")},
		{name: "whitespace", body: []byte(" \n\t ")},
		{name: "open brace", body: []byte("{")},
		{name: "truncated", body: []byte(`{"items":[{"variant_id":"`)},
		{name: "two objects", body: []byte(`{}{}`)},
		{name: "missing colon", body: []byte(`{"a" 1}`)},
		{name: "single quotes", body: []byte(`{'items':[]}`)},
		{name: "trailing comma", body: []byte(`{"items":[],}`)},
		{name: "comment", body: []byte(`{/* x */}`)},
		{name: "bare word", body: []byte(`nul`)},
		{name: "null", body: []byte(`null`)},
		{name: "array", body: []byte(`[]`)},
		{name: "string", body: []byte(`"just a string"`)},
		{name: "number", body: []byte(`123`)},
		{name: "true", body: []byte(`true`)},
		{name: "bom", body: []byte("\xef\xbb\xbf{}")},
		{name: "utf16", body: []byte("\xff\xfe{\x00}\x00")},
		{name: "invalid utf8 key", body: []byte("{\"\xff\xfe\":1}")},
		{name: "invalid utf8 value", body: []byte("{\"name\":\"\xc3\x28\",\"filename\":\"\xed\xa0\x80\",\"title\":\"\xc0\xaf\"}")},
		{name: "lone surrogate", body: []byte(`{"name":"\ud800","title":"\udfff","filename":"\ud800.png"}`)},
		{name: "nul escapes", body: []byte(`{"name":"a\u0000b","title":"\u0000","reason":"\u0000","carrier":"\u0000","filename":"a\u0000.png"}`)},
		{name: "huge exponent", body: []byte(`{"quantity":1e400,"size_bytes":1e400,"page_size":1e400}`)},
		{name: "huge integer", body: []byte(`{"quantity":99999999999999999999999999,"size_bytes":99999999999999999999999999}`)},
		{name: "negative huge", body: []byte(`{"quantity":-1e308,"size_bytes":-9223372036854775809}`)},
		{name: "NaN token", body: []byte(`{"width_in":NaN,"rate_limit_per_second":NaN}`)},
		{name: "Infinity strings", body: []byte(`{"rate_limit_per_second":"Infinity","width_in":"-Infinity"}`)},
		{name: "int64 overflow string", body: []byte(`{"size_bytes":"9223372036854775808"}`)},
		{name: "deep arrays 10k", body: deep("[", "]", 10000, "")},
		{name: "deep objects 10k", body: deep(`{"a":`, "}", 10000, "1")},
		{name: "deep in items 10k", body: append(append([]byte(`{"items":`), deep("[", "]", 10000, "")...), '}')},
		{name: "deep in known object 10k", body: append(append([]byte(`{"shipping_address":`), deep(`{"name":`, "}", 10000, `"x"`)...), '}')},
		{name: "deep in credentials 10k", body: append(append([]byte(`{"credentials":`), deep(`{"api_key":`, "}", 10000, `"x"`)...), '}')},
		{name: "wrong types", body: []byte(`{"items":"x","shipping_address":[],"currency":1,"payment_method":{},"credentials":"x","filename":7,"size_bytes":"x","title":[],"variants":{},"reason":false,"carrier":[],"country_code":{}}`)},
		{name: "nulls", body: []byte(`{"items":null,"shipping_address":null,"currency":null,"credentials":null,"filename":null,"title":null,"variants":[null],"placements":null,"reason":null,"carrier":null,"country_code":null}`)},
		{name: "null items", body: []byte(`{"items":[null,null]}`)},
		{name: "duplicate keys", body: []byte(`{"items":[{"variant_id":"x"}],"items":[],"currency":"USD","currency":"EUR","title":"a","title":"b"}`)},
		{name: "unknown enum", body: []byte(`{"payment_method":"PAYMENT_METHOD_NOPE","marketplace":"MARKETPLACE_NOPE","status":"NOPE"}`)},
		{name: "enum numbers out of range", body: []byte(`{"payment_method":99,"marketplace":2147483647}`)},
		{name: "long string 900 KiB", body: []byte(`{"name":"` + strings.Repeat("x", 900<<10) + `","title":"` + strings.Repeat("y", 10) + `"}`)},
		{name: "many items", body: []byte(`{"items":[` + strings.TrimSuffix(strings.Repeat(`{"variant_id":"0190a000-0000-7000-8000-000000000004","quantity":1},`, 10000), ",") + `]}`)},
		{name: "form encoded", body: []byte("items=1&currency=USD"), contentType: "application/x-www-form-urlencoded"},
		{name: "text plain", body: []byte(`{}`), contentType: "text/plain"},
		{name: "2 MiB declared", body: big, want: http.StatusRequestEntityTooLarge},
		{name: "2 MiB chunked", body: big, want: http.StatusRequestEntityTooLarge, chunked: true},
	}
	return cs
}

// mutations derives malformed variants of a valid body: every field set to
// null, to the wrong type, to extreme numbers, to NUL, invalid UTF-8 and
// over-long strings.
func mutations(base map[string]any) []fuzzCase {
	const ph = "@@FUZZ-PLACEHOLDER@@"
	var out []fuzzCase
	var walk func(v any, path []any)
	var paths [][]any
	walk = func(v any, path []any) {
		paths = append(paths, slices.Clone(path))
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(c, append(path, k))
			}
		case []any:
			if len(x) > 0 {
				walk(x[0], append(path, 0))
			}
		}
	}
	walk(base, nil)
	for _, p := range paths {
		if len(p) == 0 {
			continue
		}
		orig := dig(base, p...)
		repl := []struct{ name, raw string }{
			{"null", "null"}, {"object", `{"x":1}`}, {"array", `[1,"a",null]`}, {"bool", "true"},
			{"huge exponent", "1e400"}, {"huge int", "123456789012345678901234567890"}, {"negative", "-1"},
			{"int32 overflow", "2147483648"}, {"int64 min", "-9223372036854775808"}, {"fraction", "1.5"},
			{"NaN", "NaN"}, {"Infinity string", `"Infinity"`},
			{"nul", `"a\u0000b"`}, {"invalid utf8", "\"\xff\xfe\xc3\x28\""}, {"lone surrogate", `"\ud800"`},
			{"long string", `"` + strings.Repeat("z", 100000) + `"`}, {"empty string", `""`},
			{"sql", `"'; DROP TABLE orders; --"`}, {"number as string", `"1"`},
		}
		if arr, ok := orig.([]any); ok && len(arr) > 0 {
			elem, _ := json.Marshal(arr[0])
			n := max(1, 800_000/(len(elem)+1))
			repl = append(repl, struct{ name, raw string }{"huge array", "[" + strings.TrimSuffix(strings.Repeat(string(elem)+",", n), ",") + "]"},
				struct{ name, raw string }{"empty array", "[]"})
		}
		for _, r := range repl {
			b := deepCopy(base)
			setAt(b, p, ph)
			raw, _ := json.Marshal(b)
			raw = bytes.Replace(raw, []byte(`"`+ph+`"`), []byte(r.raw), 1)
			out = append(out, fuzzCase{name: fmt.Sprintf("%v=%s", p, r.name), body: raw})
		}
	}
	return out
}

func deepCopy(v map[string]any) map[string]any {
	raw, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

func setAt(v any, path []any, val any) {
	for i, p := range path {
		last := i == len(path)-1
		switch k := p.(type) {
		case string:
			m := v.(map[string]any)
			if last {
				m[k] = val
				return
			}
			v = m[k]
		case int:
			a := v.([]any)
			if last {
				a[k] = val
				return
			}
			v = a[k]
		}
	}
}

// TestBodyFuzzCorpus sends the malformed-body corpus and the field mutations
// of a valid body to every POST and PATCH route of the REST table as a
// caller holding every role, so that nothing stops before decoding: no 5xx,
// every answer has a request id and every error the JSON error body; 2 MiB
// is 413 whether declared or chunked.
func TestBodyFuzzCorpus(t *testing.T) {
	e := need(t)
	sub := newSubject("fuzz")
	tok := secToken(t, sub, "user,admin,fulfillment", time.Hour)
	variant, front := sticker(t, e)
	r := secCreateOrder(t, e, tok, secBlankOrder(variant, 1))
	if r.Status != http.StatusCreated {
		t.Fatalf("fuzz order: %d %s", r.Status, r.Body)
	}
	order := str(r.JSON(t), "id")
	design := uploadedDesign(t, e, tok, "fuzz.png", "image/png", designPNG(t, 64, 64))
	productBody := map[string]any{
		"title": "fuzz-" + uuid.NewString()[:8], "description": "fuzzed product", "active": false, "image_key": "",
		"variants": []any{map[string]any{"sku": "FUZZ-" + strings.ToUpper(uuid.NewString()[:8]), "title": "One",
			"price": map[string]any{"currency": "USD", "amount_minor": 100}, "size": "OS", "color": "White", "weight_grams": 10,
			"active": true, "stock_tracked": true, "stock_available": 5}},
		"placements": []any{map[string]any{"name": "front", "width_in": 4, "height_in": 4, "min_dpi": 150, "recommended_dpi": 300, "technique": "dtg"}},
	}
	pr := e.api.do(t, "POST", "/v1/products", tok, productBody)
	if pr.Status != http.StatusCreated && pr.Status != http.StatusOK {
		t.Fatalf("fuzz product: %d %s", pr.Status, pr.Body)
	}
	product := str(pr.JSON(t), "id")

	bases := map[string]map[string]any{
		"POST /v1/orders": {
			"items": []any{map[string]any{"variant_id": variant, "quantity": 1, "design_id": design, "placement_id": front, "external_item_id": "42"}},
			"shipping_address": map[string]any{"name": "Fuzz", "line1": "1 Fuzz St", "line2": "Apt 2", "city": "Fuzzton",
				"region": "FZ", "postal_code": "12345", "country_code": "US"},
			"currency": "USD", "coupon_code": "NOPE", "payment_method": "PAYMENT_METHOD_CARD",
			"store_id": ghostID(), "external_order_id": "fuzz-1",
		},
		"POST /v1/orders/{order_id}:cancel":       {"reason": "fuzz"},
		"POST /v1/orders/{order_id}:retry-import": {},
		"POST /v1/orders/{order_id}/shipments":    {"carrier": "UPS", "tracking_number": "1ZFUZZ", "tracking_url": "https://example.com/t?n=1"},
		"POST /v1/products":                       productBody,
		"PATCH /v1/products/{product_id}":         {"title": "fuzz-upd", "description": "d", "active": false},
		"POST /v1/designs":                        {"filename": "a.png", "content_type": "image/png", "size_bytes": 1000},
		"POST /v1/designs/{design_id}:process":    {"design_id": design},
		"POST /v1/quotes": {"items": []any{map[string]any{"variant_id": variant, "quantity": 1, "placement_ids": []any{front}}},
			"country_code": "US", "currency": "USD", "coupon_code": "NOPE", "shipping_method": "standard"},
		// Pricing's admin writes, on data no other test reads: a variant
		// that does not exist, a fresh code, a pair no quote converts.
		"POST /v1/price-lists": {"prices": []any{map[string]any{"variant_id": ghostID(), "region": "*",
			"price": map[string]any{"currency": "USD", "amount_minor": 100}}}},
		"POST /v1/coupons": {"code": "FUZZ" + strings.ToUpper(uuid.NewString()[:8]), "kind": "COUPON_KIND_PERCENT", "percent_bp": 100,
			"valid_from": "2030-01-01T00:00:00Z", "valid_until": "2030-01-02T00:00:00Z", "usage_limit": 1},
		"POST /v1/fx-rates": {"rates": []any{map[string]any{"base": "JPY", "quote": "KRW", "rate": "9.5"}}},
		// Shipping and tax rates of a country no other test ships to.
		"POST /v1/shipping-rates": {"rates": []any{map[string]any{"method": "fuzz", "country_code": "AQ",
			"first_item": map[string]any{"currency": "USD", "amount_minor": 100}, "additional_item": map[string]any{"currency": "USD", "amount_minor": 50},
			"min_days": 1, "max_days": 3}}},
		"POST /v1/tax-rates": {"rates": []any{map[string]any{"country_code": "AQ", "region": "", "rate_bp": 100, "prices_include_tax": false}}},
		"PATCH /v1/orders/{order_id}": {"items": []any{map[string]any{"variant_id": variant, "quantity": 1}}, "shipping_method": "standard",
			"coupon_code": "NOPE", "payment_method": "PAYMENT_METHOD_CARD", "version": 1},
		"POST /v1/orders/{order_id}:confirm":                         {},
		"POST /v1/orders/{order_id}/shipments/{shipment_id}:deliver": {},
		"POST /v1/stores": {"marketplace": "MARKETPLACE_SHOPIFY", "shop_id": "fuzz-shop", "name": "Fuzz",
			"credentials":           map[string]any{"api_key": "sec-fuzz-" + uuid.NewString(), "access_token": "sec-fuzz-" + uuid.NewString()},
			"rate_limit_per_second": 2, "rate_limit_burst": 4, "order_import": "off"},
		"POST /v1/stores/{store_id}/listings": {"external_product_id": "fuzz-prod", "external_variant_id": "fuzz-var",
			"sku": "FUZZ-1", "variant_id": variant, "design_id": design, "placement_id": front},
		// The sandbox receiver: the one address the fleet's webhooks service
		// lets through, so no mutation makes it resolve a name.
		"POST /v1/webhooks": {"url": e.layout.ReceiverURL() + "/r/fuzz", "event_types": []any{"order.paid", "order.shipped"},
			"description": "fuzz"},
		"POST /v1/webhooks/{webhook_id}:rotate-secret":                      {},
		"POST /v1/webhooks/{webhook_id}:enable":                             {},
		"POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}:redeliver": {},
	}
	for _, b := range bases {
		if c, ok := b["credentials"].(map[string]any); ok {
			for _, v := range c {
				rememberSecretAs("store credential", v.(string))
			}
		}
	}
	ids := map[string]string{"order_id": order, "design_id": design, "product_id": product, "store_id": ghostID(),
		"webhook_id": ghostID(), "delivery_id": ghostID()}
	generic := genericCorpus()
	var failures []string
	sent := 0
	start := time.Now()
	for _, rt := range restTable {
		if !rt.hasBody() || rt.Edge {
			continue
		}
		base, ok := bases[rt.String()]
		if !ok {
			t.Fatalf("no base body for %s", rt)
		}
		cases := append(slices.Clone(generic), mutations(base)...)
		for _, c := range cases {
			sent++
			h := http.Header{}
			h.Set("Authorization", "Bearer "+tok)
			h.Set("Idempotency-Key", uuid.NewString())
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			h.Set("Content-Type", ct)
			var body io.Reader = bytes.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(bytes.NewReader(c.body)) // unknown length: sent chunked
			}
			got := secRawDo(t, rt.Method, e.api.base+rt.fill(ids), h, body)
			var problem string
			switch {
			case got.Status >= 500:
				problem = fmt.Sprintf("status %d", got.Status)
			case c.want != 0 && got.Status != c.want:
				problem = fmt.Sprintf("status %d, want %d", got.Status, c.want)
			case got.Header.Get("X-Request-Id") == "":
				problem = "no X-Request-Id"
			case got.Status >= 400:
				problem = checkErrorBody(got, got.Status, "")
			}
			if problem != "" {
				failures = append(failures, redactSecrets(fmt.Sprintf("%s %s [%s] body %s: %s: %s", rt.Method, rt.Path, c.name, secClip(c.body, 160), problem, secClip(got.Body, 300))))
			}
		}
	}
	t.Logf("%d fuzz requests in %v", sent, time.Since(start).Round(time.Millisecond))
	if sent < 500 {
		t.Errorf("only %d fuzz requests generated", sent)
	}
	for i, f := range failures {
		if i == 60 {
			t.Errorf("… and %d more", len(failures)-60)
			break
		}
		t.Error(f)
	}
	// Every process is still up.
	for _, p := range []string{"gateway", "orders", "catalog", "catalog-worker", "pricing", "pricing-worker", "images", "orders-worker", "marketplace", "webhooks"} {
		if e.fleet.Pid(p) == 0 {
			t.Errorf("%s is not running after the fuzz corpus", p)
		}
	}
}
