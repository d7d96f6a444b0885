package gateway

import (
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/printfleet/printfleet/platform/principal"
)

// TestLimitKeyBehindTrustedProxies pins whose address an anonymous caller is
// limited by: X-Forwarded-For is believed only from a trusted proxy, and
// then only its right-most hop that is not itself a trusted proxy (hops to
// the left of it are the client's to forge).
func TestLimitKeyBehindTrustedProxies(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	cases := []struct {
		name    string
		proxies []netip.Prefix
		peer    string
		xff     []string // header lines
		want    string
	}{
		{"no trusted proxies: forwarded header ignored", nil, "198.51.100.7:5000", []string{"203.0.113.9"}, "ip:198.51.100.7"},
		{"untrusted peer: forged header ignored", proxies, "198.51.100.7:5000", []string{"10.0.0.1"}, "ip:198.51.100.7"},
		{"trusted peer, one hop", proxies, "10.0.0.5:5000", []string{"203.0.113.9"}, "ip:203.0.113.9"},
		{"client-forged left hops ignored", proxies, "10.0.0.5:5000", []string{"1.1.1.1, 203.0.113.9, 10.0.0.7"}, "ip:203.0.113.9"},
		{"several header lines read as one list", proxies, "10.0.0.5:5000", []string{"1.1.1.1", "203.0.113.9"}, "ip:203.0.113.9"},
		{"trusted peer without the header", proxies, "10.0.0.5:5000", nil, "ip:10.0.0.5"},
		{"every hop trusted: the left-most", proxies, "10.0.0.5:5000", []string{"10.0.0.8, 10.0.0.7"}, "ip:10.0.0.8"},
		{"unparsable hop stops the walk", proxies, "10.0.0.5:5000", []string{"203.0.113.9, not-an-ip"}, "ip:10.0.0.5"},
		{"hop with a port is not an address", proxies, "10.0.0.5:5000", []string{"203.0.113.9:4711"}, "ip:10.0.0.5"},
		{"IPv4-mapped peer matches an IPv4 proxy range", proxies, "[::ffff:10.0.0.5]:5000", []string{"203.0.113.9"}, "ip:203.0.113.9"},
		{"IPv6 client limited by its /64", proxies, "[fd00::1]:5000", []string{"2001:db8:1:2:3:4:5:6"}, "ip6:2001:db8:1:2::/64"},
		{"IPv6 peer without proxies", nil, "[2001:db8::9]:5000", nil, "ip6:2001:db8::/64"},
		{"peer without a port", proxies, "10.0.0.5", []string{"203.0.113.9"}, "ip:203.0.113.9"},
		{"unparsable peer", proxies, "@", []string{"203.0.113.9"}, "ip:0.0.0.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g := &Gateway{o: Options{TrustedProxies: c.proxies, Log: slog.New(slog.DiscardHandler)}}
			r := httptest.NewRequest("GET", "/v1/products", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := g.limitKey(principal.Anonymous, nil, r); got != c.want {
				t.Fatalf("limit key %q, want %q", got, c.want)
			}
			// An authenticated caller is limited by subject, wherever it
			// comes from; a token that failed to verify is not a subject.
			alice := principal.Principal{Subject: "alice", Roles: []string{principal.RoleUser}}
			if got := g.limitKey(alice, nil, r); got != "sub:alice" {
				t.Fatalf("authenticated limit key %q", got)
			}
			if got := g.limitKey(alice, errors.New("bad token"), r); got != c.want {
				t.Fatalf("unverified limit key %q, want %q", got, c.want)
			}
		})
	}
}
