package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// adminAddrs are the admin listeners of the fleet's processes, by name.
func adminAddrs(e *environment) map[string]string {
	out := map[string]string{}
	for _, p := range e.layout.Procs() {
		addr := p.Admin
		if addr == "" {
			addr = p.Env["PRINTFLEET_ADMIN_ADDR"]
		}
		if addr != "" {
			out[p.Name] = addr
		}
	}
	return out
}

func scrape(t *testing.T, addr string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s %v", addr, resp.Status, err)
	}
	return body
}

// sample is one exposition line: a metric name and its labels.
type sample struct {
	name   string
	labels map[string]string
}

// parseSamples reads the label sets of the text exposition format.
func parseSamples(body []byte) ([]sample, error) {
	var out []sample
	for n, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			return nil, fmt.Errorf("line %d: %q", n+1, line)
		}
		s.name = line[:i]
		if line[i] == '{' {
			rest := line[i+1:]
			for rest != "" && rest[0] != '}' {
				eq := strings.Index(rest, `="`)
				if eq < 0 {
					return nil, fmt.Errorf("line %d: bad labels in %q", n+1, line)
				}
				key := strings.TrimLeft(rest[:eq], ",")
				var val strings.Builder
				j := eq + 2
				for ; j < len(rest) && rest[j] != '"'; j++ {
					if rest[j] == '\\' && j+1 < len(rest) {
						j++
						switch rest[j] {
						case 'n':
							val.WriteByte('\n')
						default:
							val.WriteByte(rest[j])
						}
						continue
					}
					val.WriteByte(rest[j])
				}
				if j >= len(rest) {
					return nil, fmt.Errorf("line %d: unterminated label value in %q", n+1, line)
				}
				s.labels[key] = val.String()
				rest = strings.TrimLeft(rest[j+1:], ",")
			}
		}
		out = append(out, s)
	}
	return out, nil
}

var (
	uuidRe        = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	numberOrHexRe = regexp.MustCompile(`^(\d+|[0-9a-fA-F]{16,})$`)
	tokenRe       = regexp.MustCompile(`^[0-9A-Za-z_-]{20,}$`)
)

// idSegment reports whether a path segment looks like an id: a number, a
// long hex string, or a long token with digits in it (ULIDs, base-62 ids) —
// not a long method name.
func idSegment(seg string) bool {
	return numberOrHexRe.MatchString(seg) || tokenRe.MatchString(seg) && strings.ContainsAny(seg, "0123456789")
}

// badLabelValue says why v looks like a user id or a raw path, or "".
func badLabelValue(v string, secrets []string) string {
	if uuidRe.MatchString(v) {
		return "contains a UUID"
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(v, s) {
			return "contains the journey's id " + s
		}
	}
	if strings.HasPrefix(v, "/") {
		for _, seg := range strings.Split(strings.Trim(v, "/"), "/") {
			if idSegment(seg) {
				return "is a path with an id segment " + seg
			}
		}
		if strings.ContainsAny(v, "?#") {
			return "is a raw path with a query"
		}
	}
	return ""
}

// Every process's /metrics passes promtool's lint after the journey, and no
// label carries an id or a raw path (cardinality stays bounded).
func TestMetrics(t *testing.T) {
	e := need(t)
	j := tracedJourney(t)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed (apt-get install prometheus): the lint is skipped, the label scan still runs")
	}
	if promtool != "" {
		// The lint must be able to fail: a counter without _total or help.
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader("# TYPE pf_bad counter\npf_bad 1\n")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("promtool accepted a bad exposition: %s", out)
		}
	}
	addrs := adminAddrs(e)
	for _, name := range []string{"gateway", "orders", "orders-worker", "catalog", "catalog-worker", "pricing", "pricing-worker", "images", "marketplace", "webhooks", "ops", "sandbox"} {
		t.Run(name, func(t *testing.T) {
			addr, ok := addrs[name]
			if !ok {
				t.Fatalf("no admin address for %s", name)
			}
			body := scrape(t, addr)
			if promtool != "" {
				cmd := exec.Command(promtool, "check", "metrics")
				cmd.Stdin = bytes.NewReader(body)
				out, err := cmd.CombinedOutput()
				if err != nil || len(bytes.TrimSpace(out)) > 0 {
					t.Errorf("promtool check metrics on %s: %v\n%s", name, err, out)
				}
			}
			samples, err := parseSamples(body)
			if err != nil {
				t.Fatalf("%s exposition: %v", name, err)
			}
			if len(samples) == 0 {
				t.Fatalf("%s exposes no samples", name)
			}
			own, routes := 0, map[string]bool{}
			for _, s := range samples {
				if strings.HasPrefix(s.name, "printfleet_") {
					own++
				}
				if r, ok := s.labels["route"]; ok {
					routes[r] = true
				}
			}
			t.Logf("%s: %d samples, %d of printfleet_ metrics", name, len(samples), own)
			if own == 0 && name != "sandbox" {
				t.Errorf("%s exposes no printfleet_ metrics", name)
			}
			if name == "gateway" && !routes["/v1/orders/{order_id}"] {
				t.Errorf("the gateway's route label has no /v1/orders/{order_id} after the journey: %v", routes)
			}
			// Order transitions are counted where they commit: the
			// journey's create in the API, the steps after it in the
			// worker.
			if name == "orders" || name == "orders-worker" {
				var got []string
				for _, s := range samples {
					if s.name == "printfleet_orders_transitions_total" {
						got = append(got, s.labels["from"]+"->"+s.labels["to"])
					}
				}
				want := "NONE->PENDING"
				if name == "orders-worker" {
					want = "PENDING->CONFIRMED"
				}
				if !slices.Contains(got, want) {
					t.Errorf("%s counts transitions %v after the journey, want %s among them", name, got, want)
				}
			}
			seen := map[string]bool{}
			for _, s := range samples {
				for k, v := range s.labels {
					why := badLabelValue(v, []string{j.OrderID, j.Tracking, j.CreateRequestID, j.ShipRequestID, j.User})
					if why == "" || seen[s.name+k] {
						continue
					}
					seen[s.name+k] = true
					t.Errorf("%s: %s{%s=%q} %s", name, s.name, k, v, why)
				}
			}
		})
	}
}

func TestBadLabelValue(t *testing.T) {
	t.Parallel()
	for v, bad := range map[string]bool{
		"/v1/orders/{order_id}":             false,
		"printfleet.orders.v1.OrderService": false,
		eventsv1.KeyOrderPlaced:             false,
		"0.005":                             false,
		"+Inf":                              false,
		"/printfleet.pricing.v1.PricingService/SetPlacementSurcharges": false,
		"/v1/orders/0190c2a4-1f7b-7c3d-9a4e-2b1c3d4e5f60":              true,
		"/v1/products/12345":                              true,
		"/v1/designs/01HZY3K8V4Q2X7M9N6P5R3T1W0":          true,
		"alice-1234 0190c2a4-1f7b-7c3d-9a4e-2b1c3d4e5f60": true,
		"/v1/orders?page_size=5":                          true,
		"tracy-abc":                                       true,
	} {
		if got := badLabelValue(v, []string{"tracy-abc"}) != ""; got != bad {
			t.Errorf("badLabelValue(%q) flagged %v, want %v", v, got, bad)
		}
	}
}
