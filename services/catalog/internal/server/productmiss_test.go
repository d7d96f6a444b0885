package server

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
)

// TestUnknownProductMissCached: anonymous reads of an id PostgreSQL does not
// have cost one query per app.MissTTL, and creating a product with that id
// is hidden no longer: at once when its view is projected, by MissTTL when
// it is not.
func TestUnknownProductMissCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	anon := context.Background()
	get := func(id string) error {
		_, err := e.client.GetProduct(anon, &catalogv1.GetProductRequest{ProductId: id})
		return err
	}

	unknown := uuid.Must(uuid.NewV7()).String()
	q0 := e.queries.Count()
	if err := get(unknown); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown product: %v, want NOT_FOUND", err)
	}
	first := e.queries.Count() - q0
	if first == 0 {
		t.Fatal("the first read of an unknown product must ask PostgreSQL")
	}
	const repeats = 50
	q1 := e.queries.Count()
	for range repeats {
		if err := get(unknown); status.Code(err) != codes.NotFound {
			t.Fatalf("repeated unknown product: %v, want NOT_FOUND", err)
		}
	}
	if n := e.queries.Count() - q1; n != 0 {
		t.Fatalf("%d repeated reads of an unknown product ran %d PostgreSQL queries, want 0", repeats, n)
	}
	t.Logf("unknown product: first read %d PostgreSQL query(ies), next %d reads 0", first, repeats)

	// Created and projected: visible at once.
	p := domainProduct(3)
	p.ID = unknown
	if _, err := e.app.Catalog.CreateProduct(anon, adminCaller, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Projector.Rebuild(anon); err != nil {
		t.Fatal(err)
	}
	if err := get(unknown); err != nil {
		t.Fatalf("projected product still hidden by the remembered miss: %v", err)
	}
	if ttl := e.rdb.PTTL(anon, "{"+e.prefix+"}:product:"+unknown).Val(); ttl != -1 {
		t.Fatalf("the projected view's hash expires (pttl %s)", ttl)
	}

	// Created but not projected yet (the projector lags): visible once the
	// remembered miss expires.
	late := uuid.Must(uuid.NewV7()).String()
	if err := get(late); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown product: %v, want NOT_FOUND", err)
	}
	marked := time.Now()
	p = domainProduct(3)
	p.ID = late
	if _, err := e.app.Catalog.CreateProduct(anon, adminCaller, p); err != nil {
		t.Fatal(err)
	}
	var hidden time.Duration
	for {
		err := get(late)
		if err == nil {
			hidden = time.Since(marked)
			break
		}
		if status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		if time.Since(marked) > app.MissTTL+2*time.Second {
			t.Fatalf("created product hidden for %s, bound is %s", time.Since(marked), app.MissTTL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("created product without a projected view hidden for %s (bound %s)", hidden.Round(time.Millisecond), app.MissTTL)
}
