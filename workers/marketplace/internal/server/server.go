// Package server wires the marketplace worker by hand: configuration, the
// catalog's gRPC connection, Redis for what replicas share, S3 for the
// receipts, RabbitMQ, the marketplace
// adapters behind one router, the use case, and the consumer of the
// marketplace.push queue with its drain on shutdown.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

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
	p.Log.Info("consuming", "queue", cfg.Options.Queue, "concurrency", cfg.Options.Concurrency)
	return consume(ctx, conn, cfg.Options, svc, p.Log)
}

// replicas is what the worker's replicas share: the rate budgets and the
// locks in Redis, refreshed tokens in the catalog. A nil field keeps that in
// the process (tests).
type replicas struct {
	budget marketplace.SharedBudget
	locks  *shared.Locks
	keeper marketplace.TokenKeeper
}

// newMarketplaces returns the three marketplace adapters behind one router at
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
	return marketplace.Router{Endpoints: ep, Pushers: map[domain.Marketplace]marketplace.Pusher{
		domain.Shopify: shopify.New(mo),
		domain.Etsy:    etsy.New(mo),
		domain.Amazon:  amazon.New(mo),
	}}, tokens, nil
}

// consume runs the queue's consumer on conn until ctx is cancelled, then
// stops taking deliveries, lets the pushes in flight finish (cutting those
// still running after DrainTimeout, whose deliveries are requeued: a resend
// is idempotent) and returns.
func consume(ctx context.Context, conn *amqp.Conn, o Options, svc *app.Service, log *slog.Logger) error {
	cut, cutNow := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, func() {
		log.Info("draining", "pending", svc.Pending(), "drain_timeout", o.DrainTimeout)
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
	handle := amqpapi.Handler(svc)
	return amqp.Consume(ctx, conn, amqp.ConsumerConfig{
		Queue:       o.Queue,
		RoutingKeys: amqpapi.RoutingKeys,
		Prefetch:    o.Concurrency,
		Concurrency: o.Concurrency,
		Handler: func(ctx context.Context, d amqp.Delivery) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			defer context.AfterFunc(cut, cancel)()
			return handle(ctx, d)
		},
	})
}
