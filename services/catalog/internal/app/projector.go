package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/printfleet/printfleet/platform/errs"
)

var (
	projectionLag = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "catalog_projection_lag_seconds",
		Help:    "Time from a committed catalog change to its projection in Redis.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})
	projectionWrites = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "catalog_projection_writes_total",
		Help: "Projection writes by outcome (applied, stale: a newer version was already there).",
	}, []string{"result"})
)

// Projector keeps the Redis read model in step with PostgreSQL.
type Projector struct {
	store Store
	proj  Projection
	log   *slog.Logger
}

// NewProjector returns a projector.
func NewProjector(store Store, proj Projection, log *slog.Logger) *Projector {
	return &Projector{store: store, proj: proj, log: log}
}

// Apply projects the product named by a ProductChanged event. It reads the
// primary, so what it writes is at least the announced version; the
// projection's version check makes redeliveries and reordering harmless.
func (p *Projector) Apply(ctx context.Context, productID string, version int64) error {
	prod, err := p.store.Product(ctx, productID)
	if errs.Is(err, errs.NotFound) {
		p.log.WarnContext(ctx, "product change for an unknown product; skipped", "product_id", productID)
		return nil
	}
	if err != nil {
		return err
	}
	if prod.Version < version {
		return fmt.Errorf("product %s at version %d, event announces %d: retry", productID, prod.Version, version)
	}
	wrote, err := p.proj.Put(ctx, prod.View())
	if err != nil {
		return fmt.Errorf("project product %s: %w", productID, err)
	}
	if wrote {
		projectionWrites.WithLabelValues("applied").Inc()
	} else {
		projectionWrites.WithLabelValues("stale").Inc()
	}
	// Lag from the change's commit (updated_at, microseconds) to now: AMQP
	// timestamps keep whole seconds only.
	projectionLag.Observe(time.Since(prod.UpdatedAt).Seconds())
	return nil
}

// RebuildStats reports what a rebuild did.
type RebuildStats struct {
	Products int
	Written  int
	Pruned   int
}

// Rebuild projects every product from PostgreSQL (the reader pool), drops
// listed ids that no longer exist, and marks the index complete. Versions
// guard against overwriting a newer projection written meanwhile.
func (p *Projector) Rebuild(ctx context.Context) (RebuildStats, error) {
	var st RebuildStats
	keep := map[string]bool{}
	after := ""
	for {
		ps, err := p.store.Products(ctx, after, 200, false, true)
		if err != nil {
			return st, fmt.Errorf("rebuild: read products: %w", err)
		}
		for i := range ps {
			wrote, err := p.proj.Put(ctx, ps[i].View())
			if err != nil {
				return st, fmt.Errorf("rebuild: project %s: %w", ps[i].ID, err)
			}
			st.Products++
			if wrote {
				st.Written++
			}
			if ps[i].Active {
				keep[ps[i].ID] = true
			}
		}
		if len(ps) < 200 {
			break
		}
		after = ps[len(ps)-1].ID
	}
	n, err := p.proj.Prune(ctx, keep)
	if err != nil {
		return st, fmt.Errorf("rebuild: prune: %w", err)
	}
	st.Pruned = n
	if err := p.proj.MarkComplete(ctx); err != nil {
		return st, fmt.Errorf("rebuild: mark complete: %w", err)
	}
	return st, nil
}
