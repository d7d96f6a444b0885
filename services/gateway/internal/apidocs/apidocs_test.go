package apidocs

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/services/gateway/internal/policy"
)

// TestDocsCSPCoversInlineScripts: every inline script of the page is allowed
// by its hash and nothing else inline is.
func TestDocsCSPCoversInlineScripts(t *testing.T) {
	d, err := NewDocs("/docs", "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	d.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/docs/", nil))
	scripts := inlineScript.FindAllStringSubmatch(rec.Body.String(), -1)
	if len(scripts) == 0 {
		t.Fatal("no inline scripts found; the hash extraction is not being exercised")
	}
	for _, s := range scripts {
		sum := sha256.Sum256([]byte(s[1]))
		if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(d.CSP, h) {
			t.Errorf("CSP lacks %s", h)
		}
	}
	if strings.Contains(d.CSP, "'unsafe-inline' ") && strings.Contains(d.CSP, "script-src 'self' 'unsafe-inline'") {
		t.Error("scripts allowed inline wholesale")
	}
	// Assets come from the embedded bundle.
	rec = httptest.NewRecorder()
	d.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/docs/swagger-ui-bundle.js", nil))
	if rec.Code != 200 || rec.Body.Len() < 100_000 {
		t.Fatalf("bundle: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestDocumentRefusesUnknownRoute(t *testing.T) {
	routes := append([]policy.Route{}, policy.Routes...)
	routes = append(routes, policy.Route{Method: "DELETE", Template: "/v1/orders/{order_id}", Roles: []string{"admin"}})
	if _, err := Document(routes); err == nil {
		t.Fatal("a policy route without an operation in the generated document was accepted")
	}
	if _, err := Document(policy.Routes); err != nil {
		t.Fatal(err)
	}
}
