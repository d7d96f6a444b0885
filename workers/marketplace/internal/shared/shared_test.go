package shared_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/shared"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

func TestLimiterTakesABurstThenPacesAndLevels(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	// Two limiters on one Redis stand for two replicas.
	a, b := shared.NewLimiter(rdb, prefix), shared.NewLimiter(rdb, prefix)
	taken := 0
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wait, err := l.Take(ctx, "amazon/s1", 10, 4, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if wait == 0 {
			taken++
		} else if wait > 110*time.Millisecond {
			t.Fatalf("wait %v for one request at 10/s", wait)
		}
	}
	if taken != 4 {
		t.Fatalf("took %d at once from a bucket of 4", taken)
	}
	// Another key is another bucket.
	if wait, err := a.Take(ctx, "amazon/s2", 10, 4, 1, 0); err != nil || wait != 0 {
		t.Fatalf("other key: wait %v, %v", wait, err)
	}
	// Level empties the bucket and pauses it for every replica.
	if err := a.Level(ctx, "amazon/s2", 10, 4, 0, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	wait, err := b.Take(ctx, "amazon/s2", 10, 4, 1, 0)
	if err != nil || wait < 250*time.Millisecond || wait > 300*time.Millisecond {
		t.Fatalf("after a 300ms pause: wait %v, %v", wait, err)
	}
	// A refund gives back what a cost estimate overshot.
	if err := a.Level(ctx, "shopify/s3", 50, 100, 20, 0); err != nil {
		t.Fatal(err)
	}
	if wait, _ := a.Take(ctx, "shopify/s3", 50, 100, 60, 0); wait < 700*time.Millisecond {
		t.Fatalf("60 points from 20 left at 50/s: wait %v", wait)
	}
	if err := a.Refund(ctx, "shopify/s3", 50, 100, 40); err != nil {
		t.Fatal(err)
	}
	if wait, _ := a.Take(ctx, "shopify/s3", 50, 100, 60, 0); wait != 0 {
		t.Fatalf("60 points after a refund of 40: wait %v", wait)
	}
}

func TestLocksExcludeAcrossReplicasAndOutliveNoHolder(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	a, b := shared.NewLocks(rdb, prefix), shared.NewLocks(rdb, prefix)
	a.TTL, b.TTL = 300*time.Millisecond, 300*time.Millisecond
	ctx := context.Background()
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := l.Lock(ctx, "store/shipment")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(120 * time.Millisecond) // longer than TTL/3: the lock is extended
			inside.Add(-1)
			release()
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d holders at once", most.Load())
	}
	// A holder that stops extending (a replica that died) frees the lock
	// after TTL; a waiter gives up when its context ends.
	if _, err := rdb.Set(ctx, prefix+"lock:dead", "someone", 300*time.Millisecond).Result(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := a.Lock(short, "dead"); err == nil {
		t.Fatal("took a lock another holder has")
	}
	start := time.Now()
	release, err := a.Lock(ctx, "dead")
	if err != nil {
		t.Fatal(err)
	}
	release()
	t.Logf("a dead holder's lock was taken over after %v (TTL 300ms)", time.Since(start).Round(10*time.Millisecond))
}

func TestTryLockTakesOnlyAFreeLockAndKeepsIt(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	a, b := shared.NewLocks(rdb, prefix), shared.NewLocks(rdb, prefix)
	a.TTL, b.TTL = 300*time.Millisecond, 300*time.Millisecond
	ctx := context.Background()
	release, ok, err := a.TryLock(ctx, "import/s1")
	if err != nil || !ok {
		t.Fatalf("first TryLock: ok %v, %v", ok, err)
	}
	// Held past its TTL: the holder extends it.
	time.Sleep(700 * time.Millisecond)
	if _, ok, err := b.TryLock(ctx, "import/s1"); err != nil || ok {
		t.Fatalf("second replica took a held lock: ok %v, %v", ok, err)
	}
	release()
	r2, ok, err := b.TryLock(ctx, "import/s1")
	if err != nil || !ok {
		t.Fatalf("TryLock after release: ok %v, %v", ok, err)
	}
	r2()
}
