package server

import (
	"context"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
)

// TestProductReadsOnReplica runs the catalog's replica reads — the product
// list when the projection's index is incomplete, and the projection
// rebuild — against the real streaming replica, its replay paused so that
// reading the replica shows: a product committed on the primary meanwhile
// is missing until the replica replays it.
func TestProductReadsOnReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for range 3 {
		if _, err := e.app.Catalog.CreateProduct(ctx, adminCaller, domainProduct(5)); err != nil {
			t.Fatal(err)
		}
	}
	db, err := postgres.Open(ctx, postgres.Config{URL: config.Secret(e.pgURL), ReadURL: config.Secret(pgtest.Replica(t, e.pgURL)),
		ConnectTimeout: 5 * time.Second}, nil, e.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if db.Reader() == db.Primary {
		t.Fatal("the replica is not in use")
	}
	a, err := Build(Deps{DB: db, Redis: e.rdb, Signer: e.signer, Log: e.log}, e.cfg.options())
	if err != nil {
		t.Fatal(err)
	}

	if _, err := db.Reader().Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if _, err := db.Reader().Exec(context.Background(), `SELECT pg_wal_replay_resume()`); err != nil {
				t.Errorf("resume replay: %v", err)
			}
		}
	}
	t.Cleanup(resume)
	fourth, err := a.Catalog.CreateProduct(ctx, adminCaller, domainProduct(5))
	if err != nil {
		t.Fatal(err)
	}
	// The index was never built: the list reads PostgreSQL's reader.
	list, _, err := a.Catalog.ListProducts(ctx, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("list from a paused replica has %d products, want the 3 it replayed", len(list))
	}
	resume()
	caughtUp, _ := pgtest.WaitReplay(t, ctx)
	ps, err := a.Store.Products(ctx, "", 50, true, true)
	if err != nil || len(ps) != 4 {
		t.Fatalf("reader products after replay: %d, %v (want 4)", len(ps), err)
	}
	st, err := a.Projector.Rebuild(ctx)
	if err != nil || st.Products != 4 {
		t.Fatalf("rebuild from the replica: %+v, %v (want 4 products)", st, err)
	}
	if v, err := a.Catalog.ProductView(ctx, fourth.ID); err != nil || v.ID != fourth.ID {
		t.Fatalf("the product created during the pause: %+v, %v", v, err)
	}
	t.Logf("product list read the paused replica (3 of 4 products); after resume it caught up in %s, rebuild projected %d",
		caughtUp.Round(time.Millisecond), st.Products)
}
