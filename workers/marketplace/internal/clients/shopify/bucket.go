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
