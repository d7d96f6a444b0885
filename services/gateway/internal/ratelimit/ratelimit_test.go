package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

func TestParseRule(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Rule{
		"100/1m":         {100, time.Minute, 100},
		" 100 / 10s ":    {100, 10 * time.Second, 100},
		"60/1h,burst=10": {60, time.Hour, 10},
		"5/1s, burst=1":  {5, time.Second, 1},
	} {
		got, err := ParseRule(in)
		if err != nil || got != want {
			t.Errorf("ParseRule(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "100", "x/1m", "0/1m", "-1/1m", "100/0s", "100/500ms", "100/1m,burst=0", "100/1m,bust=5"} {
		if _, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) accepted", bad)
		}
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	Decision{Allowed: false, Class: "default", Rule: Rule{100, time.Minute, 100}, Remaining: 0,
		RetryAfter: 450 * time.Millisecond, Reset: 59500 * time.Millisecond}.SetHeaders(h)
	for k, want := range map[string]string{
		"RateLimit-Policy": `"default";q=100;w=60`,
		"RateLimit":        `"default";r=0;t=60`,
		"Retry-After":      "1",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	h = http.Header{}
	Decision{Allowed: true, Class: "write", Rule: Rule{10, 10 * time.Second, 10}, Remaining: 7, Reset: 3 * time.Second}.SetHeaders(h)
	if h.Get("Retry-After") != "" || h.Get("RateLimit") != `"write";r=7;t=3` {
		t.Errorf("allowed headers %v", h)
	}
}

// TestLocalGCRA checks the algorithm on a controlled clock.
func TestLocalGCRA(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	l := newLocal(func() time.Time { return now }, 10)
	r := Rule{Limit: 10, Period: time.Second, Burst: 10} // one per 100ms
	for i := range 10 {
		d := l.allow("k", r)
		if !d.Allowed || d.Remaining != 9-i {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d := l.allow("k", r)
	if d.Allowed || d.RetryAfter != 100*time.Millisecond || d.Reset != time.Second {
		t.Fatalf("11th: %+v", d)
	}
	now = now.Add(99 * time.Millisecond)
	if l.allow("k", r).Allowed {
		t.Fatal("allowed before the retry time")
	}
	now = now.Add(time.Millisecond)
	if d := l.allow("k", r); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("at the retry time: %+v", d)
	}
	// Other callers are independent; the map stays bounded.
	for i := range 50 {
		if !l.allow(strings.Repeat("x", i+1), r).Allowed {
			t.Fatal("fresh caller refused")
		}
	}
	if n := l.tat.Len(); n > 10 {
		t.Fatalf("%d buckets kept, bound is 10", n)
	}
}

// TestLocalEvictsLeastRecentlyUsed: a flood of new callers past the key
// bound must not lift the limit of a caller it keeps seeing (the old sweep
// cleared every bucket once the map was full).
func TestLocalEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	const maxKeys = 100
	l := newLocal(func() time.Time { return now }, maxKeys)
	r := Rule{Limit: 5, Period: time.Minute, Burst: 5}
	spend := func(key string) {
		for range 5 {
			if !l.allow(key, r).Allowed {
				t.Fatalf("%s refused within its burst", key)
			}
		}
	}
	spend("abuser")
	spend("quiet")
	// The flood: ten times the bound of distinct callers, while the abuser
	// keeps knocking (and is refused) between them.
	flooded := 0
	for i := range 10 * maxKeys {
		if !l.allow(fmt.Sprintf("flood-%d", i), r).Allowed {
			t.Fatalf("fresh flood caller %d refused", i)
		}
		flooded++
		if i%(maxKeys/4) == 0 {
			if d := l.allow("abuser", r); d.Allowed {
				t.Fatalf("after %d flood callers the abuser was allowed again: %+v", flooded, d)
			}
		}
	}
	if d := l.allow("abuser", r); d.Allowed {
		t.Fatalf("abuser allowed after the flood: %+v", d)
	}
	if n := l.tat.Len(); n != maxKeys {
		t.Fatalf("%d buckets kept, want the bound %d", n, maxKeys)
	}
	// The caller not seen for maxKeys distinct keys was the one evicted.
	if _, ok := l.tat.Peek("quiet"); ok {
		t.Fatal("the least recently used bucket was kept")
	}
	t.Logf("%d distinct callers through a %d-key fallback: the recent abuser stayed limited, the idle caller was evicted", flooded, maxKeys)
}

func redisClient(t *testing.T, addr string) goredis.UniversalClient {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 150 * time.Millisecond,
		WriteTimeout: 150 * time.Millisecond, MaxRetries: -1, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func realRedis(t *testing.T) goredis.UniversalClient {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis on 127.0.0.1:6379 (-short)")
	}
	c := redisClient(t, "127.0.0.1:6379")
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	return c
}

func uniquePrefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test:gateway:" + t.Name() + ":" + hex.EncodeToString(b) + ":"
}

func TestRedisGCRA(t *testing.T) {
	t.Parallel()
	rdb := realRedis(t)
	var decisions atomic.Int32
	l, err := New(Options{Redis: rdb, Prefix: uniquePrefix(t), Rules: map[string]Rule{"default": {10, time.Second, 10}},
		OnDecision: func(class, source string, _ bool) {
			if class == "default" && source == "redis" {
				decisions.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	allowed := 0
	var denied Decision
	for range 15 {
		d, ok := l.Allow(ctx, "default", "alice")
		if !ok || d.Source != "redis" {
			t.Fatalf("decision %+v", d)
		}
		if d.Allowed {
			allowed++
		} else if denied.Class == "" {
			denied = d
		}
	}
	// 10 at once, plus at most what refilled meanwhile (one per 100ms).
	if refill := int(time.Since(start)/(100*time.Millisecond)) + 1; allowed < 10 || allowed > 10+refill {
		t.Fatalf("allowed %d of 15", allowed)
	}
	if denied.RetryAfter <= 0 || denied.RetryAfter > 100*time.Millisecond || denied.Remaining != 0 {
		t.Fatalf("denied decision %+v", denied)
	}
	if decisions.Load() != 15 {
		t.Fatalf("%d decisions observed", decisions.Load())
	}
	// Retry-After is exact: waiting it out (from a fresh denial, since time
	// passed since the loop) is enough for the next request.
	for {
		d, _ := l.Allow(ctx, "default", "alice")
		if !d.Allowed {
			time.Sleep(d.RetryAfter + 5*time.Millisecond)
			break
		}
	}
	if d, _ := l.Allow(ctx, "default", "alice"); !d.Allowed {
		t.Fatalf("not allowed after Retry-After: %+v", d)
	}
	if d, _ := l.Allow(ctx, "default", "bob"); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("another caller shares alice's bucket: %+v", d)
	}
	if _, ok := l.Allow(ctx, "nope", "alice"); ok {
		t.Fatal("unknown class accepted")
	}
	// The bucket expires once it is full again.
	ttl, err := rdb.PTTL(ctx, l.o.Prefix+"default:alice").Result()
	if err != nil || ttl <= 0 || ttl > 1100*time.Millisecond {
		t.Fatalf("bucket ttl %s, %v", ttl, err)
	}
}

// switchProxy forwards to Redis while up and refuses while down.
type switchProxy struct {
	ln   net.Listener
	up   atomic.Bool
	mu   sync.Mutex
	open []net.Conn
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln}
	p.up.Store(true)
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.up.Load() {
				_ = c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.open = append(p.open, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
	return p
}

func (p *switchProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		_ = c.Close()
	}
	p.open = nil
}

// TestFallbackAndRecovery: with Redis gone, decisions come from the local
// limiter at limit/replicas, never as errors, with one log line; once Redis
// is back (after the pause) decisions come from Redis again.
func TestFallbackAndRecovery(t *testing.T) {
	t.Parallel()
	realRedis(t)
	proxy := newSwitchProxy(t, "127.0.0.1:6379")
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
	var up atomic.Int32
	l, err := New(Options{
		Redis: redisClient(t, proxy.ln.Addr().String()), Prefix: uniquePrefix(t),
		Rules: map[string]Rule{"default": {30, time.Minute, 30}}, Replicas: 3, Pause: 200 * time.Millisecond,
		Log: logger, OnRedisState: func(u bool) {
			if u {
				up.Store(1)
			} else {
				up.Store(0)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, _ := l.Allow(ctx, "default", "alice"); d.Source != "redis" || up.Load() != 1 {
		t.Fatalf("first decision %+v", d)
	}
	proxy.up.Store(false)
	proxy.cut()
	allowed, local := 0, 0
	for range 40 {
		d, _ := l.Allow(ctx, "default", "carol")
		if d.Source == "local" {
			local++
		}
		if d.Allowed {
			allowed++
		}
	}
	if local != 40 || allowed != 10 { // 30/3 per replica
		t.Fatalf("local decisions %d, allowed %d; want 40 and 10", local, allowed)
	}
	if up.Load() != 0 {
		t.Fatal("redis still reported up")
	}
	mu.Lock()
	n := strings.Count(logs.String(), "redis unavailable")
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d fallback log lines, want 1 (rate-limited)", n)
	}
	proxy.up.Store(true)
	time.Sleep(250 * time.Millisecond)
	if d, _ := l.Allow(ctx, "default", "dave"); d.Source != "redis" || !d.Allowed || up.Load() != 1 {
		t.Fatalf("after recovery: %+v", d)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A rule finer than Redis's microsecond clock (here 10^8 per minute) must
// still give sane decisions and headers, not a division by zero.
func TestVeryHighRuleStaysSane(t *testing.T) {
	t.Parallel()
	rdb := realRedis(t)
	l, err := New(Options{Redis: rdb, Prefix: uniquePrefix(t), Rules: map[string]Rule{"default": {100_000_000, time.Minute, 100_000_000}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		d, ok := l.Allow(context.Background(), "default", "bench")
		if !ok || !d.Allowed || d.Source != "redis" || d.Remaining < 0 || d.Reset < 0 {
			t.Fatalf("decision %+v", d)
		}
		h := http.Header{}
		d.SetHeaders(h)
		if v := h.Get("RateLimit"); strings.Contains(v, "r=-") {
			t.Fatalf("RateLimit header %q", v)
		}
	}
}

// scriptCounter counts the commands a client sends.
type scriptCounter struct{ n atomic.Int64 }

func (c *scriptCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (c *scriptCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *scriptCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// TestLeasesKeepTheSharedLimit: two replicas share a 1,000/1m limit (leases
// of 10). Far from the limit most decisions are local; together the
// replicas still admit exactly the limit (plus what refilled), the
// remaining count each replica reports only goes down, and near the limit
// every decision is a Redis round trip again.
func TestLeasesKeepTheSharedLimit(t *testing.T) {
	t.Parallel()
	rdb := realRedis(t)
	counter := &scriptCounter{}
	rdb.(*goredis.Client).AddHook(counter)
	prefix := uniquePrefix(t)
	rule := Rule{Limit: 1000, Period: time.Minute, Burst: 1000}
	var ls []*Limiter
	for range 2 {
		l, err := New(Options{Redis: rdb, Prefix: prefix, Rules: map[string]Rule{"default": rule}, Timeout: time.Second, LeaseTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	if n := ls[0].leaseSize(rule); n != 10 {
		t.Fatalf("lease size %d", n)
	}
	ctx := context.Background()
	start := time.Now()
	allowed, denied := 0, false
	prev := []int{rule.Limit + 1, rule.Limit + 1}
	prevAt := []time.Time{start, start}
	const requests = 1500
	for i := range requests {
		d, ok := ls[i%2].Allow(ctx, "default", "alice")
		if !ok || d.Source != "redis" {
			t.Fatalf("decision %+v", d)
		}
		if d.Allowed {
			allowed++
			// Remaining falls with every request while leases are granted
			// (at least 20 left), unless the bucket refilled a token since
			// (one every interval: a slow machine gets there). Below that the
			// other limiter's unused lease coming back may raise it.
			if !denied && prev[i%2] > 20 && d.Remaining >= prev[i%2] && time.Since(prevAt[i%2]) < rule.interval() {
				t.Fatalf("request %d: remaining %d after %d", i, d.Remaining, prev[i%2])
			}
			prev[i%2], prevAt[i%2] = d.Remaining, time.Now()
		} else if d.RetryAfter <= 0 || d.Remaining != 0 {
			t.Fatalf("denied decision %+v", d)
		} else {
			denied = true
		}
	}
	refill := int(time.Since(start)/rule.interval()) + 1
	if allowed < rule.Limit || allowed > rule.Limit+refill {
		t.Fatalf("allowed %d of %d, want %d..%d", allowed, requests, rule.Limit, rule.Limit+refill)
	}
	// Leases of 10 while at least 20 are left: about 1000/10 grants, then one
	// call per request for the last ones and for every denial.
	calls := counter.n.Load()
	t.Logf("%d requests, %d allowed, %d script calls", requests, allowed, calls)
	if calls > 100+40+int64(requests-allowed)+int64(refill) || calls < int64(requests-allowed) {
		t.Fatalf("%d script calls for %d requests", calls, requests)
	}
	// A small rule never leases.
	if n := ls[0].leaseSize(Rule{Limit: 100, Period: time.Minute, Burst: 100}); n != 1 {
		t.Fatalf("lease size %d for a burst of 100", n)
	}
}
