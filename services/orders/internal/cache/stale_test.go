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

// refuseWrites fails the cache's write scripts (fills and tombstones) while
// scripts is on, and DEL too while del is on, and lets reads through: Redis
// that serves the old entry but does not take its invalidation (at
// maxmemory with noeviction it refuses the scripts but takes a DEL).
type refuseWrites struct{ scripts, del *atomic.Bool }

func (refuseWrites) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (f refuseWrites) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if (f.scripts.Load() && strings.HasPrefix(cmd.Name(), "eval")) || (f.del.Load() && cmd.Name() == "del") {
			err := errors.New("injected: redis refuses the write")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (refuseWrites) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// Invalidations fail while the order keeps changing: the writing process
// reads every change fresh at once; the other readers of the key — another
// replica's cache and the gateway's direct read of the entry — are fresh at
// once when Redis still takes a DEL, and otherwise within a second of Redis
// taking writes again, not after the TTL.
func TestFailedInvalidationIsBoundedToSeconds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		delToo   bool
		wantSeen bool // the gateway may see an old entry during the fault
	}{
		{name: "scripts refused, DEL taken", delToo: false, wantSeen: false},
		{name: "every write refused", delToo: true, wantSeen: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			staleInvalidation(t, tc.delToo, tc.wantSeen)
		})
	}
}

func staleInvalidation(t *testing.T, delToo, wantSeen bool) {
	shared, prefix := testenv.Redis(t)
	var scripts, del atomic.Bool
	wc := goredis.NewClient(&goredis.Options{Addr: testenv.RedisAddr()})
	wc.AddHook(refuseWrites{&scripts, &del})
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
	scripts.Store(true)
	del.Store(delToo)
	const changes = 5
	var writerFresh, gatewayStale, replicaStale int
	faultStart := time.Now()
	for v := int64(2); v <= changes+1; v++ {
		dbVersion.Store(v) // the change commits, and its invalidation fails
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
		if o, err := replica.GetOrLoad(ctx, id, "", load); err == nil && o.Version() < v {
			replicaStale++
		}
	}
	faultFor := time.Since(faultStart)
	scripts.Store(false)
	del.Store(false)
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
	t.Logf("STALE ORDER CACHE (DEL refused too: %v) — %d changes whose invalidation Redis refused (%v)", delToo, changes, faultFor.Round(time.Millisecond))
	t.Logf("  writer's own reads fresh: %d/%d; stale reads during the fault: gateway %d/%d, other replica %d/%d",
		writerFresh, changes, gatewayStale, changes, replicaStale, changes)
	t.Logf("  gateway and other replica fresh %v after Redis took writes again (TTL %v)", freshAfter.Round(time.Millisecond), cfg.TTL)
	if writerFresh != changes {
		t.Errorf("the writer read %d of %d changes stale", changes-writerFresh, changes)
	}
	if !wantSeen && (gatewayStale != 0 || replicaStale != 0) {
		t.Errorf("with DEL taken, readers saw %d (gateway) and %d (replica) old entries", gatewayStale, replicaStale)
	}
	if wantSeen && gatewayStale == 0 {
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
