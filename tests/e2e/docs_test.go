package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOpenAPIAndDocs fetches the API description and the docs page from the
// fleet's gateway: /openapi.json parses and describes exactly the REST table
// of DESIGN.md (every path and method, bearer security on the protected
// operations, nothing internal), and /docs is an HTML page; with Chromium
// installed, the rendered page lists every operation.
func TestOpenAPIAndDocs(t *testing.T) {
	e := need(t)
	r := e.api.do(t, "GET", "/openapi.json", "", nil)
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("/openapi.json: %d %q request id %q: %s", r.Status, r.Header.Get("Content-Type"), r.Header.Get("X-Request-Id"), secClip(r.Body, 300))
	}
	var doc struct {
		Swagger             string                               `json:"swagger"`
		OpenAPI             string                               `json:"openapi"`
		Info                map[string]any                       `json:"info"`
		SecurityDefinitions map[string]any                       `json:"securityDefinitions"`
		Paths               map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("/openapi.json does not parse: %v: %s", err, secClip(r.Body, 300))
	}
	if doc.Swagger == "" && doc.OpenAPI == "" {
		t.Errorf("neither swagger nor openapi version: %v", doc.Info)
	}
	want := map[string]bool{}
	for _, rt := range restTable {
		m := strings.ToLower(rt.Method)
		want[m+" "+rt.Path] = true
		op := doc.Paths[rt.Path][m]
		if op == nil {
			t.Errorf("/openapi.json lacks %s (has %s)", rt, methodsOf(doc.Paths[rt.Path]))
			continue
		}
		sec, _ := op["security"].([]any)
		secured := strings.Contains(strings.ToLower(secJSON(sec)), "bearer")
		switch {
		case rt.Public && len(sec) > 0:
			t.Errorf("%s is public but the description asks for %s", rt, secJSON(sec))
		case !rt.Public && !secured:
			t.Errorf("%s needs a token but its security is %s", rt, secJSON(sec))
		}
		if rs, _ := op["responses"].(map[string]any); len(rs) == 0 {
			t.Errorf("%s has no responses", rt)
		}
	}
	for path, item := range doc.Paths {
		for m := range item {
			if m == "parameters" {
				continue
			}
			if !want[m+" "+path] {
				t.Errorf("/openapi.json describes %s %s, which is not in the REST table", strings.ToUpper(m), path)
			}
		}
	}
	if len(doc.SecurityDefinitions) == 0 && !bytes.Contains(r.Body, []byte("securitySchemes")) {
		t.Error("no security definitions")
	}

	// The docs page.
	d := e.api.do(t, "GET", "/docs", "", nil)
	if d.Status != http.StatusOK || !strings.HasPrefix(d.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %q: %s", d.Status, d.Header.Get("Content-Type"), secClip(d.Body, 300))
	}
	low := strings.ToLower(string(d.Body))
	if !strings.Contains(low, "<html") || !strings.Contains(low, "swagger") {
		t.Errorf("/docs is not the Swagger UI page: %s", secClip(d.Body, 500))
	}
	if d.Header.Get("Content-Security-Policy") == "" || d.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("/docs without security headers: CSP %q, nosniff %q", d.Header.Get("Content-Security-Policy"), d.Header.Get("X-Content-Type-Options"))
	}

	bin := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Log("chromium not installed: the rendered page is not checked")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=30000", "--dump-dom", e.api.base+"/docs/")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, secClip(stderr.Bytes(), 2000))
	}
	dom := stdout.Bytes()
	missing := 0
	for _, rt := range restTable {
		if rt.Edge {
			continue
		}
		if !bytes.Contains(dom, []byte(`data-path="`+rt.Path+`"`)) {
			missing++
			t.Errorf("the rendered /docs does not list %s", rt)
		}
	}
	if missing > 0 {
		t.Logf("DOM (%d bytes, tail): %s", len(dom), secClip(dom[max(0, len(dom)-2000):], 2000))
	}
}

func methodsOf(item map[string]map[string]any) []string {
	var ms []string
	for m := range item {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	return ms
}
