// Package shared keeps what every marketplace worker replica must agree on in
// Redis: the rate budget of each (marketplace, store) and the lock on each
// shipment (and on each store's token refresh). Each is one key or two under
// a prefix, changed by a Lua script so replicas never interleave.
package shared

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Limiter is a GCRA token bucket per key in Redis: the bucket is one
// timestamp, the "theoretical arrival time" of the next request, so taking,
// emptying and pausing are each one script run. Redis's clock is the only
// clock, so replicas' clocks need not agree.
type Limiter struct {
	rdb    goredis.UniversalClient
	prefix string
}

// NewLimiter keeps its keys under prefix.
func NewLimiter(rdb goredis.UniversalClient, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix}
}

// Keys of one bucket share a hash tag so a cluster keeps them on one slot.
func (l *Limiter) keys(key string) []string {
	b := l.prefix + "budget:{" + key + "}"
	return []string{b + ":tat", b + ":pause"}
}

// take: KEYS tat, pause; ARGV interval (µs per unit), burst (units), cost
// (units), headroom (µs the bucket must hold beyond cost, up to full). Returns
// 0 when taken, or the µs to wait.
var take = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst, cost, headroom = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return math.ceil(pause - now) end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local slack = (burst - cost) * interval - headroom
if slack < 0 then slack = 0 end
local allow = tat - slack
if allow > now then return math.ceil(allow - now) end
tat = tat + cost * interval
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return 0
`)

// level: KEYS tat, pause; ARGV interval, burst, available (units at most
// left in the bucket now), pause (µs). The bucket keeps at most available
// units, and takes nothing for pause µs.
var level = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst, available, pause = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = now + (burst - available) * interval
if tat < floor then
  redis.call('SET', KEYS[1], string.format('%.0f', floor), 'PX', math.ceil((floor - now) / 1000) + 1000)
end
if pause > 0 then
  local untl = now + pause
  local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
  if untl > cur then
    redis.call('SET', KEYS[2], string.format('%.0f', untl), 'PX', math.ceil(pause / 1000) + 1000)
  end
end
return 0
`)

func interval(perSecond float64) float64 { return 1e6 / perSecond }

// Take takes cost units from key's bucket (perSecond refill, burst size)
// when the bucket holds them plus headroom's worth (capped at full), and
// returns 0; otherwise it takes nothing and returns how long to wait.
func (l *Limiter) Take(ctx context.Context, key string, perSecond float64, burst int, cost float64, headroom time.Duration) (time.Duration, error) {
	if perSecond <= 0 || burst <= 0 {
		return 0, fmt.Errorf("budget %s: rate %v and burst %d must be positive", key, perSecond, burst)
	}
	cost = math.Min(cost, float64(burst))
	us, err := take.Run(ctx, l.rdb, l.keys(key), interval(perSecond), burst, cost, headroom.Microseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("budget %s: %w", key, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// Refund gives units back to key's bucket (an estimate that overshot what
// the marketplace charged), never beyond full.
func (l *Limiter) Refund(ctx context.Context, key string, perSecond float64, burst int, units float64) error {
	if perSecond <= 0 || burst <= 0 || units <= 0 {
		return nil
	}
	// take with a negative cost and no headroom always succeeds; the script
	// keeps the bucket from holding more than full.
	if err := take.Run(ctx, l.rdb, l.keys(key), interval(perSecond), burst, -units, 0).Err(); err != nil {
		return fmt.Errorf("budget %s: %w", key, err)
	}
	return nil
}

// Level leaves at most available units in key's bucket (0 empties it) and
// pauses it for at least pause: the marketplace said so, for every replica.
func (l *Limiter) Level(ctx context.Context, key string, perSecond float64, burst int, available float64, pause time.Duration) error {
	if perSecond <= 0 || burst <= 0 {
		return fmt.Errorf("budget %s: rate %v and burst %d must be positive", key, perSecond, burst)
	}
	available = math.Max(0, math.Min(available, float64(burst)))
	if err := level.Run(ctx, l.rdb, l.keys(key), interval(perSecond), burst, available, max(pause, 0).Microseconds()).Err(); err != nil {
		return fmt.Errorf("budget %s: %w", key, err)
	}
	return nil
}

// Locks are mutexes in Redis, one per key: SET NX with a random token and a
// short expiry that the holder keeps extending, so a replica that dies frees
// its locks within TTL.
type Locks struct {
	rdb    goredis.UniversalClient
	prefix string
	// TTL is how long a lock outlives a holder that stopped extending it;
	// Poll how often a waiter tries again.
	TTL, Poll time.Duration
}

// NewLocks keeps its keys under prefix.
func NewLocks(rdb goredis.UniversalClient, prefix string) *Locks {
	return &Locks{rdb: rdb, prefix: prefix, TTL: 15 * time.Second, Poll: 25 * time.Millisecond}
}

var release = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

var extend = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

// Lock takes key's lock, waiting until ctx ends, and returns its release.
// An error means Redis could not be asked or ctx ended first.
func (l *Locks) Lock(ctx context.Context, key string) (func(), error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token, k := hex.EncodeToString(b[:]), l.prefix+"lock:"+key
	for {
		ok, err := l.rdb.SetNX(ctx, k, token, l.TTL).Result()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", key, err)
		}
		if ok {
			break
		}
		t := time.NewTimer(l.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lock %s: %w", key, ctx.Err())
		case <-t.C:
		}
	}
	return l.hold(k, token), nil
}

// TryLock takes key's lock if it is free and returns its release; ok is
// false when another holder has it. An error means Redis could not be asked.
func (l *Locks) TryLock(ctx context.Context, key string) (release func(), ok bool, err error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token, k := hex.EncodeToString(b[:]), l.prefix+"lock:"+key
	ok, err = l.rdb.SetNX(ctx, k, token, l.TTL).Result()
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", key, err)
	}
	if !ok {
		return nil, false, nil
	}
	return l.hold(k, token), true, nil
}

// hold keeps extending the lock at k held with token until the returned
// release, which deletes it if it is still ours.
func (l *Locks) hold(k, token string) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(l.TTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				ectx, cancel := context.WithTimeout(context.Background(), l.TTL/3)
				_ = extend.Run(ectx, l.rdb, []string{k}, token, l.TTL.Milliseconds()).Err()
				cancel()
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = release.Run(rctx, l.rdb, []string{k}, token).Err()
	}
}
