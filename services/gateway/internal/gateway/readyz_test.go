package gateway_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
	"github.com/printfleet/printfleet/services/gateway/internal/ratelimit"
)

// pingCounter answers PING itself and counts it, so a test sees how often
// /readyz fans out.
type pingCounter struct{ n *atomic.Int64 }

func (pingCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h pingCounter) ProcessHook(goredis.ProcessHook) goredis.ProcessHook {
	return func(_ context.Context, cmd goredis.Cmder) error {
		if sc, ok := cmd.(*goredis.StatusCmd); ok && cmd.Name() == "ping" {
			h.n.Add(1)
			sc.SetVal("PONG")
			return nil
		}
		return context.Canceled
	}
}
func (pingCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// TestReadinessFanOutCached: a burst of public /readyz calls costs one round
// of checks per second, whoever asks.
func TestReadinessFanOutCached(t *testing.T) {
	t.Parallel()
	var pings atomic.Int64
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // never dialled: the hook answers
	rdb.AddHook(pingCounter{&pings})
	t.Cleanup(func() { _ = rdb.Close() })
	e := newEnv(t, withOptions(func(o *gateway.Options) { o.Redis = rdb }))

	const burst = 200
	var wg sync.WaitGroup
	var ok atomic.Int64
	start := time.Now()
	for range burst {
		wg.Go(func() {
			if r := e.do("GET", "/readyz", "", nil); r.status == http.StatusOK || r.status == http.StatusServiceUnavailable {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ok.Load() != burst {
		t.Fatalf("%d of %d readiness answers", ok.Load(), burst)
	}
	// The burst may straddle one expiry of the cached answer.
	if max := int64(elapsed/time.Second) + 1; pings.Load() < 1 || pings.Load() > max {
		t.Fatalf("%d check rounds for %d requests in %s, want at most %d", pings.Load(), burst, elapsed, max)
	}
	t.Logf("%d /readyz requests in %s ran the checks %d time(s)", burst, elapsed.Round(time.Millisecond), pings.Load())
	before := pings.Load()
	time.Sleep(1100 * time.Millisecond)
	if r := e.do("GET", "/readyz", "", nil); r.status != http.StatusOK {
		t.Fatalf("readyz %d: %s", r.status, r.body)
	}
	if pings.Load() != before+1 {
		t.Fatalf("after the cached second: %d check rounds, want %d", pings.Load(), before+1)
	}
}

// TestReadinessRateLimited: /readyz spends the caller's read budget like any
// public read.
func TestReadinessRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimiter(func(m *gateway.Metrics, log *slog.Logger) *ratelimit.Limiter {
		l, err := ratelimit.New(ratelimit.Options{Log: log, OnDecision: m.RateDecision, Rules: map[string]ratelimit.Rule{
			policy.ClassDefault: {Limit: 3, Period: time.Minute, Burst: 3},
			policy.ClassWrite:   {Limit: 3, Period: time.Minute, Burst: 3},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}))
	for i := range 3 {
		if r := e.do("GET", "/readyz", "", nil); r.status == http.StatusTooManyRequests || r.header.Get("RateLimit-Policy") == "" {
			t.Fatalf("request %d: %d, policy %q", i, r.status, r.header.Get("RateLimit-Policy"))
		}
	}
	r := e.do("GET", "/readyz", "", nil)
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "RESOURCE_EXHAUSTED" || r.header.Get("Retry-After") == "" {
		t.Fatalf("4th readyz: %d %s", r.status, r.body)
	}
	// The probe endpoint the platform uses costs nothing and stays open.
	if r := e.do("GET", "/healthz", "", nil); r.status != http.StatusOK {
		t.Fatalf("healthz %d", r.status)
	}
}
