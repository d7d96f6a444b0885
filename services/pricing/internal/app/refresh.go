package app

import (
	"context"
	"fmt"
	"time"

	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// Refresh loads the price data and swaps in a new snapshot. Loads are
// serialised, and each reads a consistent, newer state of the store, so the
// last one swapped in is always the freshest.
func (s *Service) Refresh(ctx context.Context) error { return s.refresh(ctx, "load", -1) }

// refresh reloads unless the snapshot is already at version want or newer
// (want < 0 forces a reload).
func (s *Service) refresh(ctx context.Context, trigger string, want int64) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if cur := s.snap.Load(); want >= 0 && cur != nil && cur.Version() >= want {
		return nil // another trigger already loaded it
	}
	start := time.Now()
	d, err := s.store.Load(ctx)
	if err != nil {
		reloadsTotal.WithLabelValues(trigger, "error").Inc()
		return fmt.Errorf("refresh price data: %w", err)
	}
	snap := domain.NewSnapshot(d, s.now())
	prev := s.snap.Swap(snap)
	reloadsTotal.WithLabelValues(trigger, "ok").Inc()
	dataVersion.Set(float64(snap.Version()))
	loadedAt.Set(float64(snap.LoadedAt().UnixNano()) / 1e9)
	if prev == nil || prev.Version() != snap.Version() {
		s.log.Info("price data loaded", "version", snap.Version(), "trigger", trigger,
			"counts", snap.Counts(), "took", time.Since(start).String())
	}
	return nil
}

// catchUp reloads when the store's version differs from the snapshot's (a
// restored database may even go backwards; any difference reloads).
func (s *Service) catchUp(ctx context.Context, trigger string) error {
	v, err := s.store.Version(ctx)
	if err != nil {
		reloadsTotal.WithLabelValues(trigger, "error").Inc()
		return err
	}
	if cur := s.snap.Load(); cur != nil && cur.Version() == v {
		return nil
	}
	return s.refresh(ctx, trigger, -1)
}

// afterWrite brings this instance's snapshot up to a write it just made. The
// write is committed either way; a failed reload is retried by the watchers.
// A service that never loaded a snapshot serves no quotes (the worker's
// coupon redemptions, the seed job): it skips the reload, and the API
// processes pick the write up through NOTIFY or their poll.
func (s *Service) afterWrite(ctx context.Context, res WriteResult) {
	if res.Version == 0 || s.snap.Load() == nil {
		return
	}
	if err := s.refresh(context.WithoutCancel(ctx), "write", res.Version); err != nil {
		s.log.WarnContext(ctx, "reload after write failed; the watchers will retry", "err", err)
	}
}

// WatchOptions configure Watch.
type WatchOptions struct {
	// Listen subscribes to the store's change notifications.
	Listen bool
	// Poll, when positive, also checks the version this often.
	Poll time.Duration
}

// Watch keeps the snapshot fresh until ctx ends: it reloads on every
// announced version newer than the snapshot's and, as a safety net, polls
// the version. It returns when ctx is cancelled.
func (s *Service) Watch(ctx context.Context, o WatchOptions) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if o.Listen {
			s.listen(ctx)
		}
	}()
	if o.Poll > 0 {
		t := time.NewTicker(o.Poll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				<-done
				return
			case <-t.C:
				if err := s.catchUp(ctx, "poll"); err != nil && ctx.Err() == nil {
					s.log.Warn("price data poll failed", "err", err)
				}
			}
		}
	}
	<-done
}

// listen keeps a LISTEN subscription up, reconnecting with capped backoff.
func (s *Service) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.store.Listen(ctx,
			func() {
				backoff = 100 * time.Millisecond
				// Anything announced while we were not listening is caught here.
				if err := s.catchUp(ctx, "listen"); err != nil && ctx.Err() == nil {
					s.log.Warn("price data catch-up failed", "err", err)
				}
			},
			func(v int64) {
				if err := s.refresh(ctx, "notify", v); err != nil && ctx.Err() == nil {
					s.log.Warn("price data reload on notify failed", "version", v, "err", err)
				}
			})
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("price data subscription lost; reconnecting", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
