package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/console"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
)

// withConsole mounts the console over the env's upstream connections (ops
// is not configured).
func withConsole(t *testing.T) envOption {
	return withOptions(func(o *gateway.Options) {
		c, err := console.New(t.Context(), console.Options{
			Config:   console.Config{Key: "gateway-test-console-key-0123456789abcdef"},
			Log:      o.Log,
			Verifier: o.Verifier,
			Orders:   ordersv1.NewOrderServiceClient(o.Conns.Orders),
			Catalog:  catalogv1.NewCatalogServiceClient(o.Conns.Catalog),
			Webhooks: webhooksv1.NewWebhookServiceClient(o.Conns.Webhooks),
			Ops:      console.Unavailable{},
		})
		if err != nil {
			t.Fatal(err)
		}
		o.Console = c
	})
}

// TestConsoleMounted: the gateway serves the console at /console with the
// console's own policy, outside the REST policy table; its upstream calls
// carry the operator's principal signed like every REST call's; the REST
// API around it is unchanged.
func TestConsoleMounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConsole(t))
	admin := bearer(mint(t, "root", []string{principal.RoleAdmin}))

	r := e.do("GET", "/console/", "", nil)
	if r.status != http.StatusForbidden || !strings.HasPrefix(r.header.Get("Content-Security-Policy"), "default-src 'none'; script-src 'self'") {
		t.Errorf("anonymous /console/: %d CSP %q", r.status, r.header.Get("Content-Security-Policy"))
	}
	if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get(edge.RequestIDHeader) == "" {
		t.Errorf("the console lacks the edge headers: %v", r.header)
	}
	if r := e.do("GET", "/console/", "", bearer(mint(t, "alice", []string{principal.RoleUser}))); r.status != http.StatusForbidden {
		t.Errorf("a user's /console/: %d", r.status)
	}

	before := e.f.orders.count()
	r = e.do("GET", "/console/orders/"+aliceOrder, "", admin)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), aliceOrder) {
		t.Fatalf("admin order page: %d %s", r.status, r.body)
	}
	if e.f.orders.count() == before {
		t.Fatal("the order page did not call orders")
	}
	if c := e.f.orders.last(t); c.Principal.Subject != "root" || !c.Principal.IsAdmin() || len(c.MD.Get(principal.MDSig)) == 0 {
		t.Errorf("orders saw %+v (signed: %v), want the operator, signed", c.Principal, len(c.MD.Get(principal.MDSig)) > 0)
	}
	// The dead-letter pages say ops is unavailable rather than failing.
	if r := e.do("GET", "/console/dead-letters", "", admin); r.status != http.StatusOK || !strings.Contains(string(r.body), "unavailable") {
		t.Errorf("dead letters without ops: %d", r.status)
	}
	// Metrics label console requests by their route pattern.
	if n := gatewayRequests(t, e, "/console/orders/{order_id}"); n != 1 {
		t.Errorf("console order page requests counted %v, want 1", n)
	}

	// Around it, the REST API is as before.
	if r := e.do("GET", "/v1/orders/"+aliceOrder, "", aliceUser(t)); r.status != http.StatusOK || r.header.Get("Content-Security-Policy") != edge.CSPAPI {
		t.Errorf("REST next to the console: %d CSP %q", r.status, r.header.Get("Content-Security-Policy"))
	}
	// The console is no REST route: not in the API description.
	if doc := e.do("GET", "/openapi.json", "", nil); strings.Contains(string(doc.body), "/console") {
		t.Error("/openapi.json describes the console")
	}
	if r := e.do("GET", "/consolex", "", admin); r.status != http.StatusNotFound || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("/consolex: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

// TestConsoleAbsent: without a console, /console is an unknown REST path.
func TestConsoleAbsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.do("GET", "/console/", "", nil); r.status != http.StatusNotFound {
		t.Errorf("/console/ without a console: %d", r.status)
	}
}

// gatewayRequests is how many requests the gateway counted for route.
func gatewayRequests(t *testing.T, e *env, route string) float64 {
	t.Helper()
	fams, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range fams {
		if f.GetName() != "printfleet_gateway_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
