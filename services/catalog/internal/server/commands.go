package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/redis"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/demo"
	"github.com/printfleet/printfleet/services/catalog/internal/projection"
	pgstore "github.com/printfleet/printfleet/services/catalog/internal/store/postgres"
)

// Commands are the catalog binary's subcommands; "" is the server.
var Commands = map[string]run.Serve{
	"":                    Serve,
	"serve":               Serve,
	"rebuild-projections": RebuildProjections,
	"seed-demo":           SeedDemo,
	"demo-data":           DemoData,
}

// Usage lists the subcommands.
const Usage = `usage: catalog [command]

commands:
  serve                 run the server (default): roles from PRINTFLEET_CATALOG_ROLES
  rebuild-projections   rebuild every product projection in Redis from PostgreSQL
  seed-demo             load the demo catalog (idempotent)
  demo-data             print the demo variants (ids, SKUs, prices) as JSON
`

// RebuildProjections rebuilds the Redis read model from PostgreSQL (the
// read replica when PRINTFLEET_PG_READ_URL is set).
func RebuildProjections(ctx context.Context, p *run.Process) error {
	var cfg Base
	if err := config.Load(ctx, &cfg); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.PG, pgstore.Migrations, p.Log)
	if err != nil {
		return err
	}
	defer db.Close()
	rdb, err := redis.New(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	st, err := app.NewProjector(pgstore.New(db), projection.New(rdb, cfg.RedisPrefix), p.Log).Rebuild(ctx)
	if err != nil {
		return err
	}
	p.Log.Info("projections rebuilt", "products", st.Products, "written", st.Written, "pruned", st.Pruned)
	return nil
}

// SeedDemo loads the demo catalog through the product use case: each product
// is written with its ProductChanged event, so a running relay and projector
// project it.
func SeedDemo(ctx context.Context, p *run.Process) error {
	var cfg Base
	if err := config.Load(ctx, &cfg); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.PG, pgstore.Migrations, p.Log)
	if err != nil {
		return err
	}
	defer db.Close()
	rdb, err := redis.New(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	store := pgstore.New(db)
	created, existing, err := demo.Seed(ctx, app.NewCatalog(store, projection.New(rdb, cfg.RedisPrefix), p.Log))
	if err != nil {
		return err
	}
	p.Log.Info("demo catalog seeded", "created", created, "already_present", existing)
	return nil
}

// DemoData prints the demo variants as JSON on stdout.
func DemoData(_ context.Context, _ *run.Process) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"namespace": demo.Namespace.String(), "variants": demo.Variants()}); err != nil {
		return fmt.Errorf("write demo data: %w", err)
	}
	return nil
}
