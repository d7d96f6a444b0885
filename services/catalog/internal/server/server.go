// Package server wires the catalog's processes by hand: configuration, the
// PostgreSQL, Redis, RabbitMQ and S3 clients, the use cases, and what each
// binary runs. There is one exported Serve function per binary: ServeAPI
// (cmd/catalog), ServeWorker (cmd/catalog-worker), ServeSeedDemo
// (cmd/catalog-seed-demo) and ServeRebuildProjections
// (cmd/catalog-rebuild-projections).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/minio/minio-go/v7"
	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/redis"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/secret"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/blob"
	"github.com/printfleet/printfleet/services/catalog/internal/grpcapi"
	"github.com/printfleet/printfleet/services/catalog/internal/projection"
	pgstore "github.com/printfleet/printfleet/services/catalog/internal/store/postgres"
)

// DefaultPGURL is the catalog's database when PRINTFLEET_PG_URL is unset
// (the platform's own default names the maintenance database).
const DefaultPGURL = "postgres://postgres@127.0.0.1:5432/catalog?sslmode=disable"

// Common is what every catalog process reads.
type Common struct {
	PG    postgres.Config `env:", prefix=PG_"`
	Redis redis.Config    `env:", prefix=REDIS_"`
	// RedisPrefix is the hash tag of every projection key: {catalog}:product:<id>.
	RedisPrefix string `env:"CATALOG_REDIS_PREFIX, default=catalog"`
}

// commonDefaults are the catalog's own defaults for shared variables.
var commonDefaults = config.Defaults{"PG_URL": DefaultPGURL}

// load reads cfg with defaults and logs it once, masked.
func load(ctx context.Context, p *run.Process, cfg any, defaults config.Defaults) error {
	if err := config.Load(ctx, cfg, defaults); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	return nil
}

// Deps are the connections a process opened; what it does not use is nil.
type Deps struct {
	DB        *postgres.DB
	Redis     goredis.UniversalClient
	AMQP      *amqp.Conn
	S3        *minio.Client
	Presigner *minio.Client
	Signer    *principal.Signer
	// TLS is the gRPC server's (API process only).
	TLS grpctls.Config
	Log *slog.Logger
	// Serving is told when the process serves (its queues are bound and
	// its listener open): the process's readiness starts then.
	Serving func()
}

// Options are the settings the use cases take from a process's
// configuration.
type Options struct {
	RedisPrefix string
	// CredentialsKey seals store credentials; without it the stores API
	// answers FailedPrecondition.
	CredentialsKey config.Secret
	// Designs says where designs live; the design API needs Deps.S3 too.
	Designs app.DesignsConfig
}

// App is the catalog's use cases wired over one process's connections.
type App struct {
	Store     *pgstore.Store
	Proj      *projection.Store
	Catalog   *app.Catalog
	Stock     *app.Stock
	Projector *app.Projector
	Results   *app.DesignResults
	Stores    *app.Stores
	Listings  *app.Listings
	// Designs is nil without an object store.
	Designs *app.Designs
	deps    Deps
}

// Build wires the use cases over d.
func Build(d Deps, o Options) (*App, error) {
	var sealer app.Sealer
	if o.CredentialsKey != "" {
		box, err := secret.New(o.CredentialsKey.Reveal())
		if err != nil {
			return nil, fmt.Errorf("PRINTFLEET_CATALOG_CREDENTIALS_KEY: %w", err)
		}
		sealer = box
	}
	store := pgstore.New(d.DB)
	proj := projection.New(d.Redis, o.RedisPrefix).WithWire(grpcapi.MarshalView)
	a := &App{Store: store, Proj: proj, deps: d,
		Catalog:   app.NewCatalog(store, proj, d.Log),
		Stock:     app.NewStock(store, d.Log),
		Projector: app.NewProjector(store, proj, d.Log),
		Results:   app.NewDesignResults(store, d.Log),
		Stores:    app.NewStores(store, sealer).WithLog(d.Log),
		Listings:  app.NewListings(store),
	}
	if d.S3 != nil {
		a.Designs = app.NewDesigns(store, blob.New(d.S3, d.Presigner), o.Designs)
	}
	return a, nil
}

// open connects what a process uses: PostgreSQL (migrating it), Redis and,
// when mq is not nil, the broker. Redis is not a readiness check: without
// it reads degrade to PostgreSQL. The broker is dialled until it answers or
// the process stops, so a catalog started while RabbitMQ is down waits, not
// ready, instead of exiting.
func open(ctx context.Context, p *run.Process, c Common, mq *amqp.Config) (Deps, func(), error) {
	d := Deps{Log: p.Log, Serving: p.Serving}
	db, err := postgres.Open(ctx, c.PG, pgstore.Migrations, p.Log)
	if err != nil {
		return d, nil, err
	}
	rdb, err := redis.New(c.Redis)
	if err != nil {
		db.Close()
		return d, nil, err
	}
	closeAll := func() { _ = rdb.Close(); db.Close() }
	p.AddCheck("postgres", db.Ready)
	d.DB, d.Redis = db, rdb
	if mq == nil {
		return d, closeAll, nil
	}
	if d.AMQP, err = amqp.Dial(ctx, *mq, p.Log); err != nil {
		closeAll()
		return d, nil, err
	}
	p.AddCheck("amqp", d.AMQP.Ready)
	return d, func() { _ = d.AMQP.Close(); closeAll() }, nil
}

func ignoreCanceled(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("catalog: %w", err)
}
