package marketplace_test

import (
	"context"
	"testing"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/shared"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

// After a throttle, the marketplace's bucket is empty and refills at its
// rate; the first answer after it ends the one-at-a-time pacing, but the
// shared bucket must not hand out its full burst again at once (a second
// request right away would meet an empty bucket at the marketplace).
func TestSharedBudgetRefillsAfterAThrottleInsteadOfBursting(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	budgets := marketplace.NewSharedBudgets(shared.NewLimiter(rdb, prefix))
	b := budgets.Get(domain.Amazon, "store-1/getOrders", 2, 10)
	ctx := context.Background()
	if err := b.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	b.Spend(0) // 429: the bucket is spent
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := b.Wait(wctx); err != nil { // paced: one request when one token is back
		t.Fatal(err)
	}
	b.Learn(2, 0) // that request was answered: the pacing ends
	start := time.Now()
	if err := b.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("the request after the throttle's answer went out after %v: the shared bucket gave back its burst at once", waited)
	}
}
