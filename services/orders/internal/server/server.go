// Package server wires the orders processes by hand: the API (gRPC
// OrderService, outbox relay, idempotency-key sweeper) and the worker
// (orders.worker consumer, payments, reconciler, outbox relay).
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/inbox"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/redis"
	"github.com/printfleet/printfleet/platform/run"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/amqpapi"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/cache"
	"github.com/printfleet/printfleet/services/orders/internal/clients/catalog"
	"github.com/printfleet/printfleet/services/orders/internal/clients/payment"
	"github.com/printfleet/printfleet/services/orders/internal/clients/pricing"
	"github.com/printfleet/printfleet/services/orders/internal/grpcapi"
	pgstore "github.com/printfleet/printfleet/services/orders/internal/store/postgres"
)

// DefaultPGURL is the orders database when PRINTFLEET_PG_URL is not set.
const DefaultPGURL = "postgres://postgres@127.0.0.1:5432/orders?sslmode=disable"

// APIDefaults are the API process's own defaults: the platform's PG_URL
// names the maintenance database; orders has its own.
var APIDefaults = config.Defaults{"PG_URL": DefaultPGURL}

// WorkerDefaults are the worker process's: the orders database and the
// queue named beside the event contracts.
var WorkerDefaults = config.Defaults{"PG_URL": DefaultPGURL, "ORDERS_WORKER_QUEUE": eventsv1.QueueOrdersWorker}

// Common is what both processes read.
type Common struct {
	PG    postgres.Config `env:", prefix=PG_"`
	Redis redis.Config    `env:", prefix=REDIS_"`
	AMQP  amqp.Config     `env:", prefix=AMQP_"`
	// CacheTTL bounds how long a cached order (or tombstone) lives.
	CacheTTL time.Duration `env:"ORDERS_CACHE_TTL, default=10m"`
	// RelayBatch is the most rows the outbox relay publishes per batch.
	RelayBatch int `env:"ORDERS_RELAY_BATCH, default=256"`
	// RelayWindow is how long the relay, woken by a commit, waits for other
	// commits to join its batch.
	RelayWindow time.Duration `env:"ORDERS_RELAY_WINDOW, default=1ms"`
	// RelayPoll is the relay's safety-net poll: rows a dead process left, and
	// rows whose publish failed. Commits wake their own process's relay.
	RelayPoll time.Duration `env:"ORDERS_RELAY_POLL, default=2s"`
	// StuckAfter is how long an order may wait for a step (the catalog's
	// stock answer, a charge, a refund, print files, a marketplace push)
	// before the worker's reconciler drives it again; the API lists the
	// orders past it as stuck (ListStuckOrders).
	StuckAfter time.Duration `env:"ORDERS_STUCK_AFTER, default=10m"`
}

// APIConfig is the API process's configuration.
type APIConfig struct {
	Common
	// Principal is the internal secret: the worker makes no gRPC call and
	// does not hold it.
	Principal principal.Config `env:""`
	// TLS secures the gRPC port and the calls to catalog and pricing.
	TLS         grpctls.Config `env:""`
	GRPCAddr    string         `env:"GRPC_ADDR, default=127.0.0.1:9101"`
	CatalogAddr string         `env:"CATALOG_ADDR, default=127.0.0.1:9102"`
	PricingAddr string         `env:"PRICING_ADDR, default=127.0.0.1:9103"`
	// UpstreamTimeout bounds a catalog or pricing call without a deadline.
	UpstreamTimeout time.Duration `env:"ORDERS_UPSTREAM_TIMEOUT, default=2s"`
	// SweepEvery is how often expired idempotency keys are deleted.
	SweepEvery time.Duration `env:"ORDERS_IDEMPOTENCY_SWEEP, default=5m"`
	// ReadYourWritesWindow is how long, after a user changed an order, that
	// user's lists read the primary instead of the replica
	// (PRINTFLEET_PG_READ_URL); keep it well above the replication lag.
	ReadYourWritesWindow time.Duration `env:"ORDERS_READ_YOUR_WRITES_WINDOW, default=10s"`
	// DraftTTL is how long a DRAFT order (confirm: false) lives unconfirmed
	// from its creation or last edit; the worker then cancels it.
	DraftTTL time.Duration `env:"ORDERS_DRAFT_TTL, default=72h"`
}

