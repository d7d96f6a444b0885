package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// The catalog's price is a variant's "*" price only while no admin set
// that variant's "*" price; an admin price for one country leaves it in
// place; a version not newer than the last one seen changes nothing, and a
// write that changes nothing bumps no version.
func TestCatalogPricesNeverReplaceAnAdminPrice(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	usd := func(n int64) domain.Price { return domain.Price{Currency: mustCur("USD"), Amount: n} }
	a, b := uuid.New(), uuid.New()
	apply := func(version int64, pa, pb int64) int {
		t.Helper()
		res, err := s.ApplyCatalogPrices(ctx, domain.CatalogPrices{ProductID: "p", Version: version, Variants: []domain.CatalogVariantPrice{
			{VariantID: a, Price: usd(pa)}, {VariantID: b, Price: usd(pb)}}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Changed
	}
	state := func() string {
		t.Helper()
		var out string
		for _, id := range []uuid.UUID{a, b} {
			ps, err := s.VariantPrices(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				out += fmt.Sprintf("%s:%s=%d/%s ", map[uuid.UUID]string{a: "a", b: "b"}[id], p.Region, p.Price.Amount, p.Source)
				if time.Since(p.UpdatedAt) > time.Minute {
					t.Errorf("update time %v", p.UpdatedAt)
				}
			}
		}
		return out
	}

	if n := apply(1, 100, 200); n != 2 {
		t.Fatalf("first announcement changed %d rows", n)
	}
	if _, err := s.UpsertVariantPrices(ctx, []domain.VariantPrice{{VariantID: a, Region: "*", Price: usd(150)},
		{VariantID: b, Region: "US", Price: usd(250)}}); err != nil {
		t.Fatal(err)
	}
	v0, err := s.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := apply(1, 111, 222); n != 0 {
		t.Fatalf("a repeated version changed %d rows", n)
	}
	if v, _ := s.Version(ctx); v != v0 {
		t.Fatalf("a write that changed nothing bumped the version %d → %d", v0, v)
	}
	apply(2, 300, 400)
	if got, want := state(), "a:*=150/admin b:*=400/catalog b:US=250/admin "; got != want {
		t.Fatalf("state %q, want %q", got, want)
	}
}
