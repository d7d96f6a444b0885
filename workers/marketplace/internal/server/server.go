// Package server wires the marketplace worker by hand: configuration, the
// catalog's and the orders service's gRPC connections, Redis for what
// replicas share, S3 for the receipts, RabbitMQ, the marketplace adapters
// behind one router, the push and import use cases, the consumers of the
// marketplace.push and marketplace.imports queues and the poll loop, all
// drained on shutdown.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/redis"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/s3"

	"github.com/printfleet/printfleet/workers/marketplace/internal/amqpapi"
	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/blob"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/amazon"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/catalog"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/etsy"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/orders"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/shopify"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/events"
	"github.com/printfleet/printfleet/workers/marketplace/internal/shared"
)

// Serve is the marketplace process: it consumes until ctx is cancelled, then
// drains the pushes in flight.
func Serve(ctx context.Context, p *run.Process) error {
	var cfg Config
	if err := config.Load(ctx, &cfg, defaults); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	signer, err := principal.NewSignerFromConfig(cfg.Principal)
	if err != nil {
		return err
	}
	cc, err := grpcclient.Dial(cfg.CatalogAddr, grpcclient.Options{Signer: signer, DefaultTimeout: cfg.Options.CatalogTimeout, TLS: cfg.TLS})
	if err != nil {
		return err
	}
	defer cc.Close()
	stores := catalog.New(cc, cfg.Options.CatalogTimeout)
	p.AddCheck("catalog", stores.Ready)
	occ, err := grpcclient.Dial(cfg.OrdersAddr, grpcclient.Options{Signer: signer, DefaultTimeout: cfg.Options.OrdersTimeout, TLS: cfg.TLS})
	if err != nil {
		return err
	}
	defer occ.Close()
	ordersc := orders.New(occ, cfg.Options.OrdersTimeout)
	p.AddCheck("orders", ordersc.Ready)

	rdb, err := redis.New(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	p.AddCheck("redis", redis.Ready(rdb))
	rep := replicas{budget: shared.NewLimiter(rdb, cfg.Options.RedisPrefix), locks: shared.NewLocks(rdb, cfg.Options.RedisPrefix),
		keeper: stores}
	router, tokens, err := newMarketplaces(cfg.Options, cfg.Endpoints, rep, p.Log)
	if err != nil {
		return err
	}

	s3c, err := s3.Open(ctx, cfg.S3, cfg.ReceiptsBucket, p.Log)
	if err != nil {
		return err
	}
	p.AddCheck("s3", s3.Ready(s3c, cfg.ReceiptsBucket))

	conn, err := amqp.Dial(ctx, cfg.AMQP, p.Log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("marketplace: %w", err)
	}
	defer conn.Close()
	p.AddCheck("amqp", conn.Ready)
	pub := amqp.NewPublisher(conn)
	defer pub.Close()

	svc, err := app.New(cfg.Options.app(), app.Deps{Stores: stores, Marketplaces: router, Tokens: tokens,
		Receipts: blob.NewReceipts(s3c, cfg.ReceiptsBucket), Announcer: events.NewAnnouncer(pub),
		Locks: rep.locks, Reconnections: stores, Log: p.Log})
	if err != nil {
		return err
	}
	im, err := app.NewImporter(cfg.Options.imports(), app.ImportDeps{Stores: stores, Marketplaces: router, Orders: ordersc,
		Locks: rep.locks, Reconnections: stores, Log: p.Log})
	if err != nil {
		return err
	}
	p.Log.Info("consuming", "queue", cfg.Options.Queue, "concurrency", cfg.Options.Concurrency,
		"import_queue", cfg.Options.ImportQueue, "import_queue_concurrency", cfg.Options.ImportQueueConcurrency,
		"import_poll_every", cfg.Options.ImportPollEvery)
	p.Serving()
	return serve(ctx, conn, cfg.Options, svc, im, p.Log)
}

// serve runs the push consumer, the import consumer and the poll loop until
// ctx is cancelled, drains all three and returns the first error.
func serve(ctx context.Context, conn *amqp.Conn, o Options, svc *app.Service, im *app.Importer, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return consume(gctx, conn, o, svc, log) })
	g.Go(func() error { return consumeImports(gctx, conn, o, im, log) })
	g.Go(func() error { return im.Run(gctx) })
	return g.Wait()
}

