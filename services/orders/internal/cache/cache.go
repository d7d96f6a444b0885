// Package cache is the Redis cache-aside in front of single-order reads.
//
// Consistency: every value carries the order version it holds. Entries are
// "<version>:o:<json>[\x00<proto>]" (the format is services/orders/cachefmt,
// which the gateway also reads), invalidation leaves a tombstone "<version>:t" for the
// committed version, and both writes are Lua scripts that refuse to replace a
// newer version (or an entry of the same version). A read that loaded an
// older version from PostgreSQL before a write committed therefore cannot put
// it back after the write's invalidation, whatever the interleaving; the
// tombstone lives as long as an entry would, so a late set is refused for the
// whole time its value could be served.
//
// An invalidation Redis does not take is retried a few times at once; then
// the entry is deleted if Redis still takes a DEL, and the tombstone is
// retried in the background every RetryEvery until Redis takes it;
// meanwhile this process reads that order from PostgreSQL. Other readers of the key (the
// other replicas, the gateway) may see the old entry only while Redis
// refuses the tombstone, plus at most RetryEvery: staleness is bounded by
// the Redis fault, not by the TTL.
//
// Concurrent misses for one order collapse into one database read
// (singleflight). When Redis fails, reads go straight to PostgreSQL with
// bounded concurrency (a semaphore) and Redis is skipped for a short while
// instead of paying its timeout on every request.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/printfleet/printfleet/services/orders/cachefmt"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

var (
	lookups = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_orders_cache_lookups_total",
		Help: "Order cache lookups by result: hit, miss, bypass (Redis unavailable, read from PostgreSQL).",
	}, []string{"result"})
	invalidations = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_orders_cache_invalidations_total",
		Help: "Order cache invalidations by result (ok; error: left to the background retry; deleted: the entry was deleted meanwhile; retried: taken by Redis on a background retry).",
	}, []string{"result"})
	pendingGauge = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "printfleet_orders_cache_invalidations_pending",
		Help: "Order invalidations Redis has not taken yet, retried in the background (their orders are read from PostgreSQL meanwhile).",
	})
	redisUp = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "printfleet_orders_cache_redis_up",
		Help: "1 while the order cache reaches Redis, 0 while reads bypass it.",
	})
)

// Config tunes the cache.
type Config struct {
	// Prefix namespaces the keys (tests use a unique one each).
	Prefix string
	// TTL bounds how long an entry (and a tombstone) lives.
	TTL time.Duration
	// FallbackConcurrency bounds database reads while Redis is down.
	FallbackConcurrency int
	// SkipFor is how long Redis is skipped after it failed.
	SkipFor time.Duration
	// LoadTimeout bounds a collapsed load (it outlives any one caller).
	LoadTimeout time.Duration
	// InvalidateAttempts is how many times an invalidation is tried before
	// it is left to the background retry.
	InvalidateAttempts int
	// RetryEvery is the background retry's period: with Redis back, the
	// longest an invalidation that failed stays out.
	RetryEvery time.Duration
	// MaxPending bounds the invalidations kept for the background retry;
	// beyond it they expire with the TTL (and are logged).
	MaxPending int
	// Wire, when set, encodes the order as its API answer; entries then
	// carry it for readers that serve it without calling orders (the
	// gateway).
	Wire func(*domain.Order) ([]byte, error)
}

// Orders is the cache; it implements app.Cache.
type Orders struct {
	rdb       goredis.UniversalClient
	cfg       Config
	log       *slog.Logger
	flight    singleflight.Group
	sem       chan struct{}
	skipUntil atomic.Int64 // unix nanos

	mu       sync.Mutex
	pending  map[string]int64 // order id → newest version Redis has not taken the tombstone of
	retrying bool             // the background retry runs
}

var _ app.Cache = (*Orders)(nil)

// New returns a cache on rdb.
func New(rdb goredis.UniversalClient, cfg Config, log *slog.Logger) *Orders {
	if cfg.Prefix == "" {
		cfg.Prefix = cachefmt.DefaultPrefix
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.FallbackConcurrency <= 0 {
		cfg.FallbackConcurrency = 16
	}
	if cfg.SkipFor <= 0 {
		cfg.SkipFor = time.Second
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = 5 * time.Second
	}
	if cfg.InvalidateAttempts <= 0 {
		cfg.InvalidateAttempts = 3
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = 500 * time.Millisecond
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 100_000
	}
	if log == nil {
		log = slog.Default()
	}
	redisUp.Set(1)
	return &Orders{rdb: rdb, cfg: cfg, log: log, sem: make(chan struct{}, cfg.FallbackConcurrency), pending: map[string]int64{}}
}

func (c *Orders) key(id string) string { return cachefmt.Key(c.cfg.Prefix, id) }

// setIfNewer stores an entry unless the key holds a newer version, or an
// entry (not a tombstone) of the same version.
var setIfNewer = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+):'))
  local nv = tonumber(ARGV[1])
  if v and (v > nv or (v == nv and string.sub(cur, string.len(ARGV[1]) + 2, string.len(ARGV[1]) + 2) == 'o')) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':o:' .. ARGV[2], 'PX', ARGV[3])
