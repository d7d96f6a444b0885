package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/platform/postgres"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// converged reports whether every product's projection equals its view in
// PostgreSQL, and the listing holds exactly the active products.
func (e *env) converged() (bool, string) {
	ctx := context.Background()
	ps, err := e.app.Store.Products(ctx, "", 1000, false, false)
	if err != nil {
		return false, err.Error()
	}
	active := 0
	for i := range ps {
		want, _ := json.Marshal(ps[i].View())
		got, found, _, err := e.app.Proj.Get(ctx, ps[i].ID)
		if err != nil || !found {
			return false, fmt.Sprintf("product %s: found=%v err=%v", ps[i].ID, found, err)
		}
		if b, _ := json.Marshal(got); string(b) != string(want) {
			return false, fmt.Sprintf("product %s: projection v%d, database v%d", ps[i].ID, got.Version, ps[i].Version)
		}
		if ps[i].Active {
			active++
		}
	}
	ids, _, complete, err := e.app.Proj.Page(ctx, "", 1000)
	if err != nil || !complete || len(ids) != active {
		return false, fmt.Sprintf("index: %d ids, %d active products, complete=%v, err=%v", len(ids), active, complete, err)
	}
	return true, ""
}

func TestProjectorKilledMidStreamConvergesAfterRestartAndRebuild(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partRelay)

	// The projector runs in its own "process" with its own connection, so it
	// can be killed: the connection drops with deliveries unacked.
	runProjector := func() (kill func()) {
		conn := e.dial()
		a, err := Build(Deps{DB: &postgres.DB{Primary: e.pool}, Redis: e.rdb, AMQP: conn, Log: e.log}, Options{RedisPrefix: e.prefix})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = a.runLoops(ctx, a.projectorLoop(e.queues.Projector)) // a killed consumer reports the lost connection
		}()
		return func() { conn.Close(); cancel(); <-done }
	}
	if err := e.conn.DeclareQueue(context.Background(), e.queues.Projector, eventsv1.KeyProductChanged); err != nil {
		t.Fatal(err)
	}
	kill := runProjector()

	ctx := context.Background()
	var ids []string
	for i := range 8 {
		p, err := e.app.Catalog.CreateProduct(ctx, adminCaller, domainProduct(int64(10+i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	// Writers keep changing products while the projector is killed midway.
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range 15 {
				id := ids[rand.N(len(ids))]
				p := domain.Product{Title: fmt.Sprintf("w%d-%d", w, i), Active: i%7 != 6}
				fields := []string{"title", "active"}
				if _, err := e.app.Catalog.UpdateProduct(ctx, adminCaller, id, app.ProductPatch{Product: p, Fields: fields}); err != nil {
					t.Error(err)
				}
				time.Sleep(time.Duration(rand.N(15)) * time.Millisecond)
			}
		})
	}
	time.Sleep(120 * time.Millisecond)
	kill()
	wg.Wait()
	// Stock moves too (a zero crossing bumps the version).
	if _, err := e.app.Stock.Reserve(context.Background(), app.InboxClaim{Consumer: eventsv1.QueueCatalogStock, MessageID: "m-1"}, "o-1", []domain.OrderItem{{VariantID: mustVariant(t, e, ids[0]), Quantity: 10}}); err != nil {
		t.Fatal(err)
	}

	if ok, why := e.converged(); ok {
		t.Fatal("projections already converged while the projector was down: the kill did not land mid-stream")
	} else {
		t.Logf("while killed: %s", why)
	}
	kill = runProjector()
	defer kill()
	e.eventually(20*time.Second, "projections converge after the restart", e.converged)

	// Damage Redis every way it can be damaged, then rebuild.
	r := context.Background()
	pre := "{" + e.prefix + "}"
	e.rdb.Del(r, pre+":product:"+ids[1], pre+":product:"+ids[2])
	e.rdb.HSet(r, pre+":product:"+ids[3], "doc", `{"id":"garbage"}`)
	e.rdb.ZRem(r, pre+":products", ids[4])
	e.rdb.ZAdd(r, pre+":products", redisZ("00000000-0000-7000-8000-00000000dead"))
	e.rdb.Del(r, pre+":products:complete")
	if ok, _ := e.converged(); ok {
		t.Fatal("damage not visible")
	}
	st, err := e.app.Projector.Rebuild(r)
	if err != nil {
		t.Fatal(err)
	}
	if st.Products != 8 || st.Pruned != 1 {
		t.Fatalf("rebuild = %+v, want 8 products and 1 orphan pruned", st)
	}
	if ok, why := e.converged(); !ok {
		t.Fatalf("not converged after rebuild: %s", why)
	}
}

func mustVariant(t *testing.T, e *env, productID string) string {
	p, err := e.app.Store.Product(context.Background(), productID)
	if err != nil {
		t.Fatal(err)
	}
	return p.Variants[0].ID
}

func TestProjectionNeverGoesBackInVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	v := domain.ProductView{ID: "0190a000-0000-7000-8000-0000000000aa", Title: "new", Version: 5, Active: true}
	for _, c := range []struct {
		version int64
		title   string
		wrote   bool
	}{{5, "new", true}, {4, "old", false}, {5, "same", true}, {6, "newer", true}, {1, "ancient", false}} {
		v.Version, v.Title = c.version, c.title
		wrote, err := e.app.Proj.Put(ctx, v)
		if err != nil || wrote != c.wrote {
			t.Fatalf("put v%d: wrote=%v err=%v, want wrote=%v", c.version, wrote, err, c.wrote)
		}
	}
	got, _, _, _ := e.app.Proj.Get(ctx, v.ID)
	if got.Version != 6 || got.Title != "newer" {
		t.Fatalf("projection = v%d %q, want v6 newer", got.Version, got.Title)
	}
	// A tombstone unlists; a newer active version lists again.
	if _, err := e.app.Proj.Put(ctx, domain.ProductView{ID: v.ID, Version: 7}); err != nil {
		t.Fatal(err)
	}
	if n := e.rdb.ZCard(ctx, "{"+e.prefix+"}:products").Val(); n != 0 {
		t.Fatalf("inactive product still listed (%d)", n)
	}
}

func redisZ(member string) goredis.Z { return goredis.Z{Score: 0, Member: member} }
