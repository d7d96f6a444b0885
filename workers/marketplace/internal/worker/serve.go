package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/s3"

	"github.com/printfleet/printfleet/workers/marketplace/internal/adapters"
	"github.com/printfleet/printfleet/workers/marketplace/internal/adapters/amazon"
	"github.com/printfleet/printfleet/workers/marketplace/internal/adapters/etsy"
	"github.com/printfleet/printfleet/workers/marketplace/internal/adapters/shopify"
)

// Serve is the worker process: it wires the catalog client, S3, RabbitMQ and
// the marketplace adapters by hand and consumes until ctx is cancelled, then
// drains the pushes in flight.
func Serve(ctx context.Context, p *run.Process) error {
	var cfg Config
	if err := config.Load(ctx, &cfg); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	if err := cfg.Endpoints.Validate(); err != nil {
		return fmt.Errorf("marketplace endpoints: %w", err)
	}
	opt := cfg.Options
	opt.ReceiptsBucket = cfg.ReceiptsBucket

	signer, err := principal.NewSignerFromConfig(cfg.Principal)
	if err != nil {
		return err
	}
	cc, err := grpcclient.Dial(cfg.CatalogAddr, grpcclient.Options{Signer: signer, DefaultTimeout: opt.withDefaults().CatalogTimeout})
	if err != nil {
		return err
	}
	defer cc.Close()
	catalog := NewCatalog(cc, opt.CatalogTimeout)
	p.AddCheck("catalog", catalog.Ready)

	s3c, err := s3.New(cfg.S3)
	if err != nil {
		return err
	}
	// The receipts bucket is the worker's own output; make sure it exists, but
	// a store that is down at start only delays work.
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := s3.EnsureBuckets(ectx, s3c, cfg.S3.Region, cfg.ReceiptsBucket); err != nil {
		p.Log.Warn("receipts bucket not ensured; continuing", "err", err)
	}
	cancel()
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

	router, tokens := NewRouter(opt, p.Log)
	w, err := New(opt, cfg.Endpoints, Deps{Stores: catalog, Pusher: router, Receipts: NewS3Receipts(s3c, cfg.ReceiptsBucket),
		Publisher: pub, Tokens: tokens, Log: p.Log})
	if err != nil {
		return err
	}
	p.Log.Info("consuming", "queue", w.opt.Queue, "concurrency", w.opt.Concurrency)
	return w.Run(ctx, conn)
}

func newRouter(o adapters.Options) adapters.Router {
	return adapters.Router{
		adapters.Shopify: shopify.New(o),
		adapters.Etsy:    etsy.New(o),
		adapters.Amazon:  amazon.New(o),
	}
}
