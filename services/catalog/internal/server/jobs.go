package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/catalog/internal/demo"
)

// JobConfig is what the one-shot jobs read: the database and the projections.
type JobConfig struct {
	Common
}

// openJob loads a job's configuration and builds the use cases over
// PostgreSQL and Redis.
func openJob(ctx context.Context, p *run.Process) (*App, func(), error) {
	var cfg JobConfig
	if err := load(ctx, p, &cfg, commonDefaults); err != nil {
		return nil, nil, err
	}
	d, closeAll, err := open(ctx, p, cfg.Common, nil)
	if err != nil {
		return nil, nil, err
	}
	a, err := Build(d, Options{RedisPrefix: cfg.RedisPrefix})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return a, closeAll, nil
}

// ServeRebuildProjections is cmd/catalog-rebuild-projections: it rebuilds
// the Redis read model from PostgreSQL (the read replica when
// PRINTFLEET_PG_READ_URL is set) and exits.
func ServeRebuildProjections(ctx context.Context, p *run.Process) error {
	a, closeAll, err := openJob(ctx, p)
	if err != nil {
		return err
	}
	defer closeAll()
	st, err := a.Projector.Rebuild(ctx)
	if err != nil {
		return err
	}
	p.Log.Info("projections rebuilt", "products", st.Products, "written", st.Written, "pruned", st.Pruned)
	return nil
}

// ServeSeedDemo is cmd/catalog-seed-demo: it loads the demo catalog through
// the product use case (each product is written with its ProductChanged
// event, so a running relay and projector project it), then prints the demo
// variants (ids, SKUs, prices) as JSON on stdout for the other services'
// seeds and tests. Running it again writes nothing.
func ServeSeedDemo(ctx context.Context, p *run.Process) error {
	return seedDemo(ctx, p, os.Stdout)
}

func seedDemo(ctx context.Context, p *run.Process, out io.Writer) error {
	a, closeAll, err := openJob(ctx, p)
	if err != nil {
		return err
	}
	defer closeAll()
	created, existing, err := demo.Seed(ctx, a.Catalog)
	if err != nil {
		return err
	}
	p.Log.Info("demo catalog seeded", "created", created, "already_present", existing)
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"namespace": demo.Namespace.String(), "variants": demo.Variants()}); err != nil {
		return fmt.Errorf("write demo variants: %w", err)
	}
	return nil
}
