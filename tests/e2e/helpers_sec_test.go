package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// restRoute is one row of DESIGN.md "Public REST surface (v1)", written out
// here independently of the gateway's policy table so that the suite notices
// when either drifts.
type restRoute struct {
	Method string
	// Path is the template with {order_id}, {design_id} or {product_id}, or
	// {store_id} and {listing_id} (TestBOLAListings covers those; the Shopify
	// webhook route's store is authenticated by the signature instead), or
	// {webhook_id} and {delivery_id} (the webhooks service's own tests cover
	// another owner's subscription).
	Path string
	// Public routes need no token.
	Public bool
	// Roles lists the roles of which a caller needs one (nil for public).
	Roles []string
	// Owner routes hide other users' objects behind 404.
	Owner bool
	// Edge routes are served by the gateway itself.
	Edge bool
}

var (
	rolesUser        = []string{"user", "admin"}
	rolesAdmin       = []string{"admin"}
	rolesFulfillment = []string{"fulfillment", "admin"}
	// rolesUserOrFulfillment: the owner reads, and so do those who ship.
	rolesUserOrFulfillment = []string{"user", "fulfillment", "admin"}
)

var restTable = []restRoute{
	{Method: "POST", Path: "/v1/orders", Roles: rolesUser},
	{Method: "GET", Path: "/v1/orders/{order_id}", Roles: rolesUser, Owner: true},
	{Method: "GET", Path: "/v1/orders", Roles: rolesUser},
	{Method: "POST", Path: "/v1/orders/{order_id}:cancel", Roles: rolesUser, Owner: true},
	{Method: "POST", Path: "/v1/orders/{order_id}:retry-import", Roles: rolesUser, Owner: true},
	{Method: "GET", Path: "/v1/orders/{order_id}/events", Roles: rolesUser, Owner: true},
	{Method: "PATCH", Path: "/v1/orders/{order_id}", Roles: rolesUser, Owner: true},
	{Method: "POST", Path: "/v1/orders/{order_id}:confirm", Roles: rolesUser, Owner: true},
	{Method: "POST", Path: "/v1/orders/{order_id}/shipments", Roles: rolesFulfillment},
	{Method: "GET", Path: "/v1/orders/{order_id}/shipments", Roles: rolesUserOrFulfillment, Owner: true},
	{Method: "POST", Path: "/v1/orders/{order_id}/shipments/{shipment_id}:deliver", Roles: rolesFulfillment},
	{Method: "GET", Path: "/v1/products", Public: true},
	{Method: "GET", Path: "/v1/products/{product_id}", Public: true},
	{Method: "POST", Path: "/v1/products", Roles: rolesAdmin},
	{Method: "PATCH", Path: "/v1/products/{product_id}", Roles: rolesAdmin},
	{Method: "POST", Path: "/v1/designs", Roles: rolesUser},
	{Method: "POST", Path: "/v1/designs/{design_id}:process", Roles: rolesUser, Owner: true},
	{Method: "GET", Path: "/v1/designs/{design_id}", Roles: rolesUser, Owner: true},
	{Method: "POST", Path: "/v1/quotes", Public: true},
	{Method: "GET", Path: "/v1/price-lists", Roles: rolesAdmin},
	{Method: "GET", Path: "/v1/price-lists/{variant_id}", Roles: rolesAdmin},
	{Method: "PUT", Path: "/v1/price-lists", Roles: rolesAdmin},
	{Method: "POST", Path: "/v1/price-lists", Roles: rolesAdmin},
	{Method: "DELETE", Path: "/v1/price-lists/{variant_id}", Roles: rolesAdmin},
	{Method: "POST", Path: "/v1/coupons", Roles: rolesAdmin},
	{Method: "GET", Path: "/v1/coupons", Roles: rolesAdmin},
	{Method: "GET", Path: "/v1/coupons/{code}", Roles: rolesAdmin},
	{Method: "DELETE", Path: "/v1/coupons/{code}", Roles: rolesAdmin},
	{Method: "GET", Path: "/v1/fx-rates", Roles: rolesAdmin},
	{Method: "PUT", Path: "/v1/fx-rates", Roles: rolesAdmin},
	{Method: "POST", Path: "/v1/fx-rates", Roles: rolesAdmin},
	{Method: "GET", Path: "/v1/shipping-rates", Public: true},
	{Method: "PUT", Path: "/v1/shipping-rates", Roles: rolesAdmin},
	{Method: "POST", Path: "/v1/shipping-rates", Roles: rolesAdmin},
	{Method: "DELETE", Path: "/v1/shipping-rates/{method}", Roles: rolesAdmin},
	{Method: "GET", Path: "/v1/tax-rates", Public: true},
	{Method: "PUT", Path: "/v1/tax-rates", Roles: rolesAdmin},
	{Method: "POST", Path: "/v1/tax-rates", Roles: rolesAdmin},
	{Method: "DELETE", Path: "/v1/tax-rates/{country_code}", Roles: rolesAdmin},
	{Method: "POST", Path: "/v1/stores", Roles: rolesUser},
	{Method: "GET", Path: "/v1/stores", Roles: rolesUser},
	{Method: "POST", Path: "/v1/stores/{store_id}/listings", Roles: rolesUser, Owner: true},
	{Method: "GET", Path: "/v1/stores/{store_id}/listings", Roles: rolesUser, Owner: true},
	{Method: "GET", Path: "/v1/stores/{store_id}/listings/{listing_id}", Roles: rolesUser, Owner: true},
	{Method: "PUT", Path: "/v1/stores/{store_id}/listings/{listing_id}", Roles: rolesUser, Owner: true},
	{Method: "DELETE", Path: "/v1/stores/{store_id}/listings/{listing_id}", Roles: rolesUser, Owner: true},
	{Method: "POST", Path: "/v1/webhooks", Roles: rolesUser},
	{Method: "GET", Path: "/v1/webhooks", Roles: rolesUser},
	{Method: "GET", Path: "/v1/webhooks/{webhook_id}", Roles: rolesUser, Owner: true},
	{Method: "DELETE", Path: "/v1/webhooks/{webhook_id}", Roles: rolesUser, Owner: true},
	{Method: "POST", Path: "/v1/webhooks/{webhook_id}:rotate-secret", Roles: rolesUser, Owner: true},
	{Method: "POST", Path: "/v1/webhooks/{webhook_id}:enable", Roles: rolesUser, Owner: true},
	{Method: "GET", Path: "/v1/webhooks/{webhook_id}/deliveries", Roles: rolesUser, Owner: true},
	{Method: "POST", Path: "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}:redeliver", Roles: rolesUser, Owner: true},
	{Method: "GET", Path: "/healthz", Public: true, Edge: true},
	{Method: "GET", Path: "/readyz", Public: true, Edge: true},
	{Method: "GET", Path: "/openapi.json", Public: true, Edge: true},
	{Method: "GET", Path: "/docs", Public: true, Edge: true},
	// Shopify delivers a store's webhooks here: no token, the body's HMAC
	// signature authenticates it.
	{Method: "POST", Path: "/v1/marketplaces/shopify/stores/{store_id}/webhooks", Public: true, Edge: true},
	// Carriers post tracking updates here: no token, the body's HMAC
	// signature under the carrier secret authenticates it.
	{Method: "POST", Path: "/v1/carrier-updates", Public: true, Edge: true},
}

