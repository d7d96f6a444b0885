package app

import (
	"context"
	"time"

	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
)

// RunHousekeeping refreshes the gauges every StatsInterval and deletes
// deliveries and events older than Retention every hour, until ctx ends.
func (s *Service) RunHousekeeping(ctx context.Context) {
	stats := time.NewTicker(s.o.StatsInterval)
	defer stats.Stop()
	purge := time.NewTicker(time.Hour)
	defer purge.Stop()
	s.RefreshStats(ctx)
	s.Purge(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-stats.C:
			s.RefreshStats(ctx)
		case <-purge.C:
			s.Purge(ctx)
		}
	}
}

// RefreshStats sets the pending, oldest-pending and endpoint gauges.
func (s *Service) RefreshStats(ctx context.Context) {
	now := s.now().UTC()
	st, err := s.o.Store.Stats(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "webhook stats", "err", err)
		}
		return
	}
	s.metrics.pending.Set(float64(st.Pending))
	oldest := 0.0
	if !st.OldestDueAt.IsZero() {
		oldest = max(0, now.Sub(st.OldestDueAt).Seconds())
	}
	s.metrics.oldest.Set(oldest)
	for _, status := range []domain.EndpointStatus{domain.EndpointActive, domain.EndpointDisabled} {
		s.metrics.endpoints.WithLabelValues(string(status)).Set(float64(st.EndpointCount[status]))
	}
}

// Purge deletes deliveries and events older than Retention.
func (s *Service) Purge(ctx context.Context) {
	n, err := s.o.Store.Purge(ctx, s.now().Add(-s.o.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.WarnContext(ctx, "purge old deliveries", "err", err)
	case n > 0:
		s.log.InfoContext(ctx, "old deliveries purged", "count", n)
	}
}
