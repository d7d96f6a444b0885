package gateway_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
)

const noProxiesWarning = "PRINTFLEET_TRUSTED_PROXIES is empty"

// Requests that arrive through a proxy (X-Forwarded-For) while no proxy is
// trusted make the gateway warn, once; direct requests do not.
func TestWarnsBehindAnUntrustedProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do("GET", "/v1/products", "", nil)
	if strings.Contains(e.logs.String(), noProxiesWarning) {
		t.Fatal("warned for a request without X-Forwarded-For")
	}
	for range 3 {
		e.do("GET", "/v1/products", "", map[string]string{"X-Forwarded-For": "203.0.113.7"})
	}
	if n := strings.Count(e.logs.String(), noProxiesWarning); n != 1 {
		t.Fatalf("warned %d times, want once:\n%s", n, e.logs.String())
	}
}

// With the proxy trusted there is nothing to warn about.
func TestNoWarningWithTrustedProxies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withOptions(func(o *gateway.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}))
	e.do("GET", "/v1/products", "", map[string]string{"X-Forwarded-For": "203.0.113.7"})
	if strings.Contains(e.logs.String(), noProxiesWarning) {
		t.Fatal("warned with a trusted proxy configured")
	}
}
