package shopify

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// costBucket mirrors a shop's leaky bucket of query cost points. Until the shop has
// told us its size (the first answer's throttleStatus) only one call is in flight;
// after that a call waits until the points it will be charged are back.
type costBucket struct {
	mu        sync.Mutex
	known     bool
	probing   bool
	probeDone chan struct{}
	size      float64
	rate      float64 // points per second
	avail     float64
	at        time.Time
	inflight  float64 // points reserved by calls without an answer yet
}

type throttleStatus struct {
	MaximumAvailable   float64 `json:"maximumAvailable"`
	CurrentlyAvailable float64 `json:"currentlyAvailable"`
	RestoreRate        float64 `json:"restoreRate"`
}

func (b *costBucket) refillLocked(now time.Time) {
	if now.After(b.at) {
		b.avail = math.Min(b.size, b.avail+b.rate*now.Sub(b.at).Seconds())
		b.at = now
	}
}

// acquire reserves est points, waiting for them if needed; probe is true when the
// caller is the one call that learns the bucket.
func (b *costBucket) acquire(ctx context.Context, est float64) (probe bool, err error) {
	for {
		b.mu.Lock()
		if !b.known {
			if !b.probing {
				b.probing, b.probeDone = true, make(chan struct{})
				b.mu.Unlock()
				return true, nil
			}
			done := b.probeDone
			b.mu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return false, budgetErr(ctx.Err(), 0)
			}
		}
		b.refillLocked(time.Now())
		need := math.Min(est, b.size)
		if b.avail >= math.Min(need+b.rate*marketplace.Headroom.Seconds(), b.size) {
			b.avail -= need
			b.inflight += need
			b.mu.Unlock()
			return false, nil
		}
		wait := time.Duration((need-b.avail)/b.rate*float64(time.Second)) + marketplace.Headroom
		b.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return false, budgetErr(nil, wait)
		}
		if err := marketplace.Sleep(ctx, wait); err != nil {
			return false, budgetErr(err, 0)
		}
	}
}

func budgetErr(err error, wait time.Duration) error {
	e := &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonBudget, Marketplace: domain.Shopify,
		Op: "wait for cost points", Err: err, RetryAfter: wait}
	if err != nil {
		e.Reason = domain.ReasonCanceled
	}
	return e
}

// settle books the answer to a call that reserved est points (or probed).
// st is the shop's throttleStatus (nil when the answer had none); charged is the
// actual cost when the call ran, or -1 when it was throttled and cost nothing.
func (b *costBucket) settle(probe bool, est float64, st *throttleStatus, charged float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		close(b.probeDone)
	} else {
		b.inflight -= math.Min(est, b.size)
	}
	if st == nil || st.MaximumAvailable <= 0 || st.RestoreRate <= 0 {
		return // nothing learned; the reservation stays spent, which is the safe side
	}
	now := time.Now()
	b.size, b.rate = st.MaximumAvailable, st.RestoreRate
	if !b.known {
		b.known, b.at = true, now
		b.avail = st.CurrentlyAvailable - b.inflight
		return
	}
	b.refillLocked(now)
	if !probe {
		if charged < 0 {
			b.avail += math.Min(est, b.size) // throttled: nothing was charged
		} else {
			b.avail += math.Min(est, b.size) - charged // refund what the estimate overshot
		}
	}
	// The shop's own count wins when it is lower: other clients of the shop, or calls
	// of ours it has not seen yet.
	b.avail = math.Min(math.Min(b.avail, st.CurrentlyAvailable-b.inflight), b.size)
}

// used is the share of the shop's cost points spent (0..1) per the mirror,
// reservations of calls in flight included; ok is false until the shop
// told us its bucket.
func (b *costBucket) used() (_ float64, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.known || b.size <= 0 {
		return 0, false
	}
	b.refillLocked(time.Now())
	return math.Min(1, math.Max(0, 1-b.avail/b.size)), true
}

// waitFor is how long until est points are back, per the mirror.
func (b *costBucket) waitFor(est float64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.known || b.rate <= 0 {
		return 0
	}
	b.refillLocked(time.Now())
	need := math.Min(est, b.size)
	if b.avail >= need {
		return time.Millisecond
	}
	return time.Duration((need - b.avail) / b.rate * float64(time.Second))
}

// limits returns the shop's bucket size and restore rate, once known.
func (b *costBucket) limits() (size, rate float64, known bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size, b.rate, b.known && b.size > 0 && b.rate > 0
}

// sharedBucket is the shop's cost points as every replica of the worker
// sees them (Redis): the per-process mirror above paces this process, the
// shared one keeps the replicas together within the shop's bucket.
type sharedBucket struct {
	budget marketplace.SharedBudget
	key    string
	local  *costBucket
}

// take waits until the shared bucket holds est points and takes them. Until
// the shop's bucket is known (the first answer) only the local probe paces;
// when Redis cannot be asked, the local mirror alone does.
// It reports whether it took them.
func (s sharedBucket) take(ctx context.Context, est float64) (bool, error) {
	if s.budget == nil {
		return false, nil
	}
	for {
		size, rate, known := s.local.limits()
		if !known {
			return false, nil
		}
		wait, err := s.budget.Take(ctx, s.key, rate, int(size), est, marketplace.Headroom)
		switch {
		case err != nil && ctx.Err() != nil:
			return false, budgetErr(ctx.Err(), 0)
		case err != nil:
			return false, nil
		case wait <= 0:
			return true, nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return false, budgetErr(nil, wait)
		}
		if err := marketplace.Sleep(ctx, min(wait, 100*time.Millisecond)); err != nil {
			return false, budgetErr(err, 0)
		}
	}
}

// settle tells the shared bucket what the shop answered: what the estimate
// overshot comes back (all of it when the call was throttled, charged < 0),
// and the bucket keeps no more than the shop says is left. Without an
// answer nothing comes back, the safe side.
func (s sharedBucket) settle(est float64, st *throttleStatus, charged float64) {
	if s.budget == nil || st == nil {
		return
	}
	size, rate, known := s.local.limits()
	if !known {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	refund := est
	if charged >= 0 {
		refund = est - charged
	}
	_ = s.budget.Refund(ctx, s.key, rate, int(size), refund)
	if st.MaximumAvailable > 0 && st.RestoreRate > 0 {
		_ = s.budget.Level(ctx, s.key, st.RestoreRate, int(st.MaximumAvailable), st.CurrentlyAvailable, 0)
	}
}
