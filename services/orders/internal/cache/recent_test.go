package cache_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/services/orders/internal/cache"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// TestRecentWrites: a mark routes only its user's lists to the primary, for
// the window; when Redis cannot answer, lists read the primary, and Redis
// is not asked again for a second.
func TestRecentWrites(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	rw := cache.NewRecentWrites(rdb, prefix, 300*time.Millisecond, testenv.Log())
	rw.SetTimeout(2 * time.Second) // a slow answer reads as "recent" by design
	if rw.Recent(ctx, "alice") {
		t.Fatal("alice is recent before any write")
	}
	rw.Mark(ctx, "alice")
	if !rw.Recent(ctx, "alice") || rw.Recent(ctx, "bob") {
		t.Fatalf("after alice's write: alice %v, bob %v; want true, false", rw.Recent(ctx, "alice"), rw.Recent(ctx, "bob"))
	}
	time.Sleep(400 * time.Millisecond)
	if rw.Recent(ctx, "alice") {
		t.Fatal("alice still recent after the window")
	}

	dead := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: 20 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	down := cache.NewRecentWrites(dead, prefix, time.Minute, testenv.Log())
	down.Mark(ctx, "alice") // logged, not fatal
	start := time.Now()
	if !down.Recent(ctx, "bob") {
		t.Fatal("with Redis down a list must read the primary")
	}
	first := time.Since(start)
	start = time.Now()
	for range 100 {
		if !down.Recent(ctx, "bob") {
			t.Fatal("with Redis down a list must read the primary")
		}
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("100 checks while Redis is skipped took %s", d)
	}
	t.Logf("Redis down: first check %s, then 100 checks without asking Redis", first.Round(time.Microsecond))
}
