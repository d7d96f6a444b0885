package marketplace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"golang.org/x/time/rate"
)

// Headroom is how far behind the marketplace's bucket ours stays: our bucket
// starts refilling when we send, the marketplace's when the request arrives, so an
// exact mirror would come back a hair early. It delays the first wait only; the
// steady rate is unchanged.
const Headroom = 50 * time.Millisecond

// Budget is the request budget of one (marketplace, store): a token bucket that
// mirrors the marketplace's, adjusted from what its responses say, plus any pause
// the marketplace asked for.
type Budget struct {
	m   domain.Marketplace
	lim *rate.Limiter
	// shared, when set, is the bucket every replica takes from, under key;
	// lim then only holds the rate and burst learned, and serves as the
	// bucket while Redis cannot be asked.
	shared SharedBudget
	key    string

	mu          sync.Mutex
	pausedUntil time.Time
	// burst is the bucket size to return to once the marketplace answers
	// again after a throttle; until then (throttled) the bucket holds one
	// token, so requests leave one by one and the first answer stops the rest.
	burst     int
	throttled bool
	// probe holds the one request in flight while throttled: the next
	// leaves only once its answer has been learned, so no request is on
	// its way when a 429 names a time to come back.
	probe chan struct{}
	// sharedShort is set while the shared bucket last had no room for a
	// request (a Take answered a wait), cleared by a Take that got one.
	sharedShort bool
	// refusals counts the refusals (429) of this budget's requests, each
	// counted as soon as its status line arrives, before its body is read
	// and its connection handed to the next request: Send holds back a
	// request granted before a refusal and not yet written.
	refusals atomic.Uint64
}

// Wait blocks until the budget allows one request. If that is not possible before
// ctx's deadline it fails at once with a retryable ReasonBudget error.
//
// It takes a token only when one is there, rather than booking one ahead as
// rate.Limiter.Wait does, so a rate learned from a response applies at once to
// requests already waiting.
//
// The caller calls done once the request's answer has been learned (Learn,
// Spend), or when no request was sent. While the marketplace is throttling,
// this process sends one request at a time: the pacing alone would send the
// next one before a slow 429 had said when to come back.
func (b *Budget) Wait(ctx context.Context) (done func(), err error) {
	done = func() {}
	b.mu.Lock()
	throttled := b.throttled
	b.mu.Unlock()
	for throttled {
		select {
		case b.probe <- struct{}{}:
			done = sync.OnceFunc(func() { <-b.probe })
			throttled = false
			continue
		default:
		}
		b.mu.Lock()
		wait, still := time.Until(b.pausedUntil), b.throttled
		b.mu.Unlock()
		if !still {
			break
		}
		if dl, ok := ctx.Deadline(); ok && wait > 0 && time.Until(dl) < wait {
			return done, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonBudget, Marketplace: b.m, Op: "wait for budget",
				Message: "no room in the rate budget before the deadline", RetryAfter: wait}
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case b.probe <- struct{}{}:
			t.Stop()
			done = sync.OnceFunc(func() { <-b.probe })
			throttled = false
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return done, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonCanceled, Marketplace: b.m, Op: "wait for budget", Err: ctx.Err()}
		}
	}
	if err := b.wait(ctx); err != nil {
		done()
		return func() {}, err
	}
	return done, nil
}

func (b *Budget) wait(ctx context.Context) error {
	if b.shared == nil {
		return b.waitLocal(ctx)
	}
	for {
		b.mu.Lock()
		wait := time.Until(b.pausedUntil)
		b.mu.Unlock()
		if wait <= 0 {
			r, burst := b.Limit()
			w, err := b.shared.Take(ctx, b.key, r, burst, 1, Headroom)
			if err == nil {
				b.mu.Lock()
				b.sharedShort = w > 0
				b.mu.Unlock()
			}
			if err != nil {
				if ctx.Err() == nil {
					sharedBudgetErrors.WithLabelValues(string(b.m)).Inc()
					return b.waitLocal(ctx) // Redis is down: this process's share of the budget, unshared
				}
				return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonCanceled, Marketplace: b.m, Op: "wait for budget", Err: ctx.Err()}
			}
			if w <= 0 {
				// The local bucket follows what this process spends, so
				// that if Redis goes away it does not start with a full
				// burst the marketplace's bucket no longer holds.
				b.lim.AllowN(time.Now(), 1)
				return nil
			}
			wait = w
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonBudget, Marketplace: b.m, Op: "wait for budget",
				Message: "no room in the rate budget before the deadline", RetryAfter: wait}
		}
		if err := Sleep(ctx, min(wait, 100*time.Millisecond)); err != nil {
			return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonCanceled, Marketplace: b.m, Op: "wait for budget", Err: err}
		}
	}
}

// waitLocal is Wait on this process's own bucket.
func (b *Budget) waitLocal(ctx context.Context) error {
	for {
		b.mu.Lock()
		pause := time.Until(b.pausedUntil)
		b.mu.Unlock()
		now := time.Now()
		r := float64(b.lim.Limit())
		need := min(1+r*Headroom.Seconds(), float64(b.lim.Burst()))
		if pause <= 0 && b.lim.TokensAt(now) >= need && b.lim.AllowN(now, 1) {
			return nil
		}
		wait := pause
		if wait <= 0 {
			wait = time.Millisecond
			if r > 0 {
				wait = max(wait, time.Duration((need-b.lim.TokensAt(now))/r*float64(time.Second)))
			}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonBudget, Marketplace: b.m, Op: "wait for budget",
				Message: "no room in the rate budget before the deadline", RetryAfter: wait}
		}
		// Wake at least every 100ms to pick up a changed rate.
		if err := Sleep(ctx, min(wait, 100*time.Millisecond)); err != nil {
			return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonCanceled, Marketplace: b.m, Op: "wait for budget", Err: err}
		}
	}
}

