package gateway_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
	"github.com/printfleet/printfleet/services/gateway/internal/ratelimit"
)

const (
	webhookStore = "0190a000-0000-7000-8000-0000000000a1"
	webhookSig   = "c2lnbmF0dXJlLW5ldmVyLWxvZ2dlZC0wMTIzNDU2Nzg5YWJjZA=="
)

func webhookPath(store string) string {
	return "/v1/marketplaces/shopify/stores/" + store + "/webhooks"
}

// webhookBody is an order payload with bytes a re-encoding would change
// (spacing, key order, escapes, non-ASCII): the catalog must get it as sent.
var webhookBody = []byte("{\"id\": 820982911946154508,  \"email\":\"jon@example.com\",\n\"note\":\"caf\u00e9 \\u00e9 <b>\",\"line_items\":[{\"sku\":\"TEE-M\" ,\"quantity\":1}],\"z\":1,\"a\":2}")

func webhookHeaders(sig string) map[string]string {
	h := map[string]string{
		"X-Shopify-Webhook-Id":   "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
		"X-Shopify-Topic":        "orders/create",
		"X-Shopify-Triggered-At": "2026-12-03T11:00:27.877041743Z",
		"X-Shopify-Shop-Domain":  "alice-shop.myshopify.com",
	}
	if sig != "" {
		h["X-Shopify-Hmac-Sha256"] = sig
	}
	return h
}

// postRaw sends body as is; chunked hides its length from the gateway.
func (e *env) postRaw(path string, body []byte, chunked bool, hdr map[string]string) response {
	e.t.Helper()
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = struct{ io.Reader }{rd}
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// noSecretsLogged fails when the gateway's log holds the body or the
// signature.
func noSecretsLogged(t *testing.T, e *env) {
	t.Helper()
	logs := e.logs.String()
	for _, secret := range []string{webhookSig, "jon@example.com", "820982911946154508", "TEE-M", "line_items"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, logs)
		}
	}
}

