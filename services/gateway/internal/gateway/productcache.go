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
	if c.Timeout <= 0 {
		c.Timeout = 50 * time.Millisecond
	}
	if c.SkipFor <= 0 {
		c.SkipFor = time.Second
	}
}

// serveProjectedProduct answers from the projection and reports whether it
// did.
func (g *Gateway) serveProjectedProduct(w http.ResponseWriter, r *http.Request, p principal.Principal, id string) bool {
	c := g.o.ProductProjection
	if c == nil || c.Redis == nil || p.IsAdmin() || id == "" ||
		strings.Contains(strings.ToLower(r.Header.Get("TE")), "trailers") { // grpc-gateway's trailer mode
		return false
	}
	now := time.Now().UnixNano()
	if now < c.skipUntil.Load() {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.Timeout)
	api, err := c.Redis.HGet(ctx, projfmt.Key(c.Prefix, id), projfmt.FieldAPI).Bytes()
	cancel()
	if err != nil {
		if err != goredis.Nil && r.Context().Err() == nil {
			c.skipUntil.Store(now + int64(c.SkipFor))
		}
		return false
	}
	var prod catalogv1.Product
	if err := proto.Unmarshal(api, &prod); err != nil || prod.GetId() != id || !prod.GetActive() {
		return false
	}
	return writeCached(w, &prod)
}

// writeCached writes m as the generated handler would (200, JSON).
func writeCached(w http.ResponseWriter, m proto.Message) bool {
	body, err := appendMessage(make([]byte, 0, 1024), m.ProtoReflect())
	if err != nil {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	return true
}
