// Package redistest gives a test a client on the test Redis and a key prefix
// of its own, so that tests running at once never see each other's keys.
package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
)

// Addr is the test Redis: PRINTFLEET_TEST_REDIS_ADDR, default 127.0.0.1:6379.
func Addr() string {
	if a := os.Getenv("PRINTFLEET_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// New returns a client on the test Redis and a key prefix unique to t; keys
// under the prefix are deleted when t ends. It skips t with -short.
func New(t testing.TB) (goredis.UniversalClient, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis (skipped with -short)")
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: Addr(), PoolSize: 128, PoolTimeout: 5 * time.Second,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, DialTimeout: time.Second})
	prefix := "test:" + uuid.NewString()[:12] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}
