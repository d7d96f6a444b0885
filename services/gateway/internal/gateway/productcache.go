package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/restjson"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	"github.com/printfleet/printfleet/services/catalog/projfmt"
)

// productRoute is the read the gateway may answer from the catalog's
// projection.
const productRoute = "/v1/products/{product_id}"

// ProductProjection lets the gateway answer GET /v1/products/{product_id}
// from the catalog's Redis projection (format: services/catalog/projfmt),
// the same hash the catalog itself answers from: for any caller but an
// admin (an admin's answer comes from PostgreSQL), and only for a listed
// product. A miss, an unlisted product, an admin, Redis trouble: the catalog
// answers over gRPC as before (and repairs the projection on a miss).
type ProductProjection struct {
	Redis  goredis.UniversalClient
	Prefix string
	// Timeout bounds the Redis read (default 50ms).
	Timeout time.Duration
	// SkipFor is how long Redis is skipped after it failed (default 1s).
	SkipFor time.Duration

	skipUntil atomic.Int64
}

func (c *ProductProjection) defaults() {
	if c.Prefix == "" {
		c.Prefix = projfmt.DefaultPrefix
	}
	shortcutDefaults(&c.Timeout, &c.SkipFor)
}

// serveProjectedProduct answers from the projection and reports whether it
// did.
func (g *Gateway) serveProjectedProduct(w http.ResponseWriter, r *http.Request, p principal.Principal, id string) bool {
	c := g.o.ProductProjection
	if c == nil || c.Redis == nil || p.IsAdmin() || id == "" {
		return false
	}
	api, ok := readShortcut(r, &c.skipUntil, c.Timeout, c.SkipFor, func(ctx context.Context) *goredis.StringCmd {
		return c.Redis.HGet(ctx, projfmt.Key(c.Prefix, id), projfmt.FieldAPI)
	})
	if !ok {
		return false
	}
	var prod catalogv1.Product
	if err := proto.Unmarshal([]byte(api), &prod); err != nil || prod.GetId() != id || !prod.GetActive() {
		return false
	}
	return writeCached(w, &prod)
}

// shortcutDefaults fills the Redis read bounds of OrderCache and
// ProductProjection.
func shortcutDefaults(timeout, skipFor *time.Duration) {
	if *timeout <= 0 {
		*timeout = 50 * time.Millisecond
	}
	if *skipFor <= 0 {
		*skipFor = time.Second
	}
}

// readShortcut reads the Redis value a cached answer is made from (for
// serveCachedOrder and serveProjectedProduct): never in grpc-gateway's
// trailer mode, bounded by timeout, and not at all for skipFor after Redis
// failed (a miss is not a failure). ok is false whenever the service must
// answer instead.
func readShortcut(r *http.Request, skipUntil *atomic.Int64, timeout, skipFor time.Duration,
	cmd func(context.Context) *goredis.StringCmd) (_ string, ok bool) {
	if strings.Contains(strings.ToLower(r.Header.Get("TE")), "trailers") {
		return "", false
	}
	now := time.Now().UnixNano()
	if now < skipUntil.Load() {
		return "", false
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	v, err := cmd(ctx).Result()
	cancel()
	if err != nil {
		if err != goredis.Nil && r.Context().Err() == nil {
			skipUntil.Store(now + int64(skipFor))
		}
		return "", false
	}
	return v, true
}

// writeCached writes m as the generated handler would (200, JSON).
func writeCached(w http.ResponseWriter, m proto.Message) bool {
	body, err := restjson.Append(make([]byte, 0, 1024), m)
	if err != nil {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	return true
}
