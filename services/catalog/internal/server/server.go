// Package server wires the catalog process by hand: configuration, the
// PostgreSQL, Redis, RabbitMQ and S3 clients, the use cases, and the roles
// this process runs (the gRPC API, the outbox relay, the projector, the
// stock and design consumers). It also holds the subcommands
// (rebuild-projections, seed-demo, demo-data).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	goredis "github.com/redis/go-redis/v9"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/redis"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/s3"
	"github.com/printfleet/printfleet/services/catalog/internal/amqpapi"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/blob"
	"github.com/printfleet/printfleet/services/catalog/internal/grpcapi"
	"github.com/printfleet/printfleet/services/catalog/internal/projection"
	"github.com/printfleet/printfleet/services/catalog/internal/secret"
	pgstore "github.com/printfleet/printfleet/services/catalog/internal/store/postgres"
)

// Roles a catalog process can run.
const (
	RoleAPI       = "api"
	RoleRelay     = "relay"
	RoleProjector = "projector"
	RoleStock     = "stock"
	RoleDesigns   = "designs"
)

// AllRoles is the default: one process does everything.
var AllRoles = []string{RoleAPI, RoleRelay, RoleProjector, RoleStock, RoleDesigns}

// DefaultPGURL is the catalog's database when PRINTFLEET_PG_URL is unset.
const DefaultPGURL = "postgres://postgres@127.0.0.1:5432/catalog?sslmode=disable"

// Base is the configuration every catalog command reads.
type Base struct {
	PG    postgres.Config `env:", prefix=PG_"`
	Redis redis.Config    `env:", prefix=REDIS_"`
	// RedisPrefix is the hash tag of every projection key: {catalog}:product:<id>.
	RedisPrefix string `env:"CATALOG_REDIS_PREFIX, default=catalog"`
}

// Config is the server's configuration.
type Config struct {
	Base
	GRPCAddr string `env:"GRPC_ADDR, default=127.0.0.1:9102"`
	// Roles is a comma-separated subset of api,relay,projector,stock,designs.
	Roles     string           `env:"CATALOG_ROLES, default=api,relay,projector,stock,designs"`
	AMQP      amqp.Config      `env:", prefix=AMQP_"`
	S3        s3.Config        `env:", prefix=S3_"`
	Principal principal.Config `env:", prefix="`
	// CredentialsKey seals marketplace credentials (32 bytes, base64).
	CredentialsKey config.Secret `env:"CATALOG_CREDENTIALS_KEY"`
	DesignsBucket  string        `env:"S3_BUCKET_DESIGNS, default=printfleet-designs"`
	RendersBucket  string        `env:"S3_BUCKET_RENDERS, default=printfleet-renders"`
	DesignPrefix   string        `env:"CATALOG_DESIGN_PREFIX, default=designs/"`
	UploadTTL      time.Duration `env:"CATALOG_UPLOAD_TTL, default=15m"`
}

// AdminAddr is the server's default admin listener.
const AdminAddr = "127.0.0.1:9202"

// SetDefaultEnv fills in the catalog's defaults for variables that are
// unset: PRINTFLEET_PG_URL names the catalog database (the platform default
// is the postgres database). Subcommands always take an ephemeral admin port
// so they can run next to a server; the server's default is AdminAddr.
func SetDefaultEnv(server bool) {
	if _, ok := os.LookupEnv("PRINTFLEET_PG_URL"); !ok {
		_ = os.Setenv("PRINTFLEET_PG_URL", DefaultPGURL)
	}
	if !server {
		_ = os.Setenv("PRINTFLEET_ADMIN_ADDR", "127.0.0.1:0")
	}
}

// Deps are the process's connections.
type Deps struct {
	DB        *postgres.DB
	Redis     goredis.UniversalClient
	AMQP      *amqp.Conn
	S3        *minio.Client
	Presigner *minio.Client
	Signer    *principal.Signer
	Log       *slog.Logger
}

