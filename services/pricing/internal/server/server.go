// Package server wires pricing's processes by hand, one exported Serve… per
// binary: Serve (cmd/pricing: the PricingService gRPC API over the in-memory
// price-data snapshot, kept fresh by LISTEN/NOTIFY and a poll), ServeWorker
// (cmd/pricing-worker: the pricing.coupons consumer), and the one-shot jobs
// ServeSeedDemo (cmd/pricing-seed-demo) and ServeCoupons (cmd/pricing-coupons).
//
// The API and the worker share only the database. The API redeems coupon
// uses as orders are created (CreateOrderQuote), the worker confirms and
// releases them from the orders' events; a redemption that uses a coupon up,
// or a release that frees a used-up coupon, bumps price_data_version and
// NOTIFYs in its transaction, and every API replica reloads its snapshot
// from that (or from its poll), so plain quotes refuse a used-up coupon.
package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

// DefaultPGURL is the pricing database when PRINTFLEET_PG_URL is not set.
const DefaultPGURL = "postgres://postgres@127.0.0.1:5432/pricing?sslmode=disable"

// Defaults are pricing's own defaults for shared variables, for every
// pricing process: the platform's PG_URL default names the maintenance
// database, pricing has its own.
var Defaults = config.Defaults{"PG_URL": DefaultPGURL}

// DBConfig is what every pricing process reads.
type DBConfig struct {
	PG postgres.Config `env:", prefix=PG_"`
}

// JobConfig is the configuration of the one-shot jobs (pricing-seed-demo,
// pricing-coupons).
type JobConfig struct {
	DBConfig
}

// openJob loads the job configuration and opens the database (migrating it)
// behind a use-case service that serves no quotes.
func openJob(ctx context.Context, p *run.Process) (*app.Service, func(), error) {
	var cfg JobConfig
	if err := config.Load(ctx, &cfg, Defaults); err != nil {
		return nil, nil, err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	db, err := postgres.Open(ctx, cfg.PG, store.Migrations, p.Log)
	if err != nil {
		return nil, nil, err
	}
	return app.New(store.New(db.Primary), app.Options{Log: p.Log}), db.Close, nil
}

func ignoreCanceled(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("pricing: %w", err)
}