return 1`)

// tombstone replaces whatever the key holds with a tombstone for version,
// unless it already holds a newer version.
var tombstone = goredis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.match(cur, '^(%d+):'))
  if v and v > tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':t', 'PX', ARGV[2])
return 1`)

func (c *Orders) redisUsable() bool { return time.Now().UnixNano() >= c.skipUntil.Load() }

func (c *Orders) redisFailed(err error) {
	if c.skipUntil.Swap(time.Now().Add(c.cfg.SkipFor).UnixNano()) < time.Now().UnixNano() {
		c.log.Warn("order cache: redis unavailable, reading from PostgreSQL", "err", err, "skip_for", c.cfg.SkipFor)
	}
	redisUp.Set(0)
}

func (c *Orders) redisOK() {
	if c.skipUntil.Load() != 0 {
		c.skipUntil.Store(0)
		redisUp.Set(1)
	}
}

// GetOrLoad implements app.Cache.
func (c *Orders) GetOrLoad(ctx context.Context, id, ownerID string, load func(context.Context) (*domain.Order, error)) (*domain.Order, error) {
	if !c.redisUsable() || c.isPending(id) {
		return c.bypass(ctx, id, ownerID, load)
	}
	raw, err := c.rdb.Get(ctx, c.key(id)).Result()
	switch {
	case err == nil:
		c.redisOK()
		if o, ok := decode(raw); ok {
			lookups.WithLabelValues("hit").Inc()
			return o, nil
		}
	case errors.Is(err, goredis.Nil):
		c.redisOK()
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		c.redisFailed(err)
		return c.bypass(ctx, id, ownerID, load)
	}
	lookups.WithLabelValues("miss").Inc()
	return c.collapse(ctx, id, ownerID, func(lctx context.Context) (*domain.Order, error) {
		o, err := load(lctx)
		if err != nil {
			return nil, err
		}
		c.set(lctx, o)
		return o, nil
	})
}

// bypass reads PostgreSQL while Redis is down, at most FallbackConcurrency
// loads at a time (misses for one order still collapse).
func (c *Orders) bypass(ctx context.Context, id, ownerID string, load func(context.Context) (*domain.Order, error)) (*domain.Order, error) {
	lookups.WithLabelValues("bypass").Inc()
	return c.collapse(ctx, id, ownerID, func(lctx context.Context) (*domain.Order, error) {
		select {
		case c.sem <- struct{}{}:
		case <-lctx.Done():
			return nil, fmt.Errorf("order cache fallback: %w", lctx.Err())
		}
		defer func() { <-c.sem }()
		return load(lctx)
	})
}

// collapse runs load once for concurrent callers with the same id and owner
// filter. The shared load is detached from any one caller's cancellation.
func (c *Orders) collapse(ctx context.Context, id, ownerID string, load func(context.Context) (*domain.Order, error)) (*domain.Order, error) {
	ch := c.flight.DoChan(id+"|"+ownerID, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LoadTimeout)
		defer cancel()
		return load(lctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*domain.Order), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Orders) set(ctx context.Context, o *domain.Order) {
	if !c.redisUsable() {
		return
	}
	b, err := json.Marshal(o.Fields())
	if err != nil {
		c.log.ErrorContext(ctx, "order cache: encode", "order_id", o.ID(), "err", err)
		return
	}
	var wire []byte
	if c.cfg.Wire != nil {
		if wire, err = c.cfg.Wire(o); err != nil {
			c.log.ErrorContext(ctx, "order cache: encode", "order_id", o.ID(), "err", err)
			return
		}
	}
	err = setIfNewer.Run(ctx, c.rdb, []string{c.key(o.ID())},
		strconv.FormatInt(o.Version(), 10), cachefmt.Encode(b, wire), c.cfg.TTL.Milliseconds()).Err()
	if err != nil {
		c.redisFailed(err)
	}
}

