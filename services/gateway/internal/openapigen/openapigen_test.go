package openapigen_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/printfleet/printfleet/proto/openapi"
	_ "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	_ "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	_ "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	_ "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"

	"github.com/printfleet/printfleet/services/gateway/internal/apidocs"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/gateway/internal/openapigen"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
)

// at walks a decoded JSON document along keys.
func at(t *testing.T, doc any, keys ...string) any {
	t.Helper()
	cur := doc
	for i, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s is not an object", strings.Join(keys[:i], "."))
		}
		if cur, ok = m[k]; !ok {
			t.Fatalf("document has no %s", strings.Join(keys[:i+1], "."))
		}
	}
	return cur
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestDocumentCarriesValidationRules: the committed document (what `make
// generate` writes, checked fresh by lint) says what protovalidate enforces
// on a few known request fields.
func TestDocumentCarriesValidationRules(t *testing.T) {
	doc := decode(t, openapi.JSON)
	item := "v1CreateOrderItem"
	qty := at(t, doc, "definitions", item, "properties", "quantity").(map[string]any)
	// gt: 0, lte: 1000 on an int32.
	if qty["minimum"] != 1.0 || qty["maximum"] != 1000.0 || qty["exclusiveMinimum"] != nil {
		t.Errorf("CreateOrderItem.quantity = %v, want minimum 1, maximum 1000", qty)
	}
	if f := at(t, doc, "definitions", item, "properties", "variant_id", "format"); f != "uuid" {
		t.Errorf("CreateOrderItem.variant_id format = %v, want uuid", f)
	}
	req := at(t, doc, "definitions", "v1CreateOrderRequest").(map[string]any)
	required := req["required"].([]any)
	for _, f := range []string{"shipping_address", "items"} {
		if !slices.Contains(required, any(f)) {
			t.Errorf("CreateOrderRequest.required = %v, want %s in it", required, f)
		}
	}
	if slices.Contains(required, any("coupon_code")) {
		t.Error("the optional coupon_code is listed as required")
	}
	if p := at(t, req, "properties", "coupon_code", "pattern"); p != "^[A-Za-z0-9_-]*$" {
		t.Errorf("CreateOrderRequest.coupon_code pattern = %v", p)
	}
	if n := at(t, req, "properties", "items", "maxItems"); n != 100.0 {
		t.Errorf("CreateOrderRequest.items maxItems = %v, want 100", n)
	}
	// An enum field that refuses UNSPECIFIED says so.
	if d, _ := at(t, req, "properties", "payment_method", "description").(string); !strings.Contains(d, "PAYMENT_METHOD_UNSPECIFIED") {
		t.Errorf("CreateOrderRequest.payment_method description = %q, want the refused value named", d)
	}
	// A 64-bit integer is a JSON number, as the API writes it, with its bound.
	stock := at(t, doc, "definitions", "v1Variant", "properties", "stock_available").(map[string]any)
	if stock["type"] != "integer" || stock["format"] != "int64" || stock["minimum"] != 0.0 {
		t.Errorf("Variant.stock_available = %v, want an int64 integer, minimum 0", stock)
	}
	if m := at(t, doc, "definitions", "v1Money", "properties", "amount_minor").(map[string]any); m["type"] != "integer" {
		t.Errorf("Money.amount_minor = %v, want an integer", m)
	}
	if strings.Contains(string(openapi.JSON), `"type": "string",
      "format": "int64"`) || strings.Contains(string(openapi.JSON), `"format": "int64",
          "type": "string"`) {
		t.Error("a 64-bit integer is still described as a string")
	}
	// Path parameters carry their format too.
	for _, p := range at(t, doc, "paths", "/v1/orders/{order_id}", "get", "parameters").([]any) {
		if p := p.(map[string]any); p["name"] == "order_id" && p["format"] != "uuid" {
			t.Errorf("GET /v1/orders/{order_id} order_id = %v, want format uuid", p)
		}
	}
}

// TestCreatesAnswer201WithLocation: every operation the gateway answers with
// 201 says so in the document, the published one included; others keep 200.
func TestCreatesAnswer201WithLocation(t *testing.T) {
	pub, err := apidocs.Document(policy.Routes)
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]map[string]any{"generated": decode(t, openapi.JSON), "published": decode(t, pub)} {
		responses := at(t, doc, "paths", "/v1/orders", "post", "responses").(map[string]any)
		if _, ok := responses["200"]; ok {
			t.Errorf("%s: POST /v1/orders still answers 200", name)
		}
		if h := at(t, responses, "201", "headers", "Location", "type"); h != "string" {
			t.Errorf("%s: POST /v1/orders 201 Location = %v", name, h)
		}
		if r := at(t, responses, "201", "schema", "$ref"); r != "#/definitions/v1Order" {
			t.Errorf("%s: POST /v1/orders 201 schema = %v", name, r)
		}
		if _, ok := at(t, doc, "paths", "/v1/products", "post", "responses").(map[string]any)["201"]; !ok {
			t.Errorf("%s: POST /v1/products does not answer 201", name)
		}
		if _, ok := at(t, doc, "paths", "/v1/quotes", "post", "responses").(map[string]any)["200"]; !ok {
			t.Errorf("%s: POST /v1/quotes (no resource created) lost its 200", name)
		}
	}
	if len(gateway.CreatedMethods()) < 3 {
		t.Fatalf("created methods = %v", gateway.CreatedMethods())
	}
}

func TestEnrichRefusesAnUnknownOperation(t *testing.T) {
	raw := `{"swagger":"2.0","paths":{"/v1/x":{"get":{"operationId":"OrderService_Nope","responses":{}}}},"definitions":{}}`
	if _, err := openapigen.Enrich([]byte(raw), protoregistry.GlobalFiles, nil); err == nil {
		t.Fatal("an operation of no known method was accepted")
	}
	raw = strings.Replace(raw, "OrderService_Nope", "OrderService_GetOrder", 1)
	if _, err := openapigen.Enrich([]byte(raw), protoregistry.GlobalFiles, nil); err != nil {
		t.Fatal(err)
	}
}