// Learn adopts the rate (per second) and burst the marketplace announced; zero
// leaves a value as it is. The adapters call it with every answer that carries
// rate headers, so it also ends the one-at-a-time pacing Spend starts (a
// throttled answer calls Spend right after, which starts it again).
func (b *Budget) Learn(perSecond float64, burst int) {
	if perSecond > 0 && rate.Limit(perSecond) != b.lim.Limit() {
		b.lim.SetLimit(rate.Limit(perSecond))
	}
	b.mu.Lock()
	if burst > 0 {
		b.burst = burst
	}
	ended := b.throttled
	b.throttled = false
	if b.burst > 0 && b.burst != b.lim.Burst() {
		b.lim.SetBurst(b.burst)
	}
	b.mu.Unlock()
	if ended && b.shared != nil {
		// The shared bucket counts in time, not tokens: giving it back its
		// full burst would hand every replica burst-1 requests at once,
		// while the marketplace's bucket, emptied by the throttle, is only
		// refilling. Hold it at empty for the full burst: it refills at the
		// rate, as the marketplace's does (the local bucket already does).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, full := b.Limit()
		if err := b.shared.Level(ctx, b.key, r, full, 0, 0); err != nil {
			sharedBudgetErrors.WithLabelValues(string(b.m)).Inc()
		}
		cancel()
	}
}

// Spend gives up whatever the bucket holds, because the marketplace said the budget
// is spent, and pauses for at least d. Until the marketplace answers again (Learn)
// the bucket holds at most one token: requests that waited out the pause together
// would otherwise leave together, and if the marketplace is still refusing, all
// but the first would arrive after it had said when to come back.
func (b *Budget) Spend(d time.Duration) {
	now := time.Now()
	b.mu.Lock()
	if !b.throttled {
		b.throttled = true
		b.lim.SetBurstAt(now, 1)
	}
	b.mu.Unlock()
	// Take the whole of any fraction too: the marketplace's bucket emptied before
	// we heard of it, so ours must not hold a head start.
	if left := b.lim.TokensAt(now); left > 0 {
		b.lim.ReserveN(now, min(int(math.Ceil(left)), b.lim.Burst()))
	}
	if b.shared != nil {
		// Every replica's bucket is empty too: the marketplace counts them
		// as one client.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, burst := b.Limit()
		if err := b.shared.Level(ctx, b.key, r, burst, 0, d); err != nil {
			sharedBudgetErrors.WithLabelValues(string(b.m)).Inc()
		}
		cancel()
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

// Used is the share of the budget spent (0..1) as this process last saw
// it: all of it while the marketplace asked for a pause or is throttling,
// or while the shared bucket last had no room; otherwise what the local
// bucket, which follows this process's requests and the marketplace's rate
// headers, lacks of its burst.
func (b *Budget) Used() float64 {
	now := time.Now()
	b.mu.Lock()
	full := now.Before(b.pausedUntil) || b.throttled || b.sharedShort
	b.mu.Unlock()
	burst := b.lim.Burst()
	if full || burst <= 0 {
		return 1
	}
	return min(1, max(0, 1-b.lim.TokensAt(now)/float64(burst)))
}

// Limit returns the current rate and burst.
func (b *Budget) Limit() (perSecond float64, burst int) {
	return float64(b.lim.Limit()), b.lim.Burst()
}

// SharedBudget is a token bucket per key that every replica of the worker
// takes from (Redis; see package shared). Rates are per second, cost and
// available in requests (or Shopify cost points).
type SharedBudget interface {
	// Take takes cost from key's bucket when it holds cost plus headroom's
	// worth (capped at full) and returns 0; otherwise it takes nothing and
	// returns how long to wait.
	Take(ctx context.Context, key string, perSecond float64, burst int, cost float64, headroom time.Duration) (time.Duration, error)
	// Refund gives units back to key's bucket, never beyond full.
	Refund(ctx context.Context, key string, perSecond float64, burst int, units float64) error
	// Level leaves at most available in key's bucket and pauses it for at
	// least pause.
	Level(ctx context.Context, key string, perSecond float64, burst int, available float64, pause time.Duration) error
}

// Budgets holds one Budget per (marketplace, key).
type Budgets struct {
	shared SharedBudget
	mu     sync.Mutex
	m      map[string]*Budget
}

// NewBudgets returns an empty set of budgets kept in this process.
func NewBudgets() *Budgets { return &Budgets{m: map[string]*Budget{}} }

// NewSharedBudgets returns an empty set of budgets whose buckets live in
// shared, so that replicas together stay within each budget.
func NewSharedBudgets(shared SharedBudget) *Budgets {
	return &Budgets{shared: shared, m: map[string]*Budget{}}
}

// Shared is the store of shared buckets, nil when budgets are per process.
func (bs *Budgets) Shared() SharedBudget { return bs.shared }

// Get returns the budget for (m, key), creating it full with the given rate and
// burst. The key may be a credential (Etsy budgets per API key): it is named
// by a digest, in memory and in Redis, so that no key name, error or trace
// span carries it.
func (bs *Budgets) Get(m domain.Marketplace, key string, perSecond float64, burst int) *Budget {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	sum := sha256.Sum256([]byte(key))
	k := string(m) + "/" + hex.EncodeToString(sum[:12])
	b, ok := bs.m[k]
	if !ok {
		b = &Budget{m: m, lim: rate.NewLimiter(rate.Limit(perSecond), burst), burst: burst, shared: bs.shared, key: k, probe: make(chan struct{}, 1)}
		bs.m[k] = b
	}
	return b
}
