package cache

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/services/orders/cachefmt"
	"github.com/printfleet/printfleet/services/orders/internal/app"
)

// RecentWrites is app.RecentWrites in Redis, shared by every orders replica:
// one key per user who changed an order, expiring after the window.
type RecentWrites struct {
	rdb     goredis.UniversalClient
	prefix  string
	window  time.Duration
	timeout time.Duration
	log     *slog.Logger
	// skipUntil (unix ns): after Redis failed, lists read the primary
	// without asking it for a second rather than pay its timeout each time.
	skipUntil atomic.Int64
}

var _ app.RecentWrites = (*RecentWrites)(nil)

// NewRecentWrites returns the marks under prefix (cachefmt.DefaultPrefix
// when empty), each kept for window: set it well above the replica's usual
// lag.
func NewRecentWrites(rdb goredis.UniversalClient, prefix string, window time.Duration, log *slog.Logger) *RecentWrites {
	if prefix == "" {
		prefix = cachefmt.DefaultPrefix
	}
	return &RecentWrites{rdb: rdb, prefix: prefix, window: window, timeout: 50 * time.Millisecond, log: log}
}

func (r *RecentWrites) key(user string) string { return r.prefix + "recent-write:" + user }

// Mark implements app.RecentWrites. A failed mark only means the user's
// next lists may lag behind their change by the replica's lag.
func (r *RecentWrites) Mark(ctx context.Context, user string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	if err := r.rdb.Set(ctx, r.key(user), "1", r.window).Err(); err != nil {
		r.log.WarnContext(ctx, "read-your-writes mark failed; the user's next lists may lag", "err", err)
	}
}

// Recent implements app.RecentWrites: Redis trouble reads the primary.
func (r *RecentWrites) Recent(ctx context.Context, user string) bool {
	now := time.Now().UnixNano()
	if now < r.skipUntil.Load() {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	n, err := r.rdb.Exists(cctx, r.key(user)).Result()
	if err != nil {
		if ctx.Err() == nil {
			r.skipUntil.Store(now + int64(time.Second))
		}
		return true
	}
	return n > 0
}
