// Package projection is the Redis read model of products: one hash per
// product (its version and a JSON view holding only what clients show) and a
// sorted set of listed product ids for keyset pages. Writes go through a Lua
// script that compares versions, so an older change never overwrites a newer
// one whatever order writers run in.
//
// Every key shares one hash tag ({prefix}) so the script's keys live in one
// cluster slot.
package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/projfmt"
)

// Store implements app.Projection.
type Store struct {
	rdb    goredis.UniversalClient
	prefix string
	raw    string
	wire   func(domain.ProductView) ([]byte, error)
}

var _ app.Projection = (*Store)(nil)

// New returns a projection store whose keys start with {prefix}.
func New(rdb goredis.UniversalClient, prefix string) *Store {
	return &Store{rdb: rdb, prefix: "{" + prefix + "}", raw: prefix}
}

// WithWire makes every write also store the view's API answer (see
// services/catalog/projfmt), encoded by wire.
func (s *Store) WithWire(wire func(domain.ProductView) ([]byte, error)) *Store {
	s.wire = wire
	return s
}

func (s *Store) productKey(id string) string { return projfmt.Key(s.raw, id) }
func (s *Store) indexKey() string            { return s.prefix + ":products" }
func (s *Store) completeKey() string         { return s.prefix + ":products:complete" }

// put writes the view when its version is not older than the stored one and
// lists or unlists the product accordingly.
// KEYS: product hash, index. ARGV: version, doc, active (1/0), id, API
// answer ("" for none).
var put = goredis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if cur > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'doc', ARGV[2])
if redis.call('HDEL', KEYS[1], 'missing') == 1 then
  redis.call('PERSIST', KEYS[1])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'api', ARGV[5])
else
  redis.call('HDEL', KEYS[1], 'api')
end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], 0, ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
end
return 1
`)

// Put stores v unless a newer version is already there.
func (s *Store) Put(ctx context.Context, v domain.ProductView) (bool, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("encode view %s: %w", v.ID, err)
	}
	active := "0"
	if v.Active {
		active = "1"
	}
	var api []byte
	if s.wire != nil {
		if api, err = s.wire(v); err != nil {
			return false, fmt.Errorf("encode view %s: %w", v.ID, err)
		}
	}
	n, err := put.Run(ctx, s.rdb, []string{s.productKey(v.ID), s.indexKey()},
		strconv.FormatInt(v.Version, 10), doc, active, v.ID, api).Int()
	if err != nil {
		return false, fmt.Errorf("redis put %s: %w", v.ID, err)
	}
	return n == 1, nil
}

// Get returns the stored view of id, or whether a miss of it is remembered.
func (s *Store) Get(ctx context.Context, id string) (domain.ProductView, bool, bool, error) {
	vals, err := s.rdb.HMGet(ctx, s.productKey(id), projfmt.FieldDoc, projfmt.FieldMissing).Result()
	if err != nil {
		return domain.ProductView{}, false, false, fmt.Errorf("redis get %s: %w", id, err)
	}
	doc, _ := vals[0].(string)
	if doc == "" {
		return domain.ProductView{}, false, vals[1] != nil, nil
	}
	var v domain.ProductView
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return domain.ProductView{}, false, false, nil // unreadable: treat as a miss, it will be repaired
	}
	return v, true, false, nil
}

// markMissing writes the miss marker unless a view is stored (a view
// projected since the caller read PostgreSQL wins). KEYS: product hash.
// ARGV: ttl ms.
var markMissing = goredis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'v') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'missing', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// MarkMissing remembers for ttl that PostgreSQL has no product id.
func (s *Store) MarkMissing(ctx context.Context, id string, ttl time.Duration) error {
	if err := markMissing.Run(ctx, s.rdb, []string{s.productKey(id)}, max(ttl.Milliseconds(), 1)).Err(); err != nil {
		return fmt.Errorf("redis mark missing %s: %w", id, err)
	}
	return nil
}

// Page reads up to limit listed ids after afterID and their views in two
// round trips.
func (s *Store) Page(ctx context.Context, afterID string, limit int) ([]string, []*domain.ProductView, bool, error) {
	start := "-"
	if afterID != "" {
		start = "(" + afterID
	}
	pipe := s.rdb.Pipeline()
	complete := pipe.Exists(ctx, s.completeKey())
	rng := pipe.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: s.indexKey(), Start: start, Stop: "+", ByLex: true, Count: int64(limit)})
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, false, fmt.Errorf("redis page: %w", err)
	}
	if complete.Val() == 0 {
		return nil, nil, false, nil
	}
	ids := rng.Val()
	views := make([]*domain.ProductView, len(ids))
	if len(ids) == 0 {
		return ids, views, true, nil
	}
	pipe = s.rdb.Pipeline()
	cmds := make([]*goredis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGet(ctx, s.productKey(id), "doc")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, nil, false, fmt.Errorf("redis page docs: %w", err)
	}
	for i, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue // missing: the caller repairs it
		}
		var v domain.ProductView
		if json.Unmarshal(b, &v) == nil {
			views[i] = &v
		}
	}
	return ids, views, true, nil
}

// prune removes an id from the index only if no view of it exists.
// KEYS: product hash, index. ARGV: id.
var prune = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return redis.call('ZREM', KEYS[2], ARGV[1])
`)

// Prune drops listed ids that are not in keep and have no view (a product
// that exists has a view, written with its own listing decision).
func (s *Store) Prune(ctx context.Context, keep map[string]bool) (int, error) {
	ids, err := s.rdb.ZRange(ctx, s.indexKey(), 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("redis prune: %w", err)
	}
	n := 0
	for _, id := range ids {
		if keep[id] {
			continue
		}
		removed, err := prune.Run(ctx, s.rdb, []string{s.productKey(id), s.indexKey()}, id).Int()
		if err != nil {
			return n, fmt.Errorf("redis prune %s: %w", id, err)
		}
		n += removed
	}
	return n, nil
}

// MarkComplete records that the index holds every listed product.
func (s *Store) MarkComplete(ctx context.Context) error {
	if err := s.rdb.Set(ctx, s.completeKey(), "1", 0).Err(); err != nil {
		return fmt.Errorf("redis mark complete: %w", err)
	}
	return nil
}

// Complete reports whether the index was marked complete.
func (s *Store) Complete(ctx context.Context) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.completeKey()).Result()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return n == 1, nil
}

// Version returns the stored version of a product's view (-1 when absent).
func (s *Store) Version(ctx context.Context, id string) (int64, error) {
	v, err := s.rdb.HGet(ctx, s.productKey(id), "v").Int64()
	if errors.Is(err, goredis.Nil) {
		return -1, nil
	}
	return v, err
}
