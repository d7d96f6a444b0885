package marketplace_test

import (
	"context"
	"errors"
	"sync/atomic"
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
	done, err := b.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Spend(0) // 429: the bucket is spent
	done()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	done, err = b.Wait(wctx) // paced: one request when one token is back
	if err != nil {
		t.Fatal(err)
	}
	b.Learn(2, 0) // that request was answered: the pacing ends
	done()
	start := time.Now()
	if _, err := b.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("the request after the throttle's answer went out after %v: the shared bucket gave back its burst at once", waited)
	}
}

// failingShared is the shared store that stops answering when down is set.
type failingShared struct {
	marketplace.SharedBudget
	down atomic.Bool
}

func (f *failingShared) Take(ctx context.Context, key string, perSecond float64, burst int, cost float64, headroom time.Duration) (time.Duration, error) {
	if f.down.Load() {
		return 0, errors.New("redis: connection refused")
	}
	return f.SharedBudget.Take(ctx, key, perSecond, burst, cost, headroom)
}

// When Redis goes away, the process falls back to its own bucket: it must
// not start full after the process just spent the shared one, or the
// marketplace (whose bucket is as empty as the shared one was) refuses.
func TestSharedBudgetFallbackStartsFromWhatWasSpent(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	shared := &failingShared{SharedBudget: shared.NewLimiter(rdb, prefix)}
	b := marketplace.NewSharedBudgets(shared).Get(domain.Etsy, "key", 10, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 5 { // the shared burst, spent at once
		if _, err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	shared.down.Store(true)
	start := time.Now()
	for range 3 {
		if _, err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Three more at 10/s from an empty bucket take about 300ms; a full local
	// bucket would have let them go at once.
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("three requests right after Redis went away left within %v: the local bucket was full", waited)
	}
}
