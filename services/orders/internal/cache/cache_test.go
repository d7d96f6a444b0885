package cache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/postgres"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/cachefmt"
	"github.com/printfleet/printfleet/services/orders/internal/cache"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// orderAt is a valid order with the given id at version v.
func orderAt(t testing.TB, id string, v int64) *domain.Order {
	t.Helper()
	usd := func(n int64) domain.Money { return domain.MustMoney(n, "USD") }
	o, err := domain.UnmarshalOrderFromDatabase(domain.OrderFields{
		ID: id, UserID: "alice", Status: domain.StatusPending, Currency: "USD",
		Subtotal: usd(100), Shipping: usd(0), Discount: usd(0), Total: usd(100), PaymentMethod: domain.PaymentMethodCard,
		Items:   []domain.ItemFields{{ID: uuid.NewString(), VariantID: uuid.NewString(), Quantity: 1, UnitPrice: usd(100), LineTotal: usd(100)}},
		Version: v, CreatedAt: time.Unix(1700000000, 0), UpdatedAt: time.Unix(1700000000, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// step is one action of an interleaving.
type step struct {
	actor string // "r" (reader) or "w0", "w1" (writers)
	n     int    // the actor's n-th action
}

// interleave returns a random order of a reader's 2 steps (read the
// database on a miss, then set) and each writer's 2 steps (commit, then
// invalidate), keeping each actor's own order.
func interleave(rng *rand.Rand, writers int) []step {
	left := map[string]int{"r": 2}
	actors := []string{"r"}
	for i := range writers {
		a := fmt.Sprint("w", i)
		left[a] = 2
		actors = append(actors, a)
	}
	var out []step
	for len(actors) > 0 {
		i := rng.IntN(len(actors))
		a := actors[i]
		out = append(out, step{a, 2 - left[a]})
		if left[a]--; left[a] == 0 {
			actors = append(actors[:i], actors[i+1:]...)
		}
	}
	return out
}

// cacheUnderTest is what an interleaving drives: the real cache, or a naive
// one (delete on write, plain set on miss) to show the test can fail.
type cacheUnderTest interface {
	getOrLoad(ctx context.Context, id string, load func(context.Context) (*domain.Order, error)) (*domain.Order, error)
	invalidate(ctx context.Context, id string, v int64)
}

type real struct{ c *cache.Orders }

func (r real) getOrLoad(ctx context.Context, id string, load func(context.Context) (*domain.Order, error)) (*domain.Order, error) {
	return r.c.GetOrLoad(ctx, id, "", load)
}
func (r real) invalidate(ctx context.Context, id string, v int64) { r.c.Invalidate(ctx, id, v) }

type naive struct {
	rdb    goredis.UniversalClient
	prefix string
	t      testing.TB
}

func (n naive) getOrLoad(ctx context.Context, id string, load func(context.Context) (*domain.Order, error)) (*domain.Order, error) {
	if s, err := n.rdb.Get(ctx, n.prefix+id).Result(); err == nil {
		v, _ := strconv.ParseInt(s, 10, 64)
		return orderAt(n.t, id, v), nil
	}
	o, err := load(ctx)
	if err == nil {
		n.rdb.Set(ctx, n.prefix+id, o.Version(), time.Minute)
	}
	return o, err
}
func (n naive) invalidate(ctx context.Context, id string, _ int64) { n.rdb.Del(ctx, n.prefix+id) }

// runInterleavings plays count random interleavings of a read-miss racing
// one or two writes, each on a fresh order, and returns how many left the
// cache serving an older version than the database holds.
func runInterleavings(t *testing.T, c cacheUnderTest, count int, seed uint64) int {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed))
	stale := 0
	for i := range count {
		id := uuid.NewString()
		var db atomic.Int64 // the committed version
		db.Store(1)
		var (
			readDone = make(chan struct{})
			proceed  = make(chan struct{})
			done     = make(chan error, 1)
		)
		plan := interleave(rng, 1+rng.IntN(2))
		for _, s := range plan {
			switch {
			case s.actor == "r" && s.n == 0: // miss and read the database, then stall
				go func() {
					_, err := c.getOrLoad(ctx, id, func(context.Context) (*domain.Order, error) {
						v := db.Load()
						close(readDone)
						<-proceed
						return orderAt(t, id, v), nil
					})
					done <- err
				}()
				<-readDone
			case s.actor == "r": // the (possibly late) set
				close(proceed)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			case s.n == 0: // a write commits
				db.Add(1)
			default: // and invalidates, after its commit
				c.invalidate(ctx, id, db.Load())
			}
		}
		got, err := c.getOrLoad(ctx, id, func(context.Context) (*domain.Order, error) { return orderAt(t, id, db.Load()), nil })
		if err != nil {
			t.Fatal(err)
		}
		if got.Version() != db.Load() {
			stale++
			if stale == 1 {
				t.Logf("interleaving %d %v: served version %d, database has %d", i, plan, got.Version(), db.Load())
			}
		}
	}
	return stale
}

func TestNoStaleReadAfterAnyInterleaving(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, cache.Config{Prefix: prefix}, testenv.Log())
	if stale := runInterleavings(t, real{c}, 10_000, 1); stale != 0 {
		t.Fatalf("%d of 10000 interleavings left a stale entry", stale)
	}
	// The same interleavings do catch the classic race in a naive cache.
	if stale := runInterleavings(t, naive{rdb, prefix + "naive:", t}, 200, 1); stale == 0 {
		t.Fatal("the interleavings never produce the read/write race; the test proves nothing")
	}
}

func TestConcurrentReadersAndWritersConverge(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	c := cache.New(rdb, cache.Config{Prefix: prefix}, testenv.Log())
	ctx := context.Background()
	id := uuid.NewString()
	var db atomic.Int64
	db.Store(1)
	load := func(context.Context) (*domain.Order, error) {
		v := db.Load()
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond) // widen the race
		return orderAt(t, id, v), nil
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.GetOrLoad(ctx, id, "", load); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 300 {
		v := db.Add(1)
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		c.Invalidate(ctx, id, v)
	}
	close(stop)
	wg.Wait()
	got, err := c.GetOrLoad(ctx, id, "", load)
	if err != nil || got.Version() != db.Load() {
		t.Fatalf("after the storm: version %v (%v), database has %d", got.Version(), err, db.Load())
	}
}

func TestHotKeyStampedeHitsTheDatabaseAtMostThrice(t *testing.T) {
	t.Parallel()
	counter := &keyCounter{}
	f := testenv.NewFixture("alice")
	rdb, prefix := testenv.Redis(t)
	s := testenv.Serve(t, f, testenv.Options{Redis: rdb, RedisPrefix: prefix, DBOptions: []postgres.Option{postgres.WithTracer(counter)}})
	o, err := s.Client.CreateOrder(s.User("alice", "k"), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	// The create primed the cache; drop the entry so the key is cold.
	if err := rdb.Del(context.Background(), cachefmt.Key(prefix, o.Id)).Err(); err != nil {
		t.Fatal(err)
	}
	// Count only the reads of this order: the server's own background work
	// (the outbox relay's polls, the pool's health checks) queries the same
	// database and has nothing to do with the stampede.
	counter.key.Store(&o.Id)
	const n = 1000
	var wg sync.WaitGroup
	start := make(chan struct{})
	var failed atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id})
			if err != nil || got.Id != o.Id {
				failed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	queries := counter.n.Load()
	t.Logf("%d concurrent cold GETs → %d database reads of the order", n, queries)
	if failed.Load() > 0 {
		t.Fatalf("%d GETs failed", failed.Load())
	}
	if queries > 3 || queries < 1 {
		t.Fatalf("%d database queries for one cold key, want 1..3", queries)
	}
}

// keyCounter counts the SELECTs that name one key among their arguments.
type keyCounter struct {
	key atomic.Pointer[string]
	n   atomic.Int64
}

func (c *keyCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	key := c.key.Load()
	if key == nil || !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(d.SQL)), "SELECT") {
		return ctx
	}
	for _, a := range d.Args {
		if s, ok := a.(string); ok && s == *key {
			c.n.Add(1)
			break
		}
	}
	return ctx
}

