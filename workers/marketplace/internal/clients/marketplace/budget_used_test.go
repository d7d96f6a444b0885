package marketplace

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Used is what the bucket lacks of its burst, and all of it while the
// marketplace asked for a pause. The rate is so slow that no refill shows.
func TestBudgetUsed(t *testing.T) {
	t.Parallel()
	b := NewBudgets().Get(domain.Etsy, "key-used", 0.0001, 10)
	if u := b.Used(); u != 0 {
		t.Fatalf("fresh budget used %v, want 0", u)
	}
	for range 4 {
		done, err := b.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done()
	}
	if u := b.Used(); math.Abs(u-0.4) > 0.01 {
		t.Fatalf("after 4 of 10: used %v, want 0.4", u)
	}
	b.Spend(time.Hour)
	if u := b.Used(); u != 1 {
		t.Fatalf("paused: used %v, want 1", u)
	}
}

// The gauge is per (marketplace, shop), clamped to 0..1, and a store
// without a shop id adds no series.
func TestObserveBudget(t *testing.T) {
	t.Parallel()
	shop := domain.Store{ID: "0190c2a4-1f7b-7c3d-9a4e-2b1c3d4e5f60", ShopID: "A1SELLER-OBSERVE"}
	ObserveBudget(domain.Amazon, shop, 0.25)
	if v := testutil.ToFloat64(budgetUsed.WithLabelValues("amazon", "A1SELLER-OBSERVE")); v != 0.25 {
		t.Fatalf("gauge %v, want 0.25", v)
	}
	ObserveBudget(domain.Amazon, shop, 1.7)
	if v := testutil.ToFloat64(budgetUsed.WithLabelValues("amazon", "A1SELLER-OBSERVE")); v != 1 {
		t.Fatalf("gauge %v, want 1 (clamped)", v)
	}
	before := testutil.CollectAndCount(budgetUsed)
	ObserveBudget(domain.Amazon, domain.Store{ID: shop.ID}, 0.5)
	if after := testutil.CollectAndCount(budgetUsed); after != before {
		t.Fatalf("a call without a store added a series: %d → %d", before, after)
	}
}
