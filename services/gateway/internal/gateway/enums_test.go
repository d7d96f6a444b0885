package gateway_test

import (
	"strings"
	"testing"
)

// TestInvalidEnumNamesAllowedValues: an enum value the query or the JSON
// body cannot decode answers 400 naming the field and its values, without
// the decoder's position or wording.
func TestInvalidEnumNamesAllowedValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	order := func(pm string) string {
		return `{"items":[{"variant_id":"` + variantID + `","quantity":1}],"currency":"USD","payment_method":` + pm + `}`
	}
	cases := []struct {
		name, method, path, body string
		want                     string
	}{
		{"query", "GET", "/v1/orders?status=SHIPPED", "",
			`invalid value "SHIPPED" for status; allowed: ORDER_STATUS_PENDING, `},
		{"query number", "GET", "/v1/orders?status=99", "",
			`invalid value "99" for status; allowed: ORDER_STATUS_PENDING, `},
		{"body", "POST", "/v1/orders", order(`"CASH"`),
			`invalid value "CASH" for payment_method; allowed: PAYMENT_METHOD_CARD`},
		{"body by JSON name", "POST", "/v1/orders", `{"paymentMethod":"CASH"}`,
			`invalid value "CASH" for payment_method; allowed: PAYMENT_METHOD_CARD`},
		{"body of another service", "POST", "/v1/stores", `{"marketplace":"EBAY","shop_id":"x"}`,
			`invalid value "EBAY" for marketplace; allowed: MARKETPLACE_SHOPIFY`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.do(c.method, c.path, c.body, merge(aliceUser(t), map[string]string{"Idempotency-Key": "enum-key"}))
			if resp.status != 400 {
				t.Fatalf("status %d, want 400: %s", resp.status, resp.body)
			}
			errBody, _ := resp.json(t)["error"].(map[string]any)
			msg, _ := errBody["message"].(string)
			if errBody["code"] != "INVALID_ARGUMENT" || !strings.HasPrefix(msg, c.want) {
				t.Fatalf("error %v, want a message starting %q", errBody, c.want)
			}
			for _, leak := range []string{"proto:", "line 1", "UNSPECIFIED", "parsing field"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("message %q shows %q", msg, leak)
				}
			}
		})
	}
	t.Run("undefined number refused by the service", func(t *testing.T) {
		resp := e.do("POST", "/v1/orders", order(`7`), merge(aliceUser(t), map[string]string{"Idempotency-Key": "enum-key"}))
		msg, _ := resp.json(t)["error"].(map[string]any)["message"].(string)
		if resp.status != 400 || !strings.Contains(msg, " - payment_method: value must be one of PAYMENT_METHOD_CARD") {
			t.Fatalf("%d %q", resp.status, msg)
		}
	})
	t.Run("undefined number, the only violation", func(t *testing.T) {
		body := strings.Replace(createOrderBody, `"PAYMENT_METHOD_CARD"`, `7`, 1)
		resp := e.do("POST", "/v1/orders", body, merge(aliceUser(t), map[string]string{"Idempotency-Key": "enum-key"}))
		msg, _ := resp.json(t)["error"].(map[string]any)["message"].(string)
		if resp.status != 400 || msg != "validation error: payment_method: value must be one of PAYMENT_METHOD_CARD, PAYMENT_METHOD_INVOICE" {
			t.Fatalf("%d %q", resp.status, msg)
		}
	})
	t.Run("other decoding errors unchanged", func(t *testing.T) {
		resp := e.do("POST", "/v1/orders", `{"items":[{"quantity":"x"}]}`, merge(aliceUser(t), map[string]string{"Idempotency-Key": "enum-key"}))
		if resp.status != 400 {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
	})
}