func (c *keyCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestRedisDownReadsPostgresWithBoundedConcurrency(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there any more
	rdb := goredis.NewClient(&goredis.Options{Addr: dead, DialTimeout: 100 * time.Millisecond, MaxRetries: 0})
	defer rdb.Close()
	c := cache.New(rdb, cache.Config{Prefix: "x:", FallbackConcurrency: 3}, testenv.Log())
	var inflight, peak atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uuid.NewString()
			o, err := c.GetOrLoad(context.Background(), id, "", func(context.Context) (*domain.Order, error) {
				n := inflight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(5 * time.Millisecond)
				inflight.Add(-1)
				return orderAt(t, id, 1), nil
			})
			if err != nil || o.ID() != id {
				t.Errorf("get %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 3 {
		t.Fatalf("%d database reads at once with Redis down, want ≤ 3", p)
	}
	// Load errors pass through unchanged.
	boom := errors.New("boom")
	if _, err := c.GetOrLoad(context.Background(), uuid.NewString(), "", func(context.Context) (*domain.Order, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("load error %v, want boom", err)
	}
}

// TestEntryCarriesTheAPIAnswer: a filled entry holds, after the order's own
// JSON, the wire encoding of exactly what GetOrder answers (the gateway
// serves it to the owner; see cachefmt).
func TestEntryCarriesTheAPIAnswer(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	rdb, prefix := testenv.Redis(t)
	s := testenv.Serve(t, f, testenv.Options{Redis: rdb, RedisPrefix: prefix})
	o, err := s.Client.CreateOrder(s.User("alice", "k"), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(context.Background(), cachefmt.Key(prefix, o.Id)).Result()
	if err != nil {
		t.Fatalf("no entry after a read: %v", err)
	}
	e, ok := cachefmt.Decode(raw)
	if !ok || e.Version != got.Version || e.Wire == "" {
		t.Fatalf("entry %q", raw)
	}
	var wire ordersv1.Order
	if err := proto.Unmarshal([]byte(e.Wire), &wire); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&wire, got) || wire.UserId != "alice" {
		t.Fatalf("entry carries\n%v\nGetOrder answered\n%v", &wire, got)
	}
}
