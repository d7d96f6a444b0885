package marketplace

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Retry bounds how one push retries: at most MaxAttempts tries, waiting what the
// marketplace asked for (Retry-After) or else exponential backoff with jitter, and
// never past the context's deadline.
type Retry struct {
	MaxAttempts int           // default 5
	BaseDelay   time.Duration // first backoff; default 200ms
	MaxDelay    time.Duration // backoff cap; default 10s
	// MaxWait is the longest Retry-After honoured in process; a longer one returns
	// the error so the caller can requeue. Default 1m.
	MaxWait time.Duration
}

func (p Retry) withDefaults() Retry {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 200 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 10 * time.Second
	}
	if p.MaxWait <= 0 {
		p.MaxWait = time.Minute
	}
	return p
}

// Backoff is the jittered wait before try attempt+1: half of BaseDelay·2^(attempt-1)
// (capped at MaxDelay) plus a random part up to the other half.
func (p Retry) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	d := p.MaxDelay
	if attempt < 30 {
		d = min(p.MaxDelay, p.BaseDelay<<(attempt-1))
	}
	half := d / 2
	return half + rand.N(half+1)
}

// Do runs op until it succeeds, fails permanently, runs out of attempts, or the
// next wait would pass ctx's deadline; it returns op's last error.
func (p Retry) Do(ctx context.Context, op func(ctx context.Context) error) error {
	p = p.withDefaults()
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		var e *domain.Error
		if !errors.As(err, &e) || e.Kind != domain.KindRetryable || attempt >= p.MaxAttempts || ctx.Err() != nil {
			return err
		}
		wait := p.Backoff(attempt)
		if e.RetryAfter > 0 {
			// Honour the marketplace's wait; the jitter only ever adds to it.
			wait = e.RetryAfter + rand.N(min(e.RetryAfter/10, 250*time.Millisecond)+1)
		}
		if e.RetryAfter > p.MaxWait {
			return err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		if Sleep(ctx, wait) != nil {
			return err
		}
	}
}

// Sleep waits d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ParseRetryAfter reads a Retry-After value: delta-seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}