func (r restRoute) String() string { return r.Method + " " + r.Path }

// hasBody reports whether the route takes a JSON body.
func (r restRoute) hasBody() bool { return r.Method == "POST" || r.Method == "PATCH" }

// idParam is the path parameter the route takes ("" when none).
func (r restRoute) idParam() string {
	for _, p := range []string{"order_id", "design_id", "product_id"} {
		if strings.Contains(r.Path, "{"+p+"}") {
			return p
		}
	}
	return ""
}

// fill substitutes the path parameters; one ids does not name (a package's
// {shipment_id}, a rate's {method} or {country_code}) is an id nobody has.
func (r restRoute) fill(ids map[string]string) string {
	p := r.Path
	for k, v := range ids {
		p = strings.ReplaceAll(p, "{"+k+"}", v)
	}
	return pathParam.ReplaceAllStringFunc(p, func(string) string { return ghostID() })
}

var pathParam = regexp.MustCompile(`\{[a-z_]+\}`)

// ---- secrets every test may register; TestZZLogsHoldNoSecrets scans for them.

var secretRegistry = struct {
	sync.Mutex
	m map[string]string // value → label
}{m: map[string]string{}}

// rememberSecretAs registers a value that must never appear in a response
// or a log line, with a label that says what it is.
func rememberSecretAs(label, s string) {
	if len(s) < 8 { // too short to search for without false hits
		return
	}
	secretRegistry.Lock()
	defer secretRegistry.Unlock()
	if _, ok := secretRegistry.m[s]; !ok {
		secretRegistry.m[s] = label
	}
}

