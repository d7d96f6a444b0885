package server

import (
	"context"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/run"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// WorkerConfig is the configuration of cmd/catalog-worker.
type WorkerConfig struct {
	Common
	Relay
	AMQP   amqp.Config `env:", prefix=AMQP_"`
	Queues Queues
}

// Queues name the worker's consumer queues. The defaults are the fleet's
// (eventsv1.Queue…); tests give each run its own. The inbox records
// messages under the fleet's names whatever the queue is called.
type Queues struct {
	// Stock receives OrderPlaced, OrderCancelled and PaymentFailed.
	Stock string `env:"CATALOG_STOCK_QUEUE"`
	// Projector receives ProductChanged.
	Projector string `env:"CATALOG_PROJECTOR_QUEUE"`
	// Designs receives DesignProcessed.
	Designs string `env:"CATALOG_DESIGNS_QUEUE"`
}

// workerDefaults are cmd/catalog-worker's own defaults.
var workerDefaults = config.Defaults{
	"PG_URL":                  DefaultPGURL,
	"CATALOG_STOCK_QUEUE":     eventsv1.QueueCatalogStock,
	"CATALOG_PROJECTOR_QUEUE": eventsv1.QueueCatalogProjector,
	"CATALOG_DESIGNS_QUEUE":   eventsv1.QueueCatalogDesigns,
}

// ServeWorker is cmd/catalog-worker: the stock, projector and design
// consumers and an outbox relay (stock reservations and releases write
// events).
func ServeWorker(ctx context.Context, p *run.Process) error {
	var cfg WorkerConfig
	if err := load(ctx, p, &cfg, workerDefaults); err != nil {
		return err
	}
	d, closeAll, err := open(ctx, p, cfg.Common, &cfg.AMQP)
	if err != nil {
		return err
	}
	defer closeAll()
	a, err := Build(d, Options{RedisPrefix: cfg.RedisPrefix})
	if err != nil {
		return err
	}
	p.Log.Info("catalog worker running", "queues", []string{cfg.Queues.Stock, cfg.Queues.Projector, cfg.Queues.Designs})
	return ignoreCanceled(a.runLoops(ctx,
		a.stockLoop(cfg.Queues.Stock), a.projectorLoop(cfg.Queues.Projector), a.designsLoop(cfg.Queues.Designs),
		a.relayLoop(cfg.Relay.config(p.Name))))
}
