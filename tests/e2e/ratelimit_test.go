package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// rateLimitHeader parses `"class";r=N;t=S`.
var rateLimitHeader = regexp.MustCompile(`^"([a-z]+)";r=(\d+);t=(\d+)$`)

// TestRateLimit starts a second gateway, gateway-strict, with 20 requests a
// minute per principal and route class, next to the suite's lenient one, and
// hammers it: a principal gets its 20, then 429 with the JSON error,
// Retry-After and the RateLimit headers; other principals and the other class
// are untouched; anonymous callers are limited per client address, which
// neither X-Forwarded-For nor a bad token escapes; /healthz is never limited,
// the public /readyz is, like any read.
func TestRateLimit(t *testing.T) {
	e := need(t)
	const limit = 20
	// Admin 9211: the fleet's own processes hold 9200–9210.
	p := e.layout.Gateway("gateway-strict", 8081, 9211, fmt.Sprintf("%d/1m", limit))
	// Its own key space, so that neither the suite's gateway nor an earlier
	// run shares its buckets.
	p.Env["PRINTFLEET_RATELIMIT_PREFIX"] = "e2e-strict-" + uuid.NewString()[:8] + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.fleet.Start(ctx, p, 60*time.Second); err != nil {
		t.Fatalf("start gateway-strict: %v", err)
	}
	stopped := false
	stop := func() {
		stopped = true
		if err := e.fleet.Kill("gateway-strict", syscall.SIGTERM, 20*time.Second); err != nil {
			t.Errorf("stop gateway-strict: %v", err)
		} else if code := e.fleet.ExitCode("gateway-strict"); code != 0 {
			t.Errorf("gateway-strict exited %d after SIGTERM (log %s)", code, e.fleet.LogPath("gateway-strict"))
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	strict := &client{base: fmt.Sprintf("http://127.0.0.1:%d", 8081+e.layout.Offset), http: &http.Client{Timeout: 30 * time.Second}}
	policy := func(class string) string { return fmt.Sprintf("%q;q=%d;w=60", class, limit) }

	// hammer sends n requests and checks every answer's headers; it returns
	// the statuses and the last 429.
	hammer := func(t *testing.T, n int, method, path, tok string, body any, class string, headers ...string) ([]int, response) {
		t.Helper()
		var codes []int
		var last429 response
		prevRemaining := limit + 1
		for i := 0; i < n; i++ {
			r := strict.do(t, method, path, tok, body, headers...)
			codes = append(codes, r.Status)
			if got := r.Header.Get("RateLimit-Policy"); got != policy(class) {
				t.Errorf("request %d (%d): RateLimit-Policy %q, want %q", i, r.Status, got, policy(class))
			}
			m := rateLimitHeader.FindStringSubmatch(r.Header.Get("RateLimit"))
			if m == nil || m[1] != class {
				t.Errorf("request %d (%d): RateLimit %q, want %q;r=…;t=…", i, r.Status, r.Header.Get("RateLimit"), class)
				continue
			}
			remaining, _ := strconv.Atoi(m[2])
			switch r.Status {
			case http.StatusOK:
				if remaining >= prevRemaining {
					t.Errorf("request %d: remaining %d did not decrease from %d", i, remaining, prevRemaining)
				}
				prevRemaining = remaining
			case http.StatusTooManyRequests:
				last429 = r
				if msg := checkErrorBody(r, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED"); msg != "" {
					t.Errorf("request %d: %s", i, msg)
				}
				ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
				if err != nil || ra < 1 || ra > 60 {
					t.Errorf("request %d: Retry-After %q, want 1..60 seconds", i, r.Header.Get("Retry-After"))
				}
				if remaining != 0 {
					t.Errorf("request %d: 429 with remaining %d", i, remaining)
				}
			default:
				t.Errorf("request %d: %d %s", i, r.Status, secClip(r.Body, 300))
			}
		}
		return codes, last429
	}
	// admitted checks the shape: the first `limit` (one more if a slot
	// refilled meanwhile) pass, the rest are refused.
	admitted := func(t *testing.T, who string, codes []int) {
		t.Helper()
		ok := 0
		for _, c := range codes {
			if c == http.StatusOK {
				ok++
			}
		}
		if ok < limit || ok > limit+1 || codes[len(codes)-1] != http.StatusTooManyRequests || codes[0] != http.StatusOK {
			t.Fatalf("%s: %d of %d admitted with %d/1m, want %d then 429s: %v", who, ok, len(codes), limit, limit, codes)
		}
		for i := ok + 1; i < len(codes); i++ {
			if codes[i] == http.StatusOK {
				t.Fatalf("%s: admitted again at request %d after being limited: %v", who, i, codes)
			}
		}
	}

	alice := secToken(t, newSubject("rl-alice"), "user", time.Hour)
	bob := secToken(t, newSubject("rl-bob"), "user", time.Hour)
	var retryAfter int
	t.Run("per principal", func(t *testing.T) {
		codes, last := hammer(t, limit+10, "GET", "/v1/orders?page_size=1", alice, nil, "default")
		admitted(t, "alice on GET /v1/orders", codes)
		retryAfter, _ = strconv.Atoi(last.Header.Get("Retry-After"))
		var eb secErrorBody
		_ = json.Unmarshal(last.Body, &eb)
		if !strings.Contains(eb.Error.Message, "rate limit") {
			t.Errorf("429 message %q does not say what happened", eb.Error.Message)
		}
		// Another principal has its own bucket; alice's write class is
		// separate from her reads.
		if r := strict.do(t, "GET", "/v1/orders?page_size=1", bob, nil); r.Status != http.StatusOK {
			t.Errorf("bob limited by alice's traffic: %d %s", r.Status, r.Body)
		}
		quote := map[string]any{"items": []any{map[string]any{"variant_id": mustSticker(t, e), "quantity": 1}}, "country_code": "US", "currency": "USD"}
		if r := strict.do(t, "POST", "/v1/quotes", alice, quote); r.Status != http.StatusOK || r.Header.Get("RateLimit-Policy") != policy("write") {
			t.Errorf("alice's first write after her reads were limited: %d %q %s", r.Status, r.Header.Get("RateLimit-Policy"), secClip(r.Body, 300))
		}
	})
	t.Run("Retry-After is honoured", func(t *testing.T) {
		if retryAfter < 1 {
			t.Skip("no Retry-After from the previous step")
		}
		time.Sleep(time.Duration(retryAfter)*time.Second + 300*time.Millisecond)
		if r := strict.do(t, "GET", "/v1/orders?page_size=1", alice, nil); r.Status != http.StatusOK {
			t.Errorf("after waiting Retry-After (%ds) alice is still refused: %d %s", retryAfter, r.Status, r.Body)
		}
		if r := strict.do(t, "GET", "/v1/orders?page_size=1", alice, nil); r.Status != http.StatusTooManyRequests {
			t.Errorf("one request per Retry-After, but the next one got %d", r.Status)
		}
	})
	t.Run("anonymous per address", func(t *testing.T) {
		codes, _ := hammer(t, limit+8, "GET", "/v1/products?page_size=1", "", nil, "default")
		admitted(t, "anonymous on GET /v1/products", codes)
		// A forged X-Forwarded-For is not believed (no trusted proxies).
		if r := strict.do(t, "GET", "/v1/products?page_size=1", "", nil, "X-Forwarded-For", "203.0.113.7"); r.Status != http.StatusTooManyRequests {
			t.Errorf("X-Forwarded-For escaped the per-address limit: %d", r.Status)
		}
		// A bad token counts against the address too.
		bad := mintJWTBad(t)
		if r := strict.do(t, "GET", "/v1/products?page_size=1", bad, nil); r.Status != http.StatusTooManyRequests {
			t.Errorf("a bad token escaped the per-address limit: %d %s", r.Status, secClip(r.Body, 300))
		}
		// A signed-in caller on the same route is limited on its own.
		if r := strict.do(t, "GET", "/v1/products?page_size=1", bob, nil); r.Status != http.StatusOK {
			t.Errorf("bob limited by the anonymous traffic of his address: %d", r.Status)
		}
	})
	t.Run("liveness is not limited, public readiness is", func(t *testing.T) {
		for i := 0; i < limit+5; i++ {
			if r := strict.do(t, "GET", "/healthz", "", nil); r.Status != http.StatusOK {
				t.Fatalf("/healthz #%d: %d %s", i, r.Status, r.Body)
			}
		}
		// The public /readyz calls every upstream: it spends the address's
		// read budget, which the anonymous requests above used up. (The
		// platform's probes use the admin port, never limited.)
		if r := strict.do(t, "GET", "/readyz", "", nil); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Errorf("/readyz over the address's limit: %d %s", r.Status, secClip(r.Body, 300))
		}
	})
	// The suite's own gateway shares Redis but not the buckets.
	e.api.must(t, http.StatusOK, "GET", "/v1/products?page_size=1", "", nil)
	stop()
}

// mintJWTBad is a token signed with a secret the gateway does not know.
func mintJWTBad(t *testing.T) string {
	t.Helper()
	return mintJWTWith(t, []byte("not-the-gateway-secret-0123456789abcdef"), devClaims(newSubject("rl-bad"), "user"))
}
