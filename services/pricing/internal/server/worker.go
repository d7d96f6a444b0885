package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/run"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/amqpapi"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

// WorkerConfig is the pricing worker process's configuration.
type WorkerConfig struct {
	DBConfig
	// AMQP is the broker the coupon consumer reads OrderPlaced from.
	AMQP amqp.Config `env:", prefix=AMQP_"`
	// Queue is the coupon consumer's queue (tests use their own).
	Queue string `env:"PRICING_WORKER_QUEUE"`
	// CatalogQueue is the queue of the consumer that keeps the catalog's
	// variant prices as default list prices (empty: not consumed).
	CatalogQueue string `env:"PRICING_CATALOG_QUEUE"`
	// ExpireInterval is how often unconfirmed coupon reservations past
	// their expiry are given back (0 disables the sweep; the next redemption
	// of a coupon still expires its own).
	ExpireInterval time.Duration `env:"PRICING_EXPIRE_INTERVAL, default=1m"`
}

// WorkerDefaults are the worker's defaults: pricing's, and its queue.
var WorkerDefaults = config.Defaults{"PG_URL": DefaultPGURL, "PRICING_WORKER_QUEUE": eventsv1.QueuePricingCoupons,
	"PRICING_CATALOG_QUEUE": eventsv1.QueuePricingCatalog}

// Worker is a wired pricing worker, not yet consuming.
type Worker struct {
	App  *app.Service
	DB   *postgres.DB
	AMQP *amqp.Conn
	cfg  WorkerConfig
	log  *slog.Logger
}

// NewWorker opens the database (migrating it) and the broker connection.
// Its use-case service loads no snapshot: the worker serves no quotes.
func NewWorker(ctx context.Context, cfg WorkerConfig, log *slog.Logger) (*Worker, error) {
	db, err := postgres.Open(ctx, cfg.PG, store.Migrations, log)
	if err != nil {
		return nil, err
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := amqp.Dial(dialCtx, cfg.AMQP, log)
	cancel()
	if err != nil {
		db.Close()
		return nil, err
	}
	svc := app.New(store.New(db.Primary), app.Options{Log: log})
	return &Worker{App: svc, DB: db, AMQP: conn, cfg: cfg, log: log}, nil
}

// Run consumes the coupon queue and the catalog queue and sweeps expired
// reservations until ctx ends or a consumer fails (the other then stops
// too), then closes the broker connection and the database.
func (w *Worker) Run(ctx context.Context) error {
	defer w.DB.Close()
	defer w.AMQP.Close()
	if w.cfg.ExpireInterval > 0 {
		sweepCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.sweep(sweepCtx)
		}()
		defer func() { stop(); <-done }()
	}
	consumers := []amqp.ConsumerConfig{{
		Queue: w.cfg.Queue, RoutingKeys: amqpapi.CouponRoutingKeys,
		Handler: amqpapi.CouponHandler(w.App, w.log),
	}}
	if w.cfg.CatalogQueue != "" {
		consumers = append(consumers, amqp.ConsumerConfig{
			Queue: w.cfg.CatalogQueue, RoutingKeys: amqpapi.CatalogRoutingKeys,
			Handler: amqpapi.CatalogHandler(w.App, w.log),
		})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(consumers))
	for _, c := range consumers {
		go func() {
			err := amqp.Consume(ctx, w.AMQP, c)
			cancel()
			errc <- err
		}()
	}
	first := <-errc // the consumer that ended first says why
	for range consumers[1:] {
		<-errc
	}
	return first
}

// sweep expires unconfirmed coupon reservations every ExpireInterval.
func (w *Worker) sweep(ctx context.Context) {
	t := time.NewTicker(w.cfg.ExpireInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := w.App.ExpireReservations(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.WarnContext(ctx, "expire coupon reservations", "err", err)
		case n > 0:
			w.log.InfoContext(ctx, "coupon reservations expired", "count", n)
		}
	}
}

// ServeWorker is the pricing worker process (cmd/pricing-worker): the
// pricing.coupons consumer, which counts the coupon uses of placed orders,
// and the pricing.catalog consumer, which keeps the catalog's variant prices
// as default list prices.
func ServeWorker(ctx context.Context, p *run.Process) error {
	var cfg WorkerConfig
	if err := config.Load(ctx, &cfg, WorkerDefaults); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	w, err := NewWorker(ctx, cfg, p.Log)
	if err != nil {
		return err
	}
	p.AddCheck("postgres", w.DB.Ready)
	p.AddCheck("amqp", w.AMQP.Ready)
	p.Serving()
	return ignoreCanceled(w.Run(ctx))
}