// replicas is what the worker's replicas share: the rate budgets and the
// locks in Redis, refreshed tokens in the catalog. A nil field keeps that in
// the process (tests).
type replicas struct {
	budget marketplace.SharedBudget
	locks  *shared.Locks
	keeper marketplace.TokenKeeper
}

// newMarketplaces returns the three marketplace adapters (pushes, polls and
// Shopify's webhooks) behind one router at
// the configured endpoints, sharing one token cache and one set of rate
// budgets, kept across replicas as rep says.
func newMarketplaces(o Options, ep marketplace.Endpoints, rep replicas, log *slog.Logger) (marketplace.Router, *marketplace.Tokens, error) {
	if err := ep.Validate(); err != nil {
		return marketplace.Router{}, nil, fmt.Errorf("marketplace endpoints: %w", err)
	}
	tokens := marketplace.NewTokens(func(s domain.Store, _ domain.Credentials) {
		log.Info("marketplace token refreshed", "marketplace", string(s.Marketplace), "store_id", s.ID, "saved", rep.keeper != nil)
	})
	tokens.Keeper = rep.keeper
	if rep.locks != nil {
		tokens.Lock = rep.locks
	}
	budgets := marketplace.NewBudgets()
	if rep.budget != nil {
		budgets = marketplace.NewSharedBudgets(rep.budget)
	}
	mo := o.marketplace(tokens, budgets)
	sh, et, am := shopify.New(mo), etsy.New(mo), amazon.New(mo)
	return marketplace.Router{Endpoints: ep,
		Pushers: map[domain.Marketplace]marketplace.Pusher{domain.Shopify: sh, domain.Etsy: et, domain.Amazon: am},
		Pollers: map[domain.Marketplace]marketplace.Poller{domain.Shopify: sh, domain.Etsy: et, domain.Amazon: am},
		Parsers: map[domain.Marketplace]marketplace.WebhookParser{domain.Shopify: shopify.ParseOrderWebhook},
	}, tokens, nil
}

// consume runs the queue's consumer on conn until ctx is cancelled, then
// stops taking deliveries, lets the pushes in flight finish (cutting those
// still running after DrainTimeout, whose deliveries are requeued: a resend
// is idempotent) and returns.
func consume(ctx context.Context, conn *amqp.Conn, o Options, svc *app.Service, log *slog.Logger) error {
	return consumeQueue(ctx, conn, o, amqp.ConsumerConfig{Queue: o.Queue, RoutingKeys: amqpapi.RoutingKeys,
		Prefetch: o.Concurrency, Concurrency: o.Concurrency}, amqpapi.Handler(svc), svc.Pending, log)
}

// consumeImports runs the import queue's consumer as consume runs the push
// queue's: an import cut by the drain is requeued (importing again is safe).
func consumeImports(ctx context.Context, conn *amqp.Conn, o Options, im *app.Importer, log *slog.Logger) error {
	return consumeQueue(ctx, conn, o, amqp.ConsumerConfig{Queue: o.ImportQueue, RoutingKeys: amqpapi.ImportRoutingKeys,
		Prefetch: o.ImportQueueConcurrency, Concurrency: o.ImportQueueConcurrency}, amqpapi.ImportHandler(im), nil, log)
}

// consumeQueue consumes cc.Queue with handle until ctx is cancelled, then
// drains it, cutting the handlers still running after DrainTimeout.
func consumeQueue(ctx context.Context, conn *amqp.Conn, o Options, cc amqp.ConsumerConfig, handle amqp.Handler,
	pending func() int, log *slog.Logger) error {
	cut, cutNow := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, func() {
		args := []any{"queue", cc.Queue, "drain_timeout", o.DrainTimeout}
		if pending != nil {
			args = append(args, "pending", pending())
		}
		log.Info("draining", args...)
		t := time.NewTimer(o.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cutNow()
		case <-cut.Done():
		}
	})
	defer stop()
	defer cutNow() // runs first: ends the drain timer
	cc.Handler = func(ctx context.Context, d amqp.Delivery) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(cut, cancel)()
		return handle(ctx, d)
	}
	return amqp.Consume(ctx, conn, cc)
}
