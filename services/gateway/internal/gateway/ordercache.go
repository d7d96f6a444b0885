package gateway

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/cachefmt"
)

// orderRoute is the read the gateway may answer from the orders cache.
const orderRoute = "/v1/orders/{order_id}"

// OrderCache lets the gateway answer GET /v1/orders/{order_id} from the
// orders service's cache (format: services/orders/cachefmt) when the entry
// is there and the caller is certainly allowed to see it: its owner, or an
// admin, exactly the rule of orders' GetOrder. Everything else — a miss, a
// tombstone, an entry without the API answer, any other caller (orders then
// answers NOT_FOUND), Redis trouble — goes to orders over gRPC as before.
// The entry is the one orders itself would serve (orders invalidates it
// after every committed change and refuses stale refills), so the answer is
// as fresh as orders'.
type OrderCache struct {
	Redis  goredis.UniversalClient
	Prefix string
	// Timeout bounds the Redis read (default 50ms).
	Timeout time.Duration
	// SkipFor is how long Redis is skipped after it failed (default 1s).
	SkipFor time.Duration

	skipUntil atomic.Int64
}

func (c *OrderCache) defaults() {
	if c.Prefix == "" {
		c.Prefix = cachefmt.DefaultPrefix
	}
	shortcutDefaults(&c.Timeout, &c.SkipFor)
}

// serveCachedOrder answers from the cache and reports whether it did.
func (g *Gateway) serveCachedOrder(w http.ResponseWriter, r *http.Request, p principal.Principal, id string) bool {
	c := g.o.OrderCache
	if c == nil || c.Redis == nil || !p.Authenticated() || id == "" {
		return false
	}
	raw, ok := readShortcut(r, &c.skipUntil, c.Timeout, c.SkipFor, func(ctx context.Context) *goredis.StringCmd {
		return c.Redis.Get(ctx, cachefmt.Key(c.Prefix, id))
	})
	if !ok {
		return false
	}
	e, ok := cachefmt.Decode(raw)
	if !ok || e.Wire == "" {
		return false
	}
	var o ordersv1.Order
	if err := proto.Unmarshal([]byte(e.Wire), &o); err != nil || o.GetId() != id || o.GetUserId() == "" {
		return false
	}
	if !p.IsAdmin() && o.GetUserId() != p.Subject {
		return false
	}
	return writeCached(w, &o)
}
