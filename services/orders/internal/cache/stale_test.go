package cache_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/services/orders/cachefmt"
	"github.com/printfleet/printfleet/services/orders/internal/cache"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// refuseScripts fails the cache's write scripts (fills and tombstones) while
// on, and lets reads through: Redis that serves the old entry but does not
// take its invalidation.
type refuseScripts struct{ on *atomic.Bool }

func (refuseScripts) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (f refuseScripts) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if f.on.Load() && strings.HasPrefix(cmd.Name(), "eval") {
			err := errors.New("injected: redis refuses the write")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (refuseScripts) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// Invalidations fail while the order keeps changing: the writing process
// reads every change fresh at once, and the other readers of the key —
// another replica's cache and the gateway's direct read of the entry — are
// fresh within a second of Redis taking writes again, not after the TTL.
func TestFailedInvalidationIsBoundedToSeconds(t *testing.T) {
	t.Parallel()
	shared, prefix := testenv.Redis(t)
	var refuse atomic.Bool
	wc := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr()})
	wc.AddHook(refuseScripts{&refuse})
	t.Cleanup(func() { _ = wc.Close() })
	cfg := cache.Config{Prefix: prefix, TTL: 10 * time.Minute, RetryEvery: 100 * time.Millisecond}
	writer := cache.New(wc, cfg, testenv.Log())
	replica := cache.New(shared, cfg, testenv.Log())
	ctx := context.Background()

	id := uuid.NewString()
	var dbVersion atomic.Int64 // PostgreSQL's version of the order
	dbVersion.Store(1)
	load := func(context.Context) (*domain.Order, error) { return orderAt(t, id, dbVersion.Load()), nil }
	// The gateway's read: the entry straight from Redis, 0 on a miss.
	gateway := func() int64 {
		raw, err := shared.Get(ctx, cachefmt.Key(prefix, id)).Result()
		if err != nil {
			return 0
		}
		e, ok := cachefmt.Decode(raw)
		if !ok {
			return 0
		}
		return e.Version
	}
	if o, err := replica.GetOrLoad(ctx, id, "", load); err != nil || o.Version() != 1 || gateway() != 1 {
		t.Fatalf("fill: %v %v, gateway %d", o, err, gateway())
	}

	refuse.Store(true)
	const changes = 5
	var writerFresh, gatewayStale int
	faultStart := time.Now()
	for v := int64(2); v <= changes+1; v++ {
		dbVersion.Store(v) // the change commits…
		writer.Invalidate(ctx, id, v)
		o, err := writer.GetOrLoad(ctx, id, "", load)
		if err != nil {
			t.Fatal(err)
		}
		if o.Version() == v {
			writerFresh++
		}
		if g := gateway(); g != 0 && g < v {
			gatewayStale++
		}
	}
	faultFor := time.Since(faultStart)
	refuse.Store(false)
	healed := time.Now()
	var freshAfter time.Duration
	for time.Since(healed) < 10*time.Second {
		g := gateway()
		o, err := replica.GetOrLoad(ctx, id, "", load)
		if err == nil && o.Version() == changes+1 && (g == 0 || g == changes+1) {
			freshAfter = time.Since(healed)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("STALE ORDER CACHE — %d changes while Redis refused every invalidation (%v)", changes, faultFor.Round(time.Millisecond))
	t.Logf("  writer's own reads fresh: %d/%d; gateway reads stale during the fault: %d/%d", writerFresh, changes, gatewayStale, changes)
	t.Logf("  gateway and other replica fresh %v after Redis took writes again (TTL %v)", freshAfter.Round(time.Millisecond), cfg.TTL)
	if writerFresh != changes {
		t.Errorf("the writer read %d of %d changes stale", changes-writerFresh, changes)
	}
	if gatewayStale == 0 {
		t.Errorf("the fault did not leave the entry stale: the test proves nothing")
	}
	if freshAfter == 0 || freshAfter > 2*time.Second {
		t.Errorf("readers still stale %v after recovery", freshAfter)
	}
	// Once the retry has landed, the writer uses Redis again.
	if o, err := writer.GetOrLoad(ctx, id, "", load); err != nil || o.Version() != changes+1 {
		t.Fatalf("after recovery: %v %v", o, err)
	}
}
