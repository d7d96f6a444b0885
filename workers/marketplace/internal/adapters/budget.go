package adapters

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Budget is the request budget of one (marketplace, store): a token bucket that
// mirrors the marketplace's, adjusted from what its responses say, plus any pause
// the marketplace asked for.
type Budget struct {
	m   Marketplace
	lim *rate.Limiter

	mu          sync.Mutex
	pausedUntil time.Time
}

// Wait blocks until the budget allows one request. If that is not possible before
// ctx's deadline it fails at once with a retryable ReasonBudget error.
func (b *Budget) Wait(ctx context.Context) error {
	b.mu.Lock()
	pause := time.Until(b.pausedUntil)
	b.mu.Unlock()
	if pause > 0 {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < pause {
			return &Error{Kind: KindRetryable, Reason: ReasonBudget, Marketplace: b.m, Op: "wait for budget",
				Message: "the marketplace's budget reopens after the deadline", RetryAfter: pause}
		}
		if err := Sleep(ctx, pause); err != nil {
			return &Error{Kind: KindRetryable, Reason: ReasonCanceled, Marketplace: b.m, Op: "wait for budget", Err: err}
		}
	}
	if err := b.lim.Wait(ctx); err != nil {
		reason := ReasonBudget
		if ctx.Err() != nil {
			reason = ReasonCanceled
		}
		return &Error{Kind: KindRetryable, Reason: reason, Marketplace: b.m, Op: "wait for budget", Err: err}
	}
	return nil
}

// Learn adopts the rate (per second) and burst the marketplace announced; zero
// leaves a value as it is.
func (b *Budget) Learn(perSecond float64, burst int) {
	if perSecond > 0 && rate.Limit(perSecond) != b.lim.Limit() {
		b.lim.SetLimit(rate.Limit(perSecond))
	}
	if burst > 0 && burst != b.lim.Burst() {
		b.lim.SetBurst(burst)
	}
}

// Spend gives up whatever the bucket holds, because the marketplace said the budget
// is spent, and pauses for at least d.
func (b *Budget) Spend(d time.Duration) {
	now := time.Now()
	if left := math.Floor(b.lim.TokensAt(now)); left >= 1 {
		b.lim.ReserveN(now, int(left))
	}
	if d <= 0 {
		return
	}
	b.mu.Lock()
	if until := now.Add(d); until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
	b.mu.Unlock()
}

// Limit returns the current rate and burst.
func (b *Budget) Limit() (perSecond float64, burst int) {
	return float64(b.lim.Limit()), b.lim.Burst()
}

// Budgets holds one Budget per (marketplace, key).
type Budgets struct {
	mu sync.Mutex
	m  map[string]*Budget
}

// NewBudgets returns an empty set of budgets.
func NewBudgets() *Budgets { return &Budgets{m: map[string]*Budget{}} }

// Get returns the budget for (m, key), creating it full with the given rate and
// burst.
func (bs *Budgets) Get(m Marketplace, key string, perSecond float64, burst int) *Budget {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	k := string(m) + "/" + key
	b, ok := bs.m[k]
	if !ok {
		b = &Budget{m: m, lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
		bs.m[k] = b
	}
	return b
}
