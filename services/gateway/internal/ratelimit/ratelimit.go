// Package ratelimit is the gateway's request limiter, shared by every gateway
// replica through Redis: a GCRA (generic cell rate algorithm) bucket per
// (class, caller), evaluated atomically on the Redis server by one Lua script
// that reads the server's clock (TIME), so replicas with skewed clocks still
// agree. Each Redis call has a short timeout; when Redis fails the limiter
// falls back to an in-process GCRA with the limit divided by the number of
// replicas, and retries Redis after a pause. Redis trouble never fails a
// request.
//
// Leases: a caller far from its limit does not cost a Redis round trip per
// request. When the bucket has at least 2·chunk requests of allowance left,
// the script grants chunk requests at once (chunk = Burst/100, at most 64;
// rules with a burst under 200 never lease) and the replica spends them
// locally for up to LeaseTTL. The leased requests are debited from the shared
// bucket before they are spent, so the replicas together never admit more
// than the shared limit; the bound on accuracy is that up to chunk−1 requests
// per replica and caller may be admitted up to LeaseTTL after Redis granted
// them, or expire unspent (then the caller gets fewer, never more). Close to
// the limit (less than 2·chunk left) every decision is a Redis round trip
// again, exact as without leases.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	goredis "github.com/redis/go-redis/v9"
)

// Rule is a limit of Limit requests per Period. Burst requests may arrive at
// once (GCRA tolerance); it defaults to Limit, so a fresh caller can spend the
// whole quota immediately and then one request per Period/Limit.
type Rule struct {
	Limit  int
	Period time.Duration
	Burst  int
}

// ParseRule reads "100/1m", "100/10s" or "100/1m,burst=20".
func ParseRule(s string) (Rule, error) {
	spec, burstSpec, hasBurst := strings.Cut(strings.TrimSpace(s), ",")
	n, per, ok := strings.Cut(spec, "/")
	if !ok {
		return Rule{}, fmt.Errorf("rate limit %q: want N/duration, e.g. 100/1m", s)
	}
	limit, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || limit <= 0 {
		return Rule{}, fmt.Errorf("rate limit %q: count must be a positive integer", s)
	}
	period, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || period < time.Second {
		return Rule{}, fmt.Errorf("rate limit %q: period must be a duration of at least 1s", s)
	}
	r := Rule{Limit: limit, Period: period, Burst: limit}
	if hasBurst {
		k, v, _ := strings.Cut(strings.TrimSpace(burstSpec), "=")
		b, err := strconv.Atoi(v)
		if k != "burst" || err != nil || b <= 0 {
			return Rule{}, fmt.Errorf("rate limit %q: want burst=N with N > 0", s)
		}
		r.Burst = b
	}
	return r, nil
}

func (r Rule) String() string {
	return fmt.Sprintf("%d/%s,burst=%d", r.Limit, r.Period, r.Burst)
}

// interval is the emission interval: the time one request "costs".
func (r Rule) interval() time.Duration { return r.Period / time.Duration(r.Limit) }

// Decision is the outcome for one request.
type Decision struct {
	Allowed    bool
	Class      string
	Rule       Rule
	Remaining  int
	RetryAfter time.Duration // > 0 when denied
	Reset      time.Duration // until the quota is fully restored
	Source     string        // "redis" or "local"
}

// SetHeaders writes the IETF draft RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers), and Retry-After when denied.
func (d Decision) SetHeaders(h http.Header) {
	class := strconv.Quote(d.Class)
	h.Set("RateLimit-Policy", class+";q="+strconv.Itoa(d.Rule.Limit)+";w="+strconv.Itoa(ceilSeconds(d.Rule.Period)))
	h.Set("RateLimit", class+";r="+strconv.Itoa(d.Remaining)+";t="+strconv.Itoa(ceilSeconds(d.Reset)))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(d.RetryAfter))))
	}
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// gcraScript: KEYS[1] bucket; ARGV[1] emission interval µs; ARGV[2] burst;
// ARGV[3] lease size n. The bucket holds the theoretical arrival time (TAT)
// in µs of Redis time. It grants n requests when at least 2n are left, else
// one. Returns {granted (0 when denied), remaining, retry_after_µs, reset_µs}.
var gcraScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then
  tat = now
end
local grant = 1
if n > 1 and now - (tat + 2 * n * interval - tolerance) >= 0 then
  grant = n