// Queues name the consumer queues (tests make them unique).
type Queues struct{ Stock, Projector, Designs string }

// DefaultQueues are the fleet's queue names.
var DefaultQueues = Queues{Stock: eventsv1.QueueCatalogStock, Projector: eventsv1.QueueCatalogProjector, Designs: eventsv1.QueueCatalogDesigns}

// App is the wired catalog.
type App struct {
	Store     *pgstore.Store
	Proj      *projection.Store
	Catalog   *app.Catalog
	Designs   *app.Designs
	Results   *app.DesignResults
	Stores    *app.Stores
	Stock     *app.Stock
	Projector *app.Projector
	deps      Deps
}

// Build wires the use cases over deps.
func Build(cfg Config, d Deps) (*App, error) {
	var box app.Sealer
	if cfg.CredentialsKey != "" {
		b, err := secret.New(cfg.CredentialsKey.Reveal())
		if err != nil {
			return nil, fmt.Errorf("PRINTFLEET_CATALOG_CREDENTIALS_KEY: %w", err)
		}
		box = b
	}
	store := pgstore.New(d.DB)
	proj := projection.New(d.Redis, cfg.RedisPrefix)
	a := &App{Store: store, Proj: proj, deps: d,
		Catalog:   app.NewCatalog(store, proj, d.Log),
		Stores:    app.NewStores(store, box),
		Stock:     app.NewStock(store, d.Log),
		Projector: app.NewProjector(store, proj, d.Log),
		Results:   app.NewDesignResults(store, d.Log),
	}
	if d.S3 != nil {
		a.Designs = app.NewDesigns(store, blob.New(d.S3, d.Presigner), app.DesignsConfig{
			Bucket: cfg.DesignsBucket, RendersBucket: cfg.RendersBucket, KeyPrefix: cfg.DesignPrefix, UploadTTL: cfg.UploadTTL,
		})
	}
	return a, nil
}

// GRPC returns the gRPC server with the catalog service registered.
func (a *App) GRPC(grace time.Duration) (*grpcserver.Server, error) {
	srv, err := grpcserver.New(grpcserver.Options{Log: a.deps.Log, Signer: a.deps.Signer, Grace: grace})
	if err != nil {
		return nil, err
	}
	catalogv1.RegisterCatalogServiceServer(srv.Server, grpcapi.New(a.Catalog, a.Designs, a.Stores))
	return srv, nil
}

// RunOptions say what Run runs.
type RunOptions struct {
	Roles    []string
	Listener net.Listener // for the api role
	Queues   Queues
	Grace    time.Duration
	Relay    outbox.RelayConfig
}

// Run runs the roles until ctx is cancelled (then drains) or one fails.
func (a *App) Run(ctx context.Context, o RunOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	start := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			err := f(ctx)
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", name, err)
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	log := a.deps.Log
	for _, role := range o.Roles {
		switch role {
		case RoleAPI:
			srv, err := a.GRPC(o.Grace)
			if err != nil {
				return err
			}
			start(role, func(ctx context.Context) error { return srv.ServeOn(ctx, o.Listener) })
		case RoleRelay:
			pub := amqp.NewPublisher(a.deps.AMQP)
			cfg := o.Relay
			if cfg.Service == "" {
				cfg.Service = "catalog"
			}
			relay := outbox.NewRelay(a.deps.DB.Primary, pub, log, cfg)
			start(role, func(ctx context.Context) error { defer pub.Close(); return relay.Run(ctx) })
		case RoleProjector:
			start(role, func(ctx context.Context) error {
				if ok, err := a.Proj.Complete(ctx); err != nil || !ok {
					st, err := a.Projector.Rebuild(ctx)
					if err != nil {
						log.Warn("initial projection rebuild failed; the projector will repair on reads", "err", err)
					} else {
						log.Info("projections rebuilt", "products", st.Products, "written", st.Written, "pruned", st.Pruned)
					}
				}
				return amqp.Consume(ctx, a.deps.AMQP, amqp.ConsumerConfig{Queue: o.Queues.Projector,
					RoutingKeys: amqpapi.ProjectorKeys, Handler: amqpapi.Projector(a.Projector)})
			})
		case RoleStock:
			start(role, func(ctx context.Context) error {
				return amqp.Consume(ctx, a.deps.AMQP, amqp.ConsumerConfig{Queue: o.Queues.Stock,
					RoutingKeys: amqpapi.StockKeys, Handler: amqpapi.Stock(a.Stock)})
			})
		case RoleDesigns:
			if a.Designs == nil {
				return errors.New("designs role needs S3")
			}
			start(role, func(ctx context.Context) error {
				return amqp.Consume(ctx, a.deps.AMQP, amqp.ConsumerConfig{Queue: o.Queues.Designs,
					RoutingKeys: amqpapi.DesignKeys, Handler: amqpapi.Designs(a.Results)})
			})
		default:
			return fmt.Errorf("unknown role %q (want some of %s)", role, strings.Join(AllRoles, ","))
		}
	}
	wg.Wait()
	return firstErr
}

