package gateway_test

import (
	"regexp"
	"strings"
	"testing"
)

func TestUnknownQueryParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name, path string
		status     int
		msg        string
	}{
		{"known fields", "/v1/orders?page_size=5&status=ORDER_STATUS_PENDING", 200, ""},
		{"JSON names", "/v1/orders?pageSize=5&pageToken=", 200, ""},
		// The service decides who may list every owner's orders; the
		// parser passes the flag on under either name.
		{"every owner", "/v1/orders?all_owners=true&status=ORDER_STATUS_ON_HOLD", 200, ""},
		{"every owner, JSON name", "/v1/orders?allOwners=true", 200, ""},
		{"misspelt filter", "/v1/orders?colour=red", 400,
			`unknown query parameter "colour" (allowed: page_size, page_token, user_id, status`},
		{"nested path into a scalar", "/v1/orders?status.name=x", 400, `unknown query parameter "status.name"`},
		{"empty name", "/v1/orders?=x", 400, `unknown query parameter ""`},
		{"path parameter sent as a query parameter", "/v1/orders/" + aliceOrder + "/events?order_id=" + aliceOrder, 400,
			`unknown query parameter "order_id"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.do("GET", c.path, "", aliceUser(t))
			if resp.status != c.status {
				t.Fatalf("status %d, want %d: %s", resp.status, c.status, resp.body)
			}
			if c.msg == "" {
				return
			}
			body := resp.json(t)
			errBody, _ := body["error"].(map[string]any)
			if msg, _ := errBody["message"].(string); errBody["code"] != "INVALID_ARGUMENT" || !strings.HasPrefix(msg, c.msg) {
				t.Fatalf("error %v, want INVALID_ARGUMENT with %q", errBody, c.msg)
			}
			if regexp.MustCompile(`[ (]order_id[,)]`).MatchString(errBody["message"].(string)) {
				t.Fatalf("a path parameter is offered as a query parameter: %v", errBody["message"])
			}
		})
	}
}