// rememberedSecrets returns the registry sorted by value.
func rememberedSecrets() []labelledSecret {
	secretRegistry.Lock()
	defer secretRegistry.Unlock()
	out := make([]labelledSecret, 0, len(secretRegistry.m))
	for v, l := range secretRegistry.m {
		out = append(out, labelledSecret{Label: l, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}

type labelledSecret struct{ Label, Value string }

// redactSecrets replaces every remembered secret in s by its label.
func redactSecrets(s string) string {
	for _, x := range rememberedSecrets() {
		s = strings.ReplaceAll(s, x.Value, "«"+x.Label+"»")
	}
	return s
}

// redact shows a secret's shape without the secret.
func redact(s string) string {
	if len(s) <= 6 {
		return "***"
	}
	return s[:4] + "…(" + fmt.Sprint(len(s)) + " bytes)"
}

// secToken mints a development token with the gateway's command and
// remembers it as a secret.
func secToken(t testing.TB, sub, roles string, ttl time.Duration) string {
	t.Helper()
	tok := token(t, sub, roles, ttl)
	rememberSecretAs("bearer token", tok)
	return tok
}

// newSubject is a unique user id for this run.
func newSubject(prefix string) string { return prefix + "-" + uuid.NewString()[:8] }

// mintJWT signs claims with method and key; the result is remembered.
func mintJWT(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s token: %v", method.Alg(), err)
	}
	rememberSecretAs("bearer token", tok)
	return tok
}

// devClaims are claims the e2e gateway accepts.
func devClaims(sub string, roles ...string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": "printfleet-dev", "aud": "printfleet", "sub": sub, "roles": roles,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// secErrorBody is the gateway's JSON error.
type secErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []any  `json:"details"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// checkError verifies status, the JSON error body and the request id; it
// returns a description of what is wrong ("" when all is well) so that
// callers can collect failures.
func checkErrorBody(r response, wantStatus int, wantCode string) string {
	var problems []string
	if r.Status != wantStatus {
		problems = append(problems, fmt.Sprintf("status %d, want %d", r.Status, wantStatus))
	}
	var eb secErrorBody
	if err := json.Unmarshal(r.Body, &eb); err != nil {
		problems = append(problems, "body is not the JSON error: "+err.Error())
	} else {
		if eb.Error.Code == "" || eb.Error.Message == "" {
			problems = append(problems, "error without code or message")
		}
		if wantCode != "" && eb.Error.Code != wantCode {
			problems = append(problems, fmt.Sprintf("code %q, want %q", eb.Error.Code, wantCode))
		}
		if eb.RequestID == "" {
			problems = append(problems, "no request_id in the body")
		}
	}
	rid := r.Header.Get("X-Request-Id")
	if rid == "" {
		problems = append(problems, "no X-Request-Id header")
	} else if eb.RequestID != "" && eb.RequestID != rid {
		problems = append(problems, fmt.Sprintf("X-Request-Id %q differs from request_id %q", rid, eb.RequestID))
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		problems = append(problems, fmt.Sprintf("Content-Type %q", r.Header.Get("Content-Type")))
	}
	if len(problems) == 0 {
		return ""
	}
	return strings.Join(problems, "; ") + fmt.Sprintf(" (saw %d %s)", r.Status, secClip(r.Body, 400))
}

// clip shortens a body for a failure message.
func secClip(b []byte, n int) string {
	b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	if len(b) > n {
		return string(b[:n]) + fmt.Sprintf("…(%d bytes)", len(b))
	}
	return string(b)
}

// createOrder posts an order with a fresh Idempotency-Key.
func secCreateOrder(t testing.TB, e *environment, tok string, body any) response {
	t.Helper()
	return e.api.do(t, http.MethodPost, "/v1/orders", tok, body, "Idempotency-Key", uuid.NewString())
}

// blankOrder is an order body for n blank items of variant.
func secBlankOrder(variant string, n int) map[string]any {
	return map[string]any{
		"items":            []any{map[string]any{"variant_id": variant, "quantity": n}},
		"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
	}
}

// sticker is the demo kiss-cut sticker (stock not tracked, so orders in these
// tests never compete with other tests for stock) and its front placement.
func sticker(t *testing.T, e *environment) (variant, front string) {
	t.Helper()
	return demoItem(t, e, "Kiss-Cut Sticker", "", "front")
}

// mintJWTWith signs claims with HS256 and key.
func mintJWTWith(t testing.TB, key []byte, claims jwt.MapClaims) string {
	t.Helper()
	return mintJWT(t, jwt.SigningMethodHS256, key, claims)
}

// ghostID is a well-formed id that names nothing.
func ghostID() string { return uuid.Must(uuid.NewV7()).String() }

// uploadedDesign creates a design and uploads its bytes without asking for
// processing.
func uploadedDesign(t *testing.T, e *environment, tok, filename, contentType string, data []byte) string {
	t.Helper()
	created := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/designs", tok, map[string]any{
		"filename": filename, "content_type": contentType, "size_bytes": len(data),
	})
	id := str(created, "design", "id")
	fields, _ := dig(created, "upload_headers").(map[string]any)
	if code := upload(t, str(created, "upload_method"), str(created, "upload_url"), fields, contentType, data); code >= 300 {
		t.Fatalf("upload through the presigned URL answered %d", code)
	}
	return id
}

// newStore connects a store with fresh, remembered credentials.
func newStore(t *testing.T, e *environment, tok, marketplace, shop, name string) (map[string]any, map[string]any) {
	t.Helper()
	creds := map[string]any{
		"api_key":       "sec-apikey-" + uuid.NewString() + ":sec-shared-" + uuid.NewString(), // Etsy's keystring:shared_secret
		"access_token":  "10001.sec-access-" + uuid.NewString(),
		"refresh_token": "sec-refresh-" + uuid.NewString(),
		"client_id":     "sec-client-" + uuid.NewString()[:8],
		"client_secret": "sec-clientsecret-" + uuid.NewString(),
	}
	for k, v := range creds {
		rememberSecretAs("store credential "+k, v.(string))
	}
	// Made-up credentials the marketplace stand-ins refuse: with order
	// import off the worker never polls the store with them.
	r := e.api.do(t, http.MethodPost, "/v1/stores", tok, map[string]any{
		"marketplace": marketplace, "shop_id": shop, "name": name, "credentials": creds, "order_import": "off",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create store %s/%s: %d %s", marketplace, shop, r.Status, secClip(r.Body, 500))
	}
	assertNoSecretIn(t, "POST /v1/stores response", r.Body)
	return r.JSON(t), creds
}

// assertNoSecretIn fails when body holds any remembered secret.
func assertNoSecretIn(t *testing.T, where string, body []byte) {
	t.Helper()
	for _, s := range rememberedSecrets() {
		if bytes.Contains(body, []byte(s.Value)) {
			t.Errorf("%s carries a %s (%s): %s", where, s.Label, redact(s.Value),
				strings.ReplaceAll(secClip(body, 600), s.Value, "«"+s.Label+"»"))
		}
	}
}

// secRawDo sends a request with full control over headers and body framing.
func secRawDo(t testing.TB, method, target string, header http.Header, body io.Reader) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

func mustSticker(t *testing.T, e *environment) string {
	v, _ := sticker(t, e)
	return v
}

func secJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
