package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
	"github.com/printfleet/printfleet/services/gateway/internal/ratelimit"
)

type loadResult struct {
	byStatus   map[int]int
	retryAfter map[string]int
	policies   map[string]int
	badLimited []string
	elapsed    time.Duration
}

// roundRobin sends n requests, spread over the gateways in turn by a few
// concurrent clients.
func roundRobin(t *testing.T, envs []*env, n int, hdr map[string]string) loadResult {
	t.Helper()
	res := loadResult{byStatus: map[int]int{}, retryAfter: map[string]int{}, policies: map[string]int{}}
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range 6 {
		wg.Go(func() {
			for i := range jobs {
				e := envs[i%len(envs)]
				req, _ := http.NewRequest("GET", e.srv.URL+"/v1/products", nil)
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				body := make([]byte, 512)
				nb, _ := resp.Body.Read(body)
				resp.Body.Close()
				mu.Lock()
				res.byStatus[resp.StatusCode]++
				res.policies[resp.Header.Get("RateLimit-Policy")]++
				if resp.StatusCode == http.StatusTooManyRequests {
					res.retryAfter[resp.Header.Get("Retry-After")]++
					if !strings.Contains(string(body[:nb]), `"RESOURCE_EXHAUSTED"`) || !strings.HasSuffix(resp.Header.Get("RateLimit"), ";r=0;t="+tail(resp.Header.Get("RateLimit"))) {
						res.badLimited = append(res.badLimited, string(body[:nb])+" "+resp.Header.Get("RateLimit"))
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func tail(rl string) string {
	_, t, _ := strings.Cut(rl, ";t=")
	return t
}

func limiterFor(rdb goredis.UniversalClient, prefix string, rule ratelimit.Rule, timeout time.Duration) func(*gateway.Metrics, *slog.Logger) *ratelimit.Limiter {
	return func(m *gateway.Metrics, log *slog.Logger) *ratelimit.Limiter {
		l, err := ratelimit.New(ratelimit.Options{
			Redis: rdb, Prefix: prefix, Replicas: 3, Timeout: timeout,
			Rules: map[string]ratelimit.Rule{policy.ClassDefault: rule, policy.ClassWrite: rule},
			Log:   log, OnDecision: m.RateDecision, OnRedisState: m.RedisState,
		})
		if err != nil {
			panic(err)
		}
		return l
	}
}

func newRedis(addr string, timeout time.Duration) goredis.UniversalClient {
	return goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: timeout, ReadTimeout: timeout,
		WriteTimeout: timeout, MaxRetries: 1, DisableIdentity: true})
}

// TestSharedLimitAcrossReplicas: three gateways share one 100/10s limit
// through Redis. 1,000 requests round-robin: between 100 and 100 plus what
// refilled during the run are allowed, and every 429 says the same thing.
func TestSharedLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs Redis (-short)")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "test:gateway:shared:" + hex.EncodeToString(b) + ":"
	rule := ratelimit.Rule{Limit: 100, Period: 10 * time.Second, Burst: 100}
	f := startFakes(t, testSigner(t))
	var envs []*env
	for range 3 {
		// Generous timeouts: this test is about sharing the limit, and a
		// slow moment on a busy machine must not switch a replica to its
		// local fallback (TestRedisUnreachable covers that).
		rdb := newRedis("127.0.0.1:6379", time.Second)
		t.Cleanup(func() { _ = rdb.Close() })
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("redis: %v", err)
		}
		envs = append(envs, newEnv(t, withFakes(f), withLimiter(limiterFor(rdb, prefix, rule, time.Second))))
	}
	res := roundRobin(t, envs, 1000, bearer(mint(t, "alice", []string{"user"})))
	allowed, limited := res.byStatus[200], res.byStatus[429]
	refill := int(res.elapsed/(rule.Period/time.Duration(rule.Limit))) + 1
	t.Logf("allowed %d, limited %d in %s (refill bound %d)", allowed, limited, res.elapsed, refill)
	if allowed+limited != 1000 {
		t.Fatalf("statuses %v", res.byStatus)
	}
	if allowed < 100 || allowed > 100+refill {
		t.Fatalf("allowed %d, want within [100, %d]", allowed, 100+refill)
	}
	// GCRA: a denied request may retry after one emission interval (100ms),
	// which Retry-After rounds up to 1s, on every replica.
	if len(res.retryAfter) != 1 || res.retryAfter["1"] != limited {
		t.Fatalf("Retry-After values %v", res.retryAfter)
	}
	if len(res.policies) != 1 || res.policies[`"default";q=100;w=10`] != 1000 {
		t.Fatalf("RateLimit-Policy values %v", res.policies)
	}
	if len(res.badLimited) > 0 {
		t.Fatalf("malformed 429s: %v", res.badLimited[:1])
	}
	var fromRedis float64
	for _, e := range envs {
		fromRedis += counterValue(t, e, "printfleet_gateway_ratelimit_decisions_total", map[string]string{"source": "redis"})
	}
	if fromRedis != 1000 {
		t.Fatalf("%v decisions from redis, want 1000", fromRedis)
	}
}

// TestRedisUnreachable: the same load with Redis on a closed port answers no
// 5xx; each replica limits alone at limit/replicas and logs the fallback once.
func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	rule := ratelimit.Rule{Limit: 100, Period: 10 * time.Second, Burst: 100}
	f := startFakes(t, testSigner(t))
	var envs []*env
	for range 3 {
		rdb := newRedis(closed, 250*time.Millisecond)
		t.Cleanup(func() { _ = rdb.Close() })
		envs = append(envs, newEnv(t, withFakes(f), withLimiter(limiterFor(rdb, "test:gateway:down:", rule, 50*time.Millisecond))))
	}
	res := roundRobin(t, envs, 1000, bearer(mint(t, "alice", []string{"user"})))
	for code, n := range res.byStatus {
		if code != 200 && code != 429 {
			t.Fatalf("%d responses with status %d (all: %v)", n, code, res.byStatus)
		}
	}
	perReplica := (rule.Limit + 2) / 3 // 34
	refill := int(res.elapsed/(rule.Period/time.Duration(perReplica))) + 1
	allowed := res.byStatus[200]
	t.Logf("allowed %d, limited %d in %s", allowed, res.byStatus[429], res.elapsed)
	if allowed < 3*perReplica-3 || allowed > 3*(perReplica+refill) {
		t.Fatalf("allowed %d, want about %d", allowed, 3*perReplica)
	}
	for _, e := range envs {
		if n := strings.Count(e.logs.String(), "redis unavailable"); n != 1 {
			t.Fatalf("%d fallback log lines on one replica, want 1", n)
		}
		if v := counterValue(t, e, "printfleet_gateway_ratelimit_decisions_total", map[string]string{"source": "local"}); v < 300 {
			t.Fatalf("local decisions %v", v)
		}
	}
	if _, err := strconv.Atoi(firstKey(res.retryAfter)); err != nil {
		t.Fatalf("Retry-After %v", res.retryAfter)
	}
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}

// TestAnonymousLimitedByIP: anonymous callers share their address's bucket,
// and a bad token still counts against it.
func TestAnonymousLimitedByIP(t *testing.T) {
	t.Parallel()
	rule := ratelimit.Rule{Limit: 5, Period: time.Minute, Burst: 5}
	e := newEnv(t, withLimiter(func(m *gateway.Metrics, log *slog.Logger) *ratelimit.Limiter {
		l, err := ratelimit.New(ratelimit.Options{Rules: map[string]ratelimit.Rule{policy.ClassDefault: rule, policy.ClassWrite: rule}, Log: log})
		if err != nil {
			panic(err)
		}
		return l
	}))
	codes := map[int]int{}
	for i := range 8 {
		hdr := map[string]string(nil)
		if i%2 == 1 {
			hdr = bearer("not.a.token")
		}
		codes[e.do("GET", "/v1/products", "", hdr).status]++
	}
	if codes[200]+codes[401] != 5 || codes[429] != 3 {
		t.Fatalf("statuses %v", codes)
	}
	// An authenticated caller has its own bucket.
	if s := e.do("GET", "/v1/products", "", aliceUser(t)).status; s != 200 {
		t.Fatalf("alice got %d", s)
	}
	// Probes are never limited.
	for range 10 {
		if s := e.do("GET", "/healthz", "", nil).status; s != 200 {
			t.Fatalf("healthz %d", s)
		}
	}
}
