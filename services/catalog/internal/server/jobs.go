package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/catalog/internal/demo"
)

// JobConfig is what the one-shot jobs read: the database and the projections.
type JobConfig struct {
	Common
}

// SeedConfig is what the demo seed reads: a job's configuration and the
// broker it publishes its events to before exiting.
type SeedConfig struct {
	Common
	AMQP amqp.Config `env:", prefix=AMQP_"`
}

// openJob loads a job's configuration and builds the use cases over
// PostgreSQL and Redis (and the broker when mq is true).
func openJob(ctx context.Context, p *run.Process, mq bool) (*App, func(), error) {
	var (
		common Common
		broker *amqp.Config
	)
	if mq {
		var cfg SeedConfig
		if err := load(ctx, p, &cfg, commonDefaults); err != nil {
			return nil, nil, err
		}
		common, broker = cfg.Common, &cfg.AMQP
	} else {
		var cfg JobConfig
		if err := load(ctx, p, &cfg, commonDefaults); err != nil {
			return nil, nil, err
		}
		common = cfg.Common
	}
	d, closeAll, err := open(ctx, p, common, broker)
	if err != nil {
		return nil, nil, err
	}
	a, err := Build(d, Options{RedisPrefix: common.RedisPrefix})
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
	a, closeAll, err := openJob(ctx, p, false)
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
// event, which the seed publishes before exiting, so that a running
// projector projects it at once), then prints the demo
// variants (ids, SKUs, prices) as JSON on stdout for the other services'
// seeds and tests. Running it again writes nothing.
func ServeSeedDemo(ctx context.Context, p *run.Process) error {
	return seedDemo(ctx, p, os.Stdout)
}

func seedDemo(ctx context.Context, p *run.Process, out io.Writer) error {
	a, closeAll, err := openJob(ctx, p, true)
	if err != nil {
		return err
	}
	defer closeAll()
	// The seed has no running relay: it publishes its own events at the end.
	pub := amqp.NewPublisher(a.deps.AMQP)
	defer pub.Close()
	relay := outbox.NewRelay(a.deps.DB.Primary, pub, p.Log, outbox.RelayConfig{Service: p.Name})
	created, existing, err := demo.Seed(ctx, a.Catalog)
	if err != nil {
		return err
	}
	if err := relay.Flush(ctx); err != nil {
		p.Log.Warn("demo events not all published; a running catalog relay's poll publishes them", "err", err)
	}
	p.Log.Info("demo catalog seeded", "created", created, "already_present", existing)
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"namespace": demo.Namespace.String(), "variants": demo.Variants()}); err != nil {
		return fmt.Errorf("write demo variants: %w", err)
	}
	return nil
}