end
local new_tat = tat + grant * interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {grant, math.floor((now - allow_at) / interval), 0, new_tat - now}
`)

// Options configure a Limiter.
type Options struct {
	// Redis is the shared store; nil means in-process limits only.
	Redis goredis.UniversalClient
	// Prefix namespaces the keys (tests use a unique one).
	Prefix string
	// Rules by class.
	Rules map[string]Rule
	// Timeout bounds one Redis call.
	Timeout time.Duration
	// Replicas is the number of gateway replicas; the fallback allows
	// Limit/Replicas per replica.
	Replicas int
	// Pause is how long Redis is skipped after a failure.
	Pause time.Duration
	Log   *slog.Logger
	// OnDecision observes every decision (metrics).
	OnDecision func(class, source string, allowed bool)
	// OnRedisState observes Redis being usable or not (metrics).
	OnRedisState func(up bool)
	// LeaseTTL is how long a replica may spend requests Redis granted it
	// ahead (default 1s); see the package comment.
	LeaseTTL time.Duration
	// MaxLease caps the requests granted at once (default 64; 1 disables
	// leases).
	MaxLease int
}

// Limiter decides whether a request may proceed.
type Limiter struct {
	o         Options
	local     *local
	leases    leases
	downUntil atomic.Int64 // unix ns until which Redis is skipped
	lastLog   atomic.Int64 // unix ns of the last fallback log line
	muted     atomic.Int64 // fallback events since that line
}

// New returns a limiter.
func New(o Options) (*Limiter, error) {
	if len(o.Rules) == 0 {
		return nil, errors.New("ratelimit: no rules")
	}
	for class, r := range o.Rules {
		if r.Limit <= 0 || r.Period <= 0 || r.Burst <= 0 {
			return nil, fmt.Errorf("ratelimit: class %q: invalid rule %v", class, r)
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 50 * time.Millisecond
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Pause <= 0 {
		o.Pause = time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.OnDecision == nil {
		o.OnDecision = func(string, string, bool) {}
	}
	if o.OnRedisState == nil {
		o.OnRedisState = func(bool) {}
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = time.Second
	}
	if o.MaxLease <= 0 {
		o.MaxLease = 64
	}
	return &Limiter{o: o, local: newLocal(time.Now, 100_000), leases: leases{m: map[string]*lease{}, maxKeys: 100_000}}, nil
}

// Rule returns the rule of class.
func (l *Limiter) Rule(class string) (Rule, bool) {
	r, ok := l.o.Rules[class]
	return r, ok
}

// Allow decides for one request of caller key in class. ok is false for an
// unknown class.
func (l *Limiter) Allow(ctx context.Context, class, key string) (d Decision, ok bool) {
	rule, ok := l.o.Rules[class]
	if !ok {
		return Decision{}, false
	}
	bucket := l.o.Prefix + class + ":" + key
	if l.o.Redis != nil && time.Now().UnixNano() >= l.downUntil.Load() {
		n := l.leaseSize(rule)
		if n > 1 {
			if d, ok := l.leases.take(bucket, time.Now()); ok {
				d.Class, d.Rule = class, rule
				l.o.OnDecision(class, d.Source, true)
				return d, true
			}
		}
		d, err := l.redis(ctx, bucket, rule, n)
		if err == nil {
			d.Class = class
			l.o.OnRedisState(true)
			l.o.OnDecision(class, d.Source, d.Allowed)
			return d, true
		}
		if ctx.Err() == nil { // the caller did not give up: Redis failed
			l.downUntil.Store(time.Now().Add(l.o.Pause).UnixNano())
			l.o.OnRedisState(false)
			l.logFallback(ctx, err)
		}
	}
	d = l.local.allow(bucket, l.localRule(rule))
	d.Class = class
	d.Rule = rule // advertise the shared policy
	l.o.OnDecision(class, d.Source, d.Allowed)
	return d, true
}

func (l *Limiter) localRule(r Rule) Rule {
	n := l.o.Replicas
	return Rule{
		Limit:  max(1, (r.Limit+n-1)/n),
		Period: r.Period,
		Burst:  max(1, (r.Burst+n-1)/n),
	}
}

// leaseSize is how many requests to ask Redis for at once under r.
func (l *Limiter) leaseSize(r Rule) int {
	return max(1, min(l.o.MaxLease, r.Burst/100))
}

func (l *Limiter) redis(ctx context.Context, bucket string, r Rule, n int) (Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, l.o.Timeout)
	defer cancel()
	// Redis time has microsecond resolution: a rule finer than one request
	// per microsecond is held at that (a zero interval would divide by zero
	// in the script).
	res, err := gcraScript.Run(ctx, l.o.Redis, []string{bucket}, max(r.interval().Microseconds(), 1), r.Burst, n).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit script: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("ratelimit script: %d results", len(res))
	}
	d := Decision{
		Allowed:    res[0] >= 1,
		Rule:       r,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		Reset:      time.Duration(res[3]) * time.Microsecond,
		Source:     "redis",
	}
	if extra := int(res[0]) - 1; extra > 0 {
		// This request spends one; the rest are leased. The caller's
		// remaining allowance counts them.
		d.Remaining = l.leases.put(bucket, extra, d, time.Now(), l.o.LeaseTTL)
	}
	return d, nil
}

// leases are the requests Redis granted ahead, per bucket.
type leases struct {
	mu      sync.Mutex
	m       map[string]*lease
	maxKeys int
}

type lease struct {
	tokens    int       // granted and not yet spent
	remaining int       // the bucket's allowance beyond the lease at grant
	reset     time.Time // when the bucket is full again
	expires   time.Time
}

// take spends one leased request of bucket, if it has an unexpired one.
func (ls *leases) take(bucket string, now time.Time) (Decision, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	le, ok := ls.m[bucket]
	if !ok || le.tokens == 0 || !now.Before(le.expires) {
		return Decision{}, false
	}
	le.tokens--
	return Decision{Allowed: true, Remaining: le.remaining + le.tokens, Reset: max(0, le.reset.Sub(now)), Source: "redis"}, true
}

// put adds n granted requests to bucket's lease and returns the caller's
// remaining allowance (the bucket's plus the unspent lease).
func (ls *leases) put(bucket string, n int, d Decision, now time.Time, ttl time.Duration) int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	le, ok := ls.m[bucket]
	if !ok {
		if len(ls.m) >= ls.maxKeys {
			for k, v := range ls.m {
				if v.tokens == 0 || !now.Before(v.expires) {
					delete(ls.m, k)
				}
			}
			if len(ls.m) >= ls.maxKeys {
				clear(ls.m)
			}
		}
		le = &lease{}
		ls.m[bucket] = le
	}
	if !now.Before(le.expires) {
		le.tokens = 0
	}
	le.tokens += n
	le.remaining = d.Remaining
	le.reset = now.Add(d.Reset)
	le.expires = now.Add(ttl)
	return le.remaining + le.tokens
}

// logFallback logs at most one line per 30s, counting the rest.
func (l *Limiter) logFallback(ctx context.Context, err error) {
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(30*time.Second) || !l.lastLog.CompareAndSwap(last, now) {
		l.muted.Add(1)
		return
	}
	l.o.Log.WarnContext(ctx, "rate limiter: redis unavailable, using in-process limits",
		"err", err.Error(), "replicas", l.o.Replicas, "retry_in", l.o.Pause.String(),
		"suppressed", l.muted.Swap(0))
}

// local is the in-process GCRA used while Redis is unavailable. It keeps at
// most maxKeys buckets and evicts the least recently used one: a flood of
// distinct callers (a Redis outage is when one hurts most) can only reset
// the buckets of callers it has not seen for maxKeys distinct keys, never
// every caller's at once.
type local struct {
	mu  sync.Mutex
	tat *simplelru.LRU[string, time.Time]
	now func() time.Time
}

func newLocal(now func() time.Time, maxKeys int) *local {
	tat, err := simplelru.NewLRU[string, time.Time](maxKeys, nil)
	if err != nil {
		panic(fmt.Sprintf("ratelimit: %v", err)) // maxKeys <= 0: a programming error
	}
	return &local{tat: tat, now: now}
}

func (l *local) allow(key string, r Rule) Decision {
	interval := r.interval()
	tolerance := interval * time.Duration(r.Burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	tat, ok := l.tat.Get(key) // a denied caller stays recent too
	if !ok || tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	allowAt := newTAT.Add(-tolerance)
	if now.Before(allowAt) {
		return Decision{Rule: r, RetryAfter: allowAt.Sub(now), Reset: tat.Sub(now), Source: "local"}
	}
	l.tat.Add(key, newTAT)
	return Decision{
		Allowed:   true,
		Rule:      r,
		Remaining: int(now.Sub(allowAt) / interval),
		Reset:     newTAT.Sub(now),
		Source:    "local",
	}
}
