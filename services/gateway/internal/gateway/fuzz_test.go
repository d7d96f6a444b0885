package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzRoutes are the routes that take a JSON body.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/orders"},
	{"POST", "/v1/quotes"},
	{"POST", "/v1/products"},
	{"PATCH", "/v1/products/" + productID},
	{"POST", "/v1/stores"},
	{"POST", "/v1/designs"},
	{"POST", "/v1/orders/" + aliceOrder + ":cancel"},
	{"POST", "/v1/orders/" + aliceOrder + "/shipments"},
	{"POST", "/v1/designs/" + aliceDesign + ":process"},
}

// FuzzRequestBody sends arbitrary bodies to every JSON route (as a caller
// holding every role, so that nothing stops before decoding): malformed JSON,
// huge numbers, deep nesting or invalid UTF-8 must never produce a 5xx, and
// every answer carries a request id and, for errors, the JSON error body.
// The corpus under testdata/fuzz/FuzzRequestBody runs as seeds in go test.
func FuzzRequestBody(f *testing.F) {
	for _, fx := range []string{
		fixtures["POST /v1/orders"].body, fixtures["POST /v1/quotes"].body, fixtures["POST /v1/products"].body,
		fixtures["PATCH /v1/products/{product_id}"].body, fixtures["POST /v1/stores"].body, fixtures["POST /v1/designs"].body,
		fixtures["POST /v1/orders/{order_id}:cancel"].body, fixtures["POST /v1/orders/{order_id}/shipments"].body, "{}",
	} {
		f.Add(uint8(0), []byte(fx))
	}
	e := newEnv(f, withQuietLogs())
	h := e.gw.Handler()
	tok := "Bearer " + mint(f, "alice", []string{"user", "admin", "fulfillment"})
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", tok)
		req.Header.Set("Idempotency-Key", "fuzz-key")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: status %d: %s", r.method, r.path, body, rec.Code, rec.Body.Bytes())
		}
		if rec.Header().Get("X-Request-Id") == "" {
			t.Fatal("no X-Request-Id")
		}
		if rec.Code >= 400 {
			var eb struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.RequestID == "" {
				t.Fatalf("status %d with a malformed error body %q", rec.Code, rec.Body.Bytes())
			}
		} else if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
			t.Fatalf("status %d", rec.Code)
		}
	})
}