// Prime implements app.Cache: the entry an order just created would be
// filled with on its first miss, written at once.
func (c *Orders) Prime(ctx context.Context, o *domain.Order) { c.set(ctx, o) }

// Invalidate implements app.Cache: call it after the change to version has
// committed. It tries InvalidateAttempts times with a short backoff; if
// Redis still refuses, the invalidation is retried in the background and
// this process reads the order from PostgreSQL until it lands.
func (c *Orders) Invalidate(ctx context.Context, id string, version int64) {
	// The change has committed: a caller that stops waiting must not leave
	// the old entry behind.
	ctx = context.WithoutCancel(ctx)
	err := errRedisSkipped
	// While Redis is known to be down, the request does not wait for it.
	for attempt := 0; attempt < c.cfg.InvalidateAttempts && c.redisUsable(); attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 25 * time.Millisecond)
		}
		if err = c.tombstone(ctx, id, version); err == nil {
			invalidations.WithLabelValues("ok").Inc()
			return
		}
	}
	invalidations.WithLabelValues("error").Inc()
	if !errors.Is(err, errRedisSkipped) {
		// A Redis that refuses scripts may still take a DEL (at maxmemory
		// with noeviction it refuses writes that grow memory, and serves
		// reads): drop the entry now; the tombstone, which also guards
		// against a late fill, follows from the background retry.
		dctx, cancel := context.WithTimeout(ctx, c.cfg.LoadTimeout)
		if c.rdb.Del(dctx, c.key(id)).Err() == nil {
			invalidations.WithLabelValues("deleted").Inc()
		} else {
			c.redisFailed(err) // the next requests do not wait for it either
		}
		cancel()
	}
	if !c.addPending(id, version) {
		c.log.ErrorContext(ctx, "order cache: invalidation failed and too many are pending; the entry expires with its TTL",
			"order_id", id, "err", err, "pending", c.cfg.MaxPending)
		return
	}
	c.log.WarnContext(ctx, "order cache: invalidation failed; retrying in the background, reading the order from PostgreSQL meanwhile",
		"order_id", id, "version", version, "err", err, "retry_every", c.cfg.RetryEvery)
}

var errRedisSkipped = errors.New("redis skipped after a recent failure")

func (c *Orders) tombstone(ctx context.Context, id string, version int64) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LoadTimeout)
	defer cancel()
	return tombstone.Run(ctx, c.rdb, []string{c.key(id)}, strconv.FormatInt(version, 10), c.cfg.TTL.Milliseconds()).Err()
}

func (c *Orders) isPending(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pending[id]
	return ok
}

// addPending records an invalidation for the background retry (starting
// it); false when MaxPending are already waiting.
func (c *Orders) addPending(id string, version int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.pending[id]; ok {
		c.pending[id] = max(v, version)
		return true
	}
	if len(c.pending) >= c.cfg.MaxPending {
		return false
	}
	c.pending[id] = version
	pendingGauge.Set(float64(len(c.pending)))
	if !c.retrying {
		c.retrying = true
		go c.retryPending()
	}
	return true
}

// retryPending retries the pending invalidations every RetryEvery until
// none is left. A version that was superseded while its tombstone was on
// the way stays pending for the newer one.
func (c *Orders) retryPending() {
	for {
		time.Sleep(c.cfg.RetryEvery)
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.retrying = false
			c.mu.Unlock()
			return
		}
		batch := make(map[string]int64, len(c.pending))
		for id, v := range c.pending {
			batch[id] = v
		}
		c.mu.Unlock()
		for id, v := range batch {
			err := c.tombstone(context.Background(), id, v)
			if errors.Is(err, goredis.ErrClosed) {
				c.mu.Lock()
				clear(c.pending)
				pendingGauge.Set(0)
				c.retrying = false
				c.mu.Unlock()
				return // the process is stopping
			}
			if err != nil {
				break // Redis still refuses: wait for the next round
			}
			invalidations.WithLabelValues("retried").Inc()
			c.mu.Lock()
			if c.pending[id] == v {
				delete(c.pending, id)
			}
			pendingGauge.Set(float64(len(c.pending)))
			c.mu.Unlock()
		}
	}
}

// decode parses an entry; a tombstone or anything unreadable is a miss.
func decode(raw string) (*domain.Order, bool) {
	e, ok := cachefmt.Decode(raw)
	if !ok {
		return nil, false
	}
	var f domain.OrderFields
	if err := json.Unmarshal([]byte(e.JSON), &f); err != nil {
		return nil, false
	}
	o, err := domain.UnmarshalOrderFromDatabase(f)
	if err != nil {
		return nil, false
	}
	return o, true
}
