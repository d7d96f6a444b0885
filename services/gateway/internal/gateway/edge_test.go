package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"

	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
)

func aliceUser(t testing.TB) map[string]string { return bearer(mint(t, "alice", []string{"user"})) }

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	order := func(key string) (string, string, string, map[string]string) {
		h := aliceUser(t)
		if key != "" {
			h["Idempotency-Key"] = key
		}
		return "POST", "/v1/orders", createOrderBody, h
	}
	type tc struct {
		name       string
		method     string
		path, body string
		hdr        map[string]string
		status     int
		code       string
		msg        string // substring of error.message ("" = any)
		notInBody  string
		detailType string // substring of a details[].@type ("" = none required)
	}
	cases := []tc{}
	add := func(name string, status int, code, msg, notInBody, detail string, m, p, b string, h map[string]string) {
		cases = append(cases, tc{name, m, p, b, h, status, code, msg, notInBody, detail})
	}
	m, p, b, h := order("reused")
	add("idempotency key reused with another body", 422, "FAILED_PRECONDITION", "reused", "", "ErrorInfo", m, p, b, h)
	m, p, b, h = order("inflight")
	add("idempotency key in flight", 409, "ABORTED", "in flight", "", "", m, p, b, h)
	m, p, b, h = order("boom")
	add("internal error hides the cause", 500, "INTERNAL", "internal error", "secret_orders", "", m, p, b, h)
	m, p, b, h = order("")
	add("missing Idempotency-Key", 400, "INVALID_ARGUMENT", "Idempotency-Key", "", "BadRequest", m, p, b, h)
	m, p, b, h = order(strings.Repeat("k", 300))
	add("oversized Idempotency-Key", 400, "INVALID_ARGUMENT", "Idempotency-Key", "", "", m, p, b, h)
	add("unknown field", 400, "INVALID_ARGUMENT", "unknown field", "", "", "POST", "/v1/orders",
		`{"items":[],"surprise":true}`, merge(aliceUser(t), map[string]string{"Idempotency-Key": "k"}))
	add("validation failure from the service", 400, "INVALID_ARGUMENT", "", "", "", "GET", "/v1/products/not-a-uuid", "", nil)
	add("not found from the service", 404, "NOT_FOUND", "product not found", "", "", "GET", "/v1/products/0190a000-0000-7000-8000-0000000000aa", "", nil)
	add("unroutable path", 404, "NOT_FOUND", "no such route", "", "", "GET", "/v1/nothing-here", "", nil)
	add("wrong method", 405, "UNIMPLEMENTED", "not allowed", "", "", "DELETE", "/v1/orders", "", nil)
	add("malformed JSON", 400, "INVALID_ARGUMENT", "", "", "", "POST", "/v1/quotes", `{"items": [`, nil)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.do(c.method, c.path, c.body, c.hdr)
			if resp.status != c.status {
				t.Fatalf("status %d, want %d: %s", resp.status, c.status, resp.body)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
			var body struct {
				Error struct {
					Code    string           `json:"code"`
					Message string           `json:"message"`
					Details []map[string]any `json:"details"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal(resp.body, &body); err != nil {
				t.Fatalf("body %q: %v", resp.body, err)
			}
			if body.Error.Code != c.code {
				t.Fatalf("code %q, want %q", body.Error.Code, c.code)
			}
			if !strings.Contains(body.Error.Message, c.msg) {
				t.Fatalf("message %q lacks %q", body.Error.Message, c.msg)
			}
			if body.RequestID == "" || body.RequestID != resp.header.Get("X-Request-Id") {
				t.Fatalf("request_id %q, header %q", body.RequestID, resp.header.Get("X-Request-Id"))
			}
			if c.notInBody != "" && strings.Contains(string(resp.body), c.notInBody) {
				t.Fatalf("body leaks %q: %s", c.notInBody, resp.body)
			}
			if c.detailType != "" {
				found := false
				for _, d := range body.Error.Details {
					if tp, _ := d["@type"].(string); strings.Contains(tp, c.detailType) {
						found = true
					}
				}
				if !found {
					t.Fatalf("no %s detail in %s", c.detailType, resp.body)
				}
			}
			if c.status == 405 && resp.header.Get("Allow") != "POST, GET" {
				t.Fatalf("Allow %q", resp.header.Get("Allow"))
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withOptions(func(o *gateway.Options) { o.MaxBodyBytes = 64 << 10 }))
	big := `{"items":[{"variant_id":"` + variantID + `","quantity":1}],"country_code":"US","currency":"USD","coupon_code":"` + strings.Repeat("A", 100<<10) + `"}`
	t.Run("declared length", func(t *testing.T) {
		resp := e.do("POST", "/v1/quotes", big, nil)
		if resp.status != http.StatusRequestEntityTooLarge || resp.errorCode(t) != "INVALID_ARGUMENT" {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() { _, _ = io.Copy(pw, strings.NewReader(big)); _ = pw.Close() }()
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/quotes", pr)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "larger than") {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	})
	t.Run("under the limit", func(t *testing.T) {
		resp := e.do("POST", "/v1/quotes", fixtures["POST /v1/quotes"].body, nil)
		if resp.status != 200 {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
	})
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		sent string
		keep bool
	}{
		{"client-id_1.2-3", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"bad id with spaces", false},
		{"inject\"quote", false},
		{"", false},
	} {
		hdr := map[string]string{}
		if c.sent != "" {
			hdr["X-Request-Id"] = c.sent
		}
		resp := e.do("GET", "/v1/products", "", hdr)
		got := resp.header.Get("X-Request-Id")
		if c.keep {
			if got != c.sent {
				t.Errorf("sent %q, echoed %q", c.sent, got)
			}
		} else {
			u, err := uuid.Parse(got)
			if err != nil || u.Version() != 7 || got == c.sent {
				t.Errorf("sent %q, got %q: want a fresh UUIDv7", c.sent, got)
			}
		}
		if md := e.f.catalog.last(t).MD.Get(principal.MDRequest); len(md) != 1 || md[0] != got {
			t.Errorf("upstream saw request id %v, response had %q", md, got)
		}
	}
	// Every response carries one, errors and edge routes included.
	for _, p := range []string{"/healthz", "/nope", "/openapi.json"} {
		if e.do("GET", p, "", nil).header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", p)
		}
	}
}

func TestForwardedMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	hdr := merge(bearer(mint(t, "alice", []string{"user", "fulfillment"})), map[string]string{
		"Idempotency-Key":                  "order-key-42",
		"X-Request-Id":                     "req-42",
		"Traceparent":                      "00-" + traceID + "-00f067aa0ba902b7-01",
		"X-Printfleet-Sub":                 "root",
		"X-Printfleet-Roles":               "admin",
		"Grpc-Metadata-X-Printfleet-Sub":   "root",
		"Grpc-Metadata-X-Printfleet-Roles": "admin",
		"Grpc-Metadata-Anything":           "x",
	})
	resp := e.do("POST", "/v1/orders", createOrderBody, hdr)
	if resp.status != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	c := e.f.orders.last(t)
	if c.Principal.Subject != "alice" || strings.Join(c.Principal.Roles, ",") != "user,fulfillment" {
		t.Fatalf("verified principal %+v", c.Principal)
	}
	get := func(k string) string {
		if v := c.MD.Get(k); len(v) == 1 {
			return v[0]
		}
		return strings.Join(c.MD.Get(k), "|")
	}
	if get(principal.MDIdempotencyKey) != "order-key-42" {
		t.Fatalf("idempotency-key %q", get(principal.MDIdempotencyKey))
	}
	if get(principal.MDRequest) != "req-42" {
		t.Fatalf("x-request-id %q", get(principal.MDRequest))
	}
	if get(principal.MDSubject) != "alice" || get(principal.MDRoles) != "user,fulfillment" || get(principal.MDSig) == "" {
		t.Fatalf("principal metadata sub=%q roles=%q", get(principal.MDSubject), get(principal.MDRoles))
	}
	if !strings.Contains(get("traceparent"), traceID) {
		t.Fatalf("traceparent %q does not continue trace %s", get("traceparent"), traceID)
	}
	for _, k := range []string{"authorization", "anything", "grpcgateway-authorization"} {
		if v := c.MD.Get(k); len(v) > 0 {
			t.Fatalf("metadata %s forwarded: %v", k, v)
		}
	}
	// The response carries no upstream metadata.
	for k := range resp.header {
		if strings.HasPrefix(strings.ToLower(k), "grpc-") {
			t.Fatalf("response header %s leaked", k)
		}
	}
}

func TestDeadlines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []struct {
		name     string
		hdr      map[string]string
		min, max time.Duration
		status   int
	}{
		{"default", nil, 9 * time.Second, 10 * time.Second, 200},
		{"X-Request-Timeout 2s", map[string]string{"X-Request-Timeout": "2s"}, 1500 * time.Millisecond, 2 * time.Second, 200},
		{"X-Request-Timeout seconds", map[string]string{"X-Request-Timeout": "2"}, 1500 * time.Millisecond, 2 * time.Second, 200},
		{"Grpc-Timeout 2S", map[string]string{"Grpc-Timeout": "2S"}, 1500 * time.Millisecond, 2 * time.Second, 200},
		{"capped at the maximum", map[string]string{"X-Request-Timeout": "5m"}, 29 * time.Second, 30 * time.Second, 200},
		{"Grpc-Timeout capped", map[string]string{"Grpc-Timeout": "99999999H"}, 29 * time.Second, 30 * time.Second, 200},
		{"malformed", map[string]string{"X-Request-Timeout": "soon"}, 0, 0, 400},
		{"malformed grpc", map[string]string{"Grpc-Timeout": "2x"}, 0, 0, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.f.catalog.count()
			resp := e.do("GET", "/v1/products", "", c.hdr)
			if resp.status != c.status {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			if c.status != 200 {
				if e.f.catalog.count() != before {
					t.Fatal("a refused request reached the upstream")
				}
				return
			}
			d := e.f.catalog.last(t).Deadline
			if d <= c.min || d > c.max {
				t.Fatalf("upstream deadline %s, want in (%s, %s]", d, c.min, c.max)
			}
		})
	}
	t.Run("upstream too slow", func(t *testing.T) {
		start := time.Now()
		resp := e.do("POST", "/v1/orders", createOrderBody, merge(aliceUser(t), map[string]string{"Idempotency-Key": "slow", "X-Request-Timeout": "300ms"}))
		if resp.status != http.StatusGatewayTimeout || resp.errorCode(t) != "DEADLINE_EXCEEDED" {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %s", d)
		}
	})
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	f := startFakes(t, testSigner(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	down := *f
	down.upstreams.Orders = closed
	e := newEnv(t, withFakes(&down))
	resp := e.do("GET", "/v1/orders", "", aliceUser(t))
	if resp.status != http.StatusServiceUnavailable || resp.errorCode(t) != "UNAVAILABLE" {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	if strings.Contains(string(resp.body), closed) || strings.Contains(string(resp.body), "dial") {
		t.Fatalf("body leaks transport details: %s", resp.body)
	}
	// readiness names the failing upstream; the other routes still work.
	ready := e.do("GET", "/readyz", "", nil)
	if ready.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d: %s", ready.status, ready.body)
	}
	checks, _ := ready.json(t)["checks"].(map[string]any)
	if checks["orders"] != "unavailable" || checks["catalog"] != "ok" || checks["pricing"] != "ok" || checks["webhooks"] != "ok" {
		t.Fatalf("checks %v", checks)
	}
	if p := e.do("GET", "/v1/products", "", nil); p.status != 200 {
		t.Fatalf("products %d", p.status)
	}
	if got := counterValue(t, e, "printfleet_gateway_upstream_errors_total", map[string]string{"service": "orders", "code": "Unavailable"}); got < 1 {
		t.Fatalf("upstream error counter %v", got)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := e.do("GET", "/readyz", "", nil)
		if resp.status == 200 {
			checks, _ := resp.json(t)["checks"].(map[string]any)
			if len(checks) != 4 {
				t.Fatalf("checks %v", checks)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz %d: %s", resp.status, resp.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp := e.do("GET", "/healthz", "", nil); resp.status != 200 || resp.json(t)["status"] != "ok" {
		t.Fatalf("healthz %d %s", resp.status, resp.body)
	}
	// The admin listener's readiness holds the blocking checks: the
	// webhooks service is reported on /readyz but never blocks it.
	if len(e.gw.Checks()) != 3 {
		t.Fatalf("admin checks %v", e.gw.Checks())
	}
	for name, c := range e.gw.Checks() {
		if err := c(context.Background()); err != nil {
			t.Fatalf("check %s: %v", name, err)
		}
	}
}

func TestSecurityHeadersAndCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []string{"/v1/products", "/nope", "/docs/"} {
		resp := e.do("GET", p, "", nil)
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if got := resp.header.Get(k); got != want {
				t.Errorf("%s: %s = %q", p, k, got)
			}
		}
		csp := resp.header.Get("Content-Security-Policy")
		if p == "/docs/" {
			if !strings.Contains(csp, "script-src 'self' 'sha256-") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("docs CSP %q", csp)
			}
		} else if !strings.HasPrefix(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
	preflight := func(origin string) http.Header {
		req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/v1/orders", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,idempotency-key")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	if h := preflight("https://shop.example"); h.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "idempotency-key") {
		t.Errorf("allowed origin preflight: %v", h)
	}
	if h := preflight("https://evil.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin allowed: %v", h)
	}
	resp := e.do("GET", "/v1/products", "", map[string]string{"Origin": "https://shop.example"})
	if resp.header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(resp.header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("simple CORS response: %v", resp.header)
	}
}

func TestAccessLogAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := mint(t, "bob", []string{"user"})
	resp := e.do("GET", "/v1/orders/"+aliceOrder, "", merge(bearer(tok), map[string]string{"X-Request-Id": "log-check-1"}))
	if resp.status != 404 {
		t.Fatalf("status %d", resp.status)
	}
	e.do("POST", "/v1/quotes", `{"items":[{"variant_id":"`+variantID+`","quantity":1}],"country_code":"US","currency":"USD","coupon_code":"BODYSECRET"}`, nil)
	logs := e.logs.String()
	var line map[string]any
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"log-check-1"`) && strings.Contains(l, `"http request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no access log line for the request in:\n%s", logs)
	}
	for k, want := range map[string]any{"route": "/v1/orders/{order_id}", "status": float64(404), "principal": "bob", "method": "GET", "request_id": "log-check-1"} {
		if line[k] != want {
			t.Errorf("log %s = %v, want %v", k, line[k], want)
		}
	}
	if _, ok := line["trace_id"]; !ok {
		t.Errorf("no trace_id in %v", line)
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Errorf("no duration in %v", line)
	}
	for _, secret := range []string{tok, "BODYSECRET", aliceOrder} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if v := counterValue(t, e, "printfleet_gateway_http_requests_total", map[string]string{"route": "/v1/orders/{order_id}", "method": "GET", "code": "4xx"}); v != 1 {
		t.Errorf("requests_total = %v", v)
	}
	if v := counterValue(t, e, "printfleet_gateway_upstream_errors_total", map[string]string{"service": "orders", "code": "NotFound"}); v != 1 {
		t.Errorf("upstream_errors_total = %v", v)
	}
	if v := counterValue(t, e, "printfleet_gateway_ratelimit_decisions_total", map[string]string{"class": "write", "source": "local", "decision": "allowed"}); v != 1 {
		t.Errorf("ratelimit_decisions_total = %v", v)
	}
	// No label anywhere carries a raw path or an id.
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), "0190a000") {
					t.Errorf("%s has a raw id in label %s=%s", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

// counterValue sums the counter samples of name whose labels include want.
func counterValue(t testing.TB, e *env, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m, want) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}