// ParseRoles splits a comma-separated role list.
func ParseRoles(s string) ([]string, error) {
	var out []string
	for r := range strings.SplitSeq(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(AllRoles, r) {
			return nil, fmt.Errorf("unknown role %q (want some of %s)", r, strings.Join(AllRoles, ","))
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("no roles")
	}
	return out, nil
}

// Serve is the catalog server's body for run.Main.
func Serve(ctx context.Context, p *run.Process) error {
	var cfg Config
	if err := config.Load(ctx, &cfg); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	roles, err := ParseRoles(cfg.Roles)
	if err != nil {
		return err
	}
	signer, err := principal.NewSignerFromConfig(cfg.Principal)
	if err != nil {
		return fmt.Errorf("PRINTFLEET_INTERNAL_SECRET: %w", err)
	}
	if slices.Contains(roles, RoleAPI) && cfg.CredentialsKey == "" {
		return errors.New("PRINTFLEET_CATALOG_CREDENTIALS_KEY is required for the api role (32 bytes, base64)")
	}
	db, err := postgres.Open(ctx, cfg.PG, pgstore.Migrations, p.Log)
	if err != nil {
		return err
	}
	defer db.Close()
	p.AddCheck("postgres", db.Ready)
	rdb, err := redis.New(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	d := Deps{DB: db, Redis: rdb, Signer: signer, Log: p.Log}
	if needsAMQP(roles) {
		conn, err := amqp.Dial(ctx, cfg.AMQP, p.Log)
		if err != nil {
			return err
		}
		defer conn.Close()
		p.AddCheck("amqp", conn.Ready)
		d.AMQP = conn
	}
	if slices.Contains(roles, RoleAPI) || slices.Contains(roles, RoleDesigns) {
		if d.S3, err = s3.New(cfg.S3); err != nil {
			return err
		}
		if d.Presigner, err = s3.NewPresigner(cfg.S3); err != nil {
			return err
		}
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s3.EnsureBuckets(bctx, d.S3, cfg.S3.Region, cfg.DesignsBucket, cfg.RendersBucket); err != nil {
			p.Log.Warn("object store not ready; design uploads fail until it is", "err", err)
		}
		cancel()
	}
	a, err := Build(cfg, d)
	if err != nil {
		return err
	}
	o := RunOptions{Roles: roles, Queues: DefaultQueues, Grace: p.Grace}
	if slices.Contains(roles, RoleAPI) {
		if o.Listener, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			return fmt.Errorf("grpc listen %s: %w", cfg.GRPCAddr, err)
		}
	}
	p.Log.Info("catalog running", "roles", strings.Join(roles, ","), "grpc_addr", cfg.GRPCAddr)
	return a.Run(ctx, o)
}

func needsAMQP(roles []string) bool {
	for _, r := range roles {
		if r != RoleAPI {
			return true
		}
	}
	return false
}