// The delivery reaches the catalog byte for byte with Shopify's headers, as
// the gateway's own principal with the request id and a deadline; a bearer
// token, even a bad one, is ignored; the answer is 200 {}.
func TestShopifyWebhookForwarded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hdr := merge(webhookHeaders(webhookSig), bearer("not.a.valid-token"), map[string]string{"X-Request-Id": "shopify-delivery-1"})
	resp := e.postRaw(webhookPath(webhookStore), webhookBody, false, hdr)
	if resp.status != http.StatusOK || string(resp.body) != "{}" || resp.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %q %q", resp.status, resp.header.Get("Content-Type"), resp.body)
	}
	if resp.header.Get("X-Request-Id") != "shopify-delivery-1" {
		t.Fatalf("request id %q", resp.header.Get("X-Request-Id"))
	}
	if resp.header.Get("WWW-Authenticate") != "" {
		t.Fatal("a challenge on a route without tokens")
	}
	got := e.f.catalog.lastWebhook(t)
	if !bytes.Equal(got.GetBody(), webhookBody) {
		t.Fatalf("body changed on the way:\n%q\n%q", got.GetBody(), webhookBody)
	}
	if got.GetStoreId() != webhookStore || got.GetMarketplace() != catalogv1.Marketplace_MARKETPLACE_SHOPIFY ||
		got.GetSignature() != webhookSig || got.GetWebhookId() != "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043" ||
		got.GetTopic() != "orders/create" {
		t.Fatalf("request %v", got)
	}
	if want := time.Date(2026, 12, 3, 11, 0, 27, 877041743, time.UTC); !got.GetTriggeredAt().AsTime().Equal(want) {
		t.Fatalf("triggered_at %v", got.GetTriggeredAt().AsTime())
	}
	c := e.f.catalog.last(t)
	if c.Method != "ReceiveMarketplaceWebhook" {
		t.Fatalf("method %s", c.Method)
	}
	if c.Principal.Subject != principal.SubjectGateway || !slices.Equal(c.Principal.Roles, []string{principal.RoleService}) {
		t.Fatalf("principal %+v", c.Principal)
	}
	if v := c.MD.Get(principal.MDRequest); len(v) != 1 || v[0] != "shopify-delivery-1" {
		t.Fatalf("request id metadata %v", v)
	}
	if c.Deadline <= 0 || c.Deadline > 10*time.Second {
		t.Fatalf("deadline %v, want the default deadline", c.Deadline)
	}
	if len(c.MD.Get("authorization")) != 0 {
		t.Fatal("the Authorization header travelled upstream")
	}

	// A repeat is 200 too (the catalog reports the duplicate).
	if resp := e.postRaw(webhookPath(webhookStore), webhookBody, true, hdr); resp.status != http.StatusOK {
		t.Fatalf("repeat: %d %s", resp.status, resp.body)
	}
	// Without Triggered-At the field stays empty.
	h := webhookHeaders(webhookSig)
	delete(h, "X-Shopify-Triggered-At")
	if resp := e.postRaw(webhookPath(webhookStore), webhookBody, false, h); resp.status != http.StatusOK || e.f.catalog.lastWebhook(t).GetTriggeredAt() != nil {
		t.Fatalf("without triggered_at: %d %s", resp.status, resp.body)
	}

	logs := e.logs.String()
	for _, want := range []string{`"store_id":"` + webhookStore + `"`, `"topic":"orders/create"`,
		`"webhook_id":"b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"`, `"outcome":"accepted"`, `"outcome":"duplicate"`,
		`"route":"/v1/marketplaces/shopify/stores/{store_id}/webhooks"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s:\n%s", want, logs)
		}
	}
	noSecretsLogged(t, e)
}

// Refusals: no signature (the catalog is not called), the catalog's
// UNAUTHENTICATED (one fixed message, whatever the catalog says), a store id
// that is not a UUID, a body over 1 MiB declared or chunked (also when the
// gateway-wide limit is larger), and the catalog's other answers.
func TestShopifyWebhookRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withOptions(func(o *gateway.Options) { o.MaxBodyBytes = 4 << 20 }))
	type tc struct {
		name     string
		store    string
		body     []byte
		chunked  bool
		hdr      map[string]string
		upstream error // the catalog's answer
		status   int
		code     string
		message  string
		calls    int // catalog calls expected (-1: at least one; UNAVAILABLE is retried by the client)
	}
	big := bytes.Repeat([]byte("a"), gateway.MaxWebhookBody+1)
	exact := bytes.Repeat([]byte(" "), gateway.MaxWebhookBody)
	for _, c := range []tc{
		{name: "missing signature", store: webhookStore, body: webhookBody, hdr: webhookHeaders(""),
			status: 401, code: "UNAUTHENTICATED", message: gateway.WebhookUnauthenticatedMessage},
		{name: "missing signature with a valid token", store: webhookStore, body: webhookBody,
			hdr: merge(webhookHeaders(""), bearer(mint(t, "alice", []string{principal.RoleUser}))), status: 401, code: "UNAUTHENTICATED"},
		{name: "signature refused", store: webhookStore, body: webhookBody, hdr: webhookHeaders(webhookSig),
			upstream: errs.E(errs.Unauthenticated, "HMAC mismatch for store %s secret whsec_123", webhookStore),
			status:   401, code: "UNAUTHENTICATED", message: gateway.WebhookUnauthenticatedMessage, calls: 1},
		{name: "store id not a UUID", store: "alice-shop", body: webhookBody, hdr: webhookHeaders(webhookSig),
			status: 404, code: "NOT_FOUND"},
		{name: "store id one character short", store: webhookStore[:35], body: webhookBody, hdr: webhookHeaders(webhookSig),
			status: 404, code: "NOT_FOUND"},
		{name: "body over 1 MiB", store: webhookStore, body: big, hdr: webhookHeaders(webhookSig),
			status: 413, code: "INVALID_ARGUMENT", message: "request body larger than 1048576 bytes"},
		{name: "chunked body over 1 MiB", store: webhookStore, body: big, chunked: true, hdr: webhookHeaders(webhookSig),
			status: 413, code: "INVALID_ARGUMENT"},
		{name: "body of exactly 1 MiB", store: webhookStore, body: exact, chunked: true, hdr: webhookHeaders(webhookSig),
			status: 200, calls: 1},
		{name: "malformed", store: webhookStore, body: webhookBody, hdr: webhookHeaders(webhookSig),
			upstream: errs.Field("webhook_id", "required"), status: 400, code: "INVALID_ARGUMENT", calls: 1},
		{name: "catalog unavailable", store: webhookStore, body: webhookBody, hdr: webhookHeaders(webhookSig),
			upstream: errs.E(errs.Unavailable, "database is down"), status: 503, code: "UNAVAILABLE", message: "service unavailable, retry later", calls: -1},
		{name: "catalog internal error", store: webhookStore, body: webhookBody, hdr: webhookHeaders(webhookSig),
			upstream: errors.New(`pq: relation "webhook_secrets" does not exist`), status: 503, code: "UNAVAILABLE", message: "service unavailable, retry later", calls: 1},
		{name: "unexpected not found", store: webhookStore, body: webhookBody, hdr: webhookHeaders(webhookSig),
			upstream: errs.E(errs.NotFound, "store not found"), status: 503, code: "UNAVAILABLE", calls: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.f.catalog.failWebhooks(c.upstream)
			before := e.f.catalog.count()
			resp := e.postRaw(webhookPath(c.store), c.body, c.chunked, c.hdr)
			if resp.status != c.status {
				t.Fatalf("status %d, want %d: %s", resp.status, c.status, resp.body)
			}
			if n := e.f.catalog.count() - before; n != c.calls && (c.calls != -1 || n < 1) {
				t.Fatalf("%d catalog calls, want %d", n, c.calls)
			}
			if c.status == 200 {
				if got := e.f.catalog.lastWebhook(t).GetBody(); !bytes.Equal(got, c.body) {
					t.Fatalf("body of %d bytes forwarded as %d", len(c.body), len(got))
				}
				return
			}
			if code := resp.errorCode(t); code != c.code {
				t.Fatalf("code %q, want %q: %s", code, c.code, resp.body)
			}
			if c.message != "" {
				if msg := resp.json(t)["error"].(map[string]any)["message"]; msg != c.message {
					t.Fatalf("message %q, want %q", msg, c.message)
				}
			}
			if c.status == 503 && resp.header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
			if resp.json(t)["request_id"] == "" {
				t.Fatal("error without a request id")
			}
		})
	}
	e.f.catalog.failWebhooks(nil)
	if strings.Contains(e.logs.String(), "whsec_123") {
		t.Fatal("the catalog's refusal reason was logged")
	}
	noSecretsLogged(t, e)
	if !strings.Contains(e.logs.String(), `"outcome":"missing_signature"`) || !strings.Contains(e.logs.String(), `"outcome":"refused"`) {
		t.Fatalf("outcomes not logged:\n%s", e.logs.String())
	}
	if v := counterValue(t, e, "printfleet_gateway_marketplace_webhooks_total", map[string]string{"marketplace": "shopify", "outcome": "refused"}); v != 1 {
		t.Fatalf("refused counter %v", v)
	}
}

// A catalog that does not trust the gateway's principal (another internal
// secret) is the gateway's configuration fault: 503, so that Shopify delivers
// again once it is fixed, and an error in the log, not a 401.
func TestShopifyWebhookUntrustedGateway(t *testing.T) {
	t.Parallel()
	other, err := principal.NewSigner("another-internal-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withFakes(startFakes(t, other)))
	resp := e.postRaw(webhookPath(webhookStore), webhookBody, false, webhookHeaders(webhookSig))
	if resp.status != http.StatusServiceUnavailable || resp.errorCode(t) != "UNAVAILABLE" {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	if !strings.Contains(e.logs.String(), "PRINTFLEET_INTERNAL_SECRET") {
		t.Fatalf("no configuration error logged:\n%s", e.logs.String())
	}
	noSecretsLogged(t, e)
}

// Other methods on the route are 405 with Allow: POST.
func TestShopifyWebhookMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp := e.do("GET", webhookPath(webhookStore), "", nil)
	if resp.status != http.StatusMethodNotAllowed || resp.header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d Allow %q", resp.status, resp.header.Get("Allow"))
	}
	if e.f.catalog.count() != 0 {
		t.Fatal("the catalog was called")
	}
}

// The route counts against its own class ("webhook"), by client address: a
// bearer token does not give the caller another bucket, and the other
// classes are untouched.
func TestShopifyWebhookRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimiter(func(m *gateway.Metrics, log *slog.Logger) *ratelimit.Limiter {
		l, err := ratelimit.New(ratelimit.Options{Log: log, OnDecision: m.RateDecision, Rules: map[string]ratelimit.Rule{
			policy.ClassDefault: {Limit: 2, Period: time.Minute, Burst: 2},
			policy.ClassWrite:   {Limit: 2, Period: time.Minute, Burst: 2},
			policy.ClassWebhook: {Limit: 6, Period: time.Minute, Burst: 6},
		}})
		if err != nil {
			panic(err)
		}
		return l
	}))
	codes := map[int]int{}
	for i := range 8 {
		hdr := webhookHeaders(webhookSig)
		if i%2 == 1 {
			hdr = merge(hdr, aliceUser(t))
		}
		resp := e.postRaw(webhookPath(webhookStore), webhookBody, false, hdr)
		codes[resp.status]++
		if p := resp.header.Get("RateLimit-Policy"); p != `"webhook";q=6;w=60` {
			t.Fatalf("RateLimit-Policy %q", p)
		}
		if resp.status == http.StatusTooManyRequests && (resp.header.Get("Retry-After") == "" || resp.errorCode(t) != "RESOURCE_EXHAUSTED") {
			t.Fatalf("malformed 429: %s", resp.body)
		}
	}
	if codes[200] != 6 || codes[429] != 2 {
		t.Fatalf("statuses %v", codes)
	}
	if n := e.f.catalog.count(); n != 6 {
		t.Fatalf("%d deliveries reached the catalog, want 6", n)
	}
	// The anonymous read class of the same address is its own bucket.
	if s := e.do("GET", "/v1/products", "", nil).status; s != 200 {
		t.Fatalf("products %d", s)
	}
	if v := counterValue(t, e, "printfleet_gateway_ratelimit_decisions_total", map[string]string{"class": "webhook", "decision": "limited"}); v != 2 {
		t.Fatalf("limited webhook decisions %v", v)
	}
}
