package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// restTable is the path column of DESIGN.md's REST surface, written out here
// independently of the policy table.
var restTable = map[string][]string{
	"/v1/orders":                                                   {"post", "get"},
	"/v1/orders/{order_id}":                                        {"get"},
	"/v1/orders/{order_id}:cancel":                                 {"post"},
	"/v1/orders/{order_id}/events":                                 {"get"},
	"/v1/orders/{order_id}/shipments":                              {"post"},
	"/v1/orders/{order_id}:retry-import":                           {"post"},
	"/v1/stores/{store_id}/listings":                               {"post", "get"},
	"/v1/stores/{store_id}/listings/{listing_id}":                  {"get", "put", "delete"},
	"/v1/marketplaces/shopify/stores/{store_id}/webhooks":          {"post"},
	"/v1/carrier-updates":                                          {"post"},
	"/v1/products":                                                 {"get", "post"},
	"/v1/products/{product_id}":                                    {"get", "patch"},
	"/v1/designs":                                                  {"post"},
	"/v1/designs/{design_id}:process":                              {"post"},
	"/v1/designs/{design_id}":                                      {"get"},
	"/v1/quotes":                                                   {"post"},
	"/v1/stores":                                                   {"post", "get"},
	"/v1/webhooks":                                                 {"post", "get"},
	"/v1/webhooks/{webhook_id}":                                    {"get", "delete"},
	"/v1/webhooks/{webhook_id}:rotate-secret":                      {"post"},
	"/v1/webhooks/{webhook_id}:enable":                             {"post"},
	"/v1/webhooks/{webhook_id}/deliveries":                         {"get"},
	"/v1/webhooks/{webhook_id}/deliveries/{delivery_id}:redeliver": {"post"},
	"/healthz":      {"get"},
	"/readyz":       {"get"},
	"/openapi.json": {"get"},
	"/docs":         {"get"},
}

var publicOps = map[string]bool{
	"get /v1/products": true, "get /v1/products/{product_id}": true, "post /v1/quotes": true,
	"get /healthz": true, "get /readyz": true, "get /openapi.json": true, "get /docs": true,
	"post /v1/marketplaces/shopify/stores/{store_id}/webhooks": true,
	"post /v1/carrier-updates":                                 true,
}

func TestOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp := e.do("GET", "/openapi.json", "", nil)
	if resp.status != 200 || resp.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %q", resp.status, resp.header.Get("Content-Type"))
	}
	var doc struct {
		Swagger             string                               `json:"swagger"`
		Info                map[string]any                       `json:"info"`
		SecurityDefinitions map[string]map[string]any            `json:"securityDefinitions"`
		Paths               map[string]map[string]map[string]any `json:"paths"`
		Definitions         map[string]any                       `json:"definitions"`
	}
	if err := json.Unmarshal(resp.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" || doc.Info["title"] != "printfleet API" {
		t.Fatalf("header: %s %v", doc.Swagger, doc.Info)
	}
	if b := doc.SecurityDefinitions["bearer"]; b["type"] != "apiKey" || b["in"] != "header" || b["name"] != "Authorization" {
		t.Fatalf("securityDefinitions %v", doc.SecurityDefinitions)
	}
	if doc.Definitions["gatewayError"] == nil || doc.Definitions["v1Order"] == nil {
		t.Fatal("definitions lack gatewayError or the generated messages")
	}
	for path, methods := range restTable {
		for _, m := range methods {
			op := doc.Paths[path][m]
			if op == nil {
				t.Errorf("no %s %s in /openapi.json", m, path)
				continue
			}
			sec, _ := op["security"].([]any)
			if publicOps[m+" "+path] {
				if len(sec) != 0 {
					t.Errorf("%s %s: public, but security %v", m, path, sec)
				}
			} else {
				if len(sec) != 1 || !strings.Contains(mustJSON(sec), `"bearer"`) {
					t.Errorf("%s %s: security %v", m, path, sec)
				}
				rs, _ := op["responses"].(map[string]any)
				if rs["401"] == nil || rs["403"] == nil {
					t.Errorf("%s %s: no 401/403 responses", m, path)
				}
			}
		}
	}
	ops := 0
	for _, item := range doc.Paths {
		ops += len(item)
	}
	if ops != 60 {
		t.Errorf("%d operations, want 60 (54 API + 4 edge + 1 webhook + 1 carrier updates)", ops)
	}
	params, _ := doc.Paths["/v1/orders"]["post"]["parameters"].([]any)
	found := false
	for _, p := range params {
		pm, _ := p.(map[string]any)
		if pm["name"] == "Idempotency-Key" && pm["in"] == "header" && pm["required"] == true {
			found = true
		}
	}
	if !found {
		t.Fatalf("POST /v1/orders lacks the Idempotency-Key header parameter: %v", params)
	}
	if rs, _ := doc.Paths["/v1/orders"]["post"]["responses"].(map[string]any); rs["422"] == nil || rs["409"] == nil {
		t.Fatal("POST /v1/orders lacks 409/422 responses")
	}
	if rs, _ := doc.Paths["/v1/orders/{order_id}:retry-import"]["post"]["responses"].(map[string]any); rs["400"] == nil || rs["404"] == nil {
		t.Fatal("POST /v1/orders/{order_id}:retry-import lacks 404/400 responses")
	}
	hook := doc.Paths["/v1/marketplaces/shopify/stores/{store_id}/webhooks"]["post"]
	rs, _ := hook["responses"].(map[string]any)
	for _, code := range []string{"200", "401", "413", "429", "503"} {
		if rs[code] == nil {
			t.Errorf("the webhook route lacks the %s answer", code)
		}
	}
	if rs["403"] != nil {
		t.Error("the webhook route claims a 403")
	}
	headers := map[string]bool{}
	hookParams, _ := hook["parameters"].([]any)
	for _, p := range hookParams {
		pm, _ := p.(map[string]any)
		if pm["in"] == "header" {
			headers[pm["name"].(string)] = pm["required"] == true
		}
	}
	if !headers["X-Shopify-Hmac-Sha256"] || !headers["X-Shopify-Webhook-Id"] || !headers["X-Shopify-Topic"] || headers["X-Shopify-Triggered-At"] {
		t.Errorf("webhook headers %v", headers)
	}
	// The served document is what Gateway.OpenAPI reports.
	if !bytes.Equal(resp.body, e.gw.OpenAPI()) {
		t.Fatal("served document differs")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (apt-get install -y chromium)")
	return ""
}

func chromium(t *testing.T, bin string, args ...string) ([]byte, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, tailOf(stderr.String(), 3000))
	}
	return stdout.Bytes(), stderr.Bytes()
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestDocsInChromium loads /docs in headless Chromium: Swagger UI must render
// every operation of the REST table (from /openapi.json, under the page's
// CSP), and a screenshot is kept in the test's artifact directory.
func TestDocsInChromium(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnv(t)
	url := e.srv.URL + "/docs/"
	dom, stderr := chromium(t, bin, "--virtual-time-budget=30000", "--dump-dom", url)
	for path, methods := range restTable {
		if slices.Contains([]string{"/healthz", "/readyz", "/openapi.json", "/docs"}, path) {
			continue
		}
		if !bytes.Contains(dom, []byte(`data-path="`+path+`"`)) {
			t.Errorf("operation %v %s not rendered", methods, path)
		}
	}
	if !bytes.Contains(dom, []byte("printfleet API")) {
		t.Error("title not rendered")
	}
	if bytes.Contains(stderr, []byte("Content Security Policy")) {
		t.Errorf("CSP violations:\n%s", grepLines(string(stderr), "Content Security Policy"))
	}
	if t.Failed() {
		t.Logf("DOM (tail): %s", tailOf(string(dom), 2000))
	}

	dir := t.ArtifactDir()
	shot := filepath.Join(dir, "docs.png")
	chromium(t, bin, "--virtual-time-budget=30000", "--hide-scrollbars", "--window-size=1280,2200", "--screenshot="+shot, url)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 20_000 {
		t.Fatalf("screenshot is not a plausible PNG (%d bytes)", len(png))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