// WorkerConfig is the worker process's configuration.
type WorkerConfig struct {
	Common
	Payment payment.Config `env:", prefix=PAYMENT_"`
	// Concurrency bounds handlers running at once.
	Concurrency int `env:"ORDERS_WORKER_CONCURRENCY, default=32"`
	// Queue is the worker's queue (tests use their own).
	Queue string `env:"ORDERS_WORKER_QUEUE"`
	// ReconcileEvery is the time between the reconciler's passes (one
	// replica at a time runs one, under a PostgreSQL advisory lock).
	ReconcileEvery time.Duration `env:"ORDERS_RECONCILE_EVERY, default=30s"`
	// DraftExpireEvery is the time between the passes that cancel drafts
	// past their expiry.
	DraftExpireEvery time.Duration `env:"ORDERS_DRAFT_EXPIRE_EVERY, default=1m"`
}

// infra is what both processes open.
type infra struct {
	db    *postgres.DB
	store *pgstore.Store
	rdb   goredis.UniversalClient
	cache *cache.Orders
	amqp  *amqp.Conn
}

func open(ctx context.Context, p *run.Process, c Common) (*infra, func(), error) {
	db, err := postgres.Open(ctx, c.PG, pgstore.Migrations, p.Log)
	if err != nil {
		return nil, nil, err
	}
	rdb, err := redis.New(c.Redis)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := amqp.Dial(dialCtx, c.AMQP, p.Log)
	cancel()
	if err != nil {
		_ = rdb.Close()
		db.Close()
		return nil, nil, err
	}
	p.AddCheck("postgres", db.Ready)
	p.AddCheck("amqp", conn.Ready)
	// Redis is deliberately not a readiness check: without it reads degrade
	// to PostgreSQL, and taking every replica out of service because of it
	// would turn a degradation into an outage. Its state is the gauge
	// printfleet_orders_cache_redis_up.
	in := &infra{
		db: db, store: pgstore.New(db.Primary, db.Reader), rdb: rdb,
		cache: cache.New(rdb, cache.Config{TTL: c.CacheTTL, Wire: grpcapi.MarshalOrder}, p.Log), amqp: conn,
	}
	closeAll := func() {
		_ = conn.Close()
		_ = rdb.Close()
		db.Close()
	}
	return in, closeAll, nil
}

// relay returns the process's outbox relay, woken by the store after every
// commit that wrote outbox rows: the API and the worker each publish what
// they committed, and each polls slowly for what a dead process left.
func relay(in *infra, p *run.Process, c Common, service string) *outbox.Relay {
	r := outbox.NewRelay(in.db.Primary, amqp.NewPublisher(in.amqp), p.Log,
		outbox.RelayConfig{Service: service, BatchSize: c.RelayBatch, Window: c.RelayWindow, Poll: c.RelayPoll})
	in.store.WakeAfterCommit(r.Wake)
	return r
}

// Serve is the orders API process.
func Serve(ctx context.Context, p *run.Process) error {
	var cfg APIConfig
	if err := config.Load(ctx, &cfg, APIDefaults); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	signer, err := principal.NewSignerFromConfig(cfg.Principal)
	if err != nil {
		return err
	}
	in, closeAll, err := open(ctx, p, cfg.Common)
	if err != nil {
		return err
	}
	defer closeAll()

	opts := grpcclient.Options{Signer: signer, DefaultTimeout: cfg.UpstreamTimeout, TLS: cfg.TLS}
	catalogConn, err := grpcclient.Dial(cfg.CatalogAddr, opts)
	if err != nil {
		return err
	}
	defer catalogConn.Close()
	pricingConn, err := grpcclient.Dial(cfg.PricingAddr, opts)
	if err != nil {
		return err
	}
	defer pricingConn.Close()

	tokenKey := sha256.Sum256([]byte("orders page tokens\x00" + cfg.Principal.InternalSecret.Reveal()))
	var recent app.RecentWrites // nil: no replica, every list reads the primary
	if cfg.PG.ReadURL != "" {
		recent = cache.NewRecentWrites(in.rdb, "", cfg.ReadYourWritesWindow, p.Log)
	}
	cat := catalog.New(catalogConn)
	svc := app.NewService(app.Deps{
		Store: in.store, Cache: in.cache, RecentWrites: recent, Catalog: cat, Pricing: pricing.New(pricingConn),
		Listings: cat, CheckAddress: grpcapi.CheckAddress, TokenKey: tokenKey[:], Log: p.Log,
	})
	if cfg.DraftTTL <= 0 {
		return errors.New("PRINTFLEET_ORDERS_DRAFT_TTL must be positive")
	}
	svc.DraftTTL = cfg.DraftTTL
	if cfg.StuckAfter <= 0 {
		return errors.New("PRINTFLEET_ORDERS_STUCK_AFTER must be positive")
	}
	svc.StuckAfter = cfg.StuckAfter
	srv, err := grpcserver.New(grpcserver.Options{Log: p.Log, Signer: signer, Grace: p.Grace, TLS: cfg.TLS, Serving: p.Serving})
	if err != nil {
		return err
	}
	ordersv1.RegisterOrderServiceServer(srv, grpcapi.New(svc))

	rel := relay(in, p, cfg.Common, "orders")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, cfg.GRPCAddr) })
	g.Go(func() error { return rel.Run(gctx) })
	g.Go(func() error { sweep(gctx, p, in, cfg.SweepEvery); return nil })
	return ignoreCanceled(g.Wait())
}

// sweep deletes expired idempotency keys and old inbox rows. Every replica
// may run it: the deletes are idempotent.
func sweep(ctx context.Context, p *run.Process, in *infra, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := in.store.SweepIdempotencyKeys(ctx); err != nil {
			p.Log.Warn("idempotency sweep", "err", err)
		} else if n > 0 {
			p.Log.Info("idempotency sweep", "deleted", n)
		}
		if err := inbox.Sweep(ctx, in.db.Primary, "7 days"); err != nil {
			p.Log.Warn("inbox sweep", "err", err)
		}
	}
}

// ServeWorker is the orders worker process.
func ServeWorker(ctx context.Context, p *run.Process) error {
	var cfg WorkerConfig
	if err := config.Load(ctx, &cfg, WorkerDefaults); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	if cfg.Payment.APIKey == "" {
		return errors.New("PRINTFLEET_PAYMENT_API_KEY is required")
	}
	in, closeAll, err := open(ctx, p, cfg.Common)
	if err != nil {
		return err
	}
	defer closeAll()

	pay := payment.NewResilient(payment.NewClient(cfg.Payment, nil), cfg.Payment)
	// Inbox claims go under the queue's canonical name whatever queue is
	// configured (tests bind their own), so a configured name never splits
	// the record of processed messages.
	w := app.NewWorker(app.WorkerDeps{Store: in.store, Cache: in.cache, Payments: pay, Inbox: eventsv1.QueueOrdersWorker, Log: p.Log})

	rec := app.NewReconciler(in.store, w, app.ReconcilerConfig{Every: cfg.ReconcileEvery, StuckAfter: cfg.StuckAfter})

	rel := relay(in, p, cfg.Common, "orders-worker")
	// Bound before the process says it serves, as the consumer would bind
	// it: a message published once the worker is ready reaches it.
	if err := in.amqp.DeclareQueue(ctx, cfg.Queue, amqpapi.RoutingKeys...); err != nil {
		return fmt.Errorf("orders: bind %s: %w", cfg.Queue, err)
	}
	p.Serving()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rec.Run(gctx) })
	expirer := app.NewDraftExpirer(in.store, w, cfg.DraftExpireEvery, 0)
	g.Go(func() error { return expirer.Run(gctx) })
	g.Go(func() error {
		return amqp.Consume(gctx, in.amqp, amqp.ConsumerConfig{
			Queue: cfg.Queue, RoutingKeys: amqpapi.RoutingKeys,
			Concurrency: cfg.Concurrency, Handler: amqpapi.Handler(w),
		})
	})
	g.Go(func() error { return rel.Run(gctx) })
	return ignoreCanceled(g.Wait())
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	return nil
}
