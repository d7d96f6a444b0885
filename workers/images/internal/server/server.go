// Package server wires the images process by hand: S3, RabbitMQ and
// libvips, the use cases, and the two consumers (images.designs and
// images.renders). It consumes until its context is cancelled, then drains
// the jobs in flight.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/s3"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/amqpapi"
	"github.com/printfleet/printfleet/workers/images/internal/app"
	"github.com/printfleet/printfleet/workers/images/internal/blob"
	"github.com/printfleet/printfleet/workers/images/internal/events"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// Serve is the images process.
func Serve(ctx context.Context, p *run.Process) error {
	var cfg Config
	if err := config.Load(ctx, &cfg, Defaults); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	opt := cfg.options()

	render.Startup(cfg.Vips)

	s3c, err := s3.Open(ctx, cfg.S3, cfg.RendersBucket, p.Log)
	if err != nil {
		return err
	}
	p.AddCheck("s3", s3.Ready(s3c, cfg.RendersBucket))

	conn, err := amqp.Dial(ctx, cfg.AMQP, p.Log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("images: %w", err)
	}
	defer conn.Close()
	p.AddCheck("amqp", conn.Ready)
	pub := amqp.NewPublisher(conn)
	defer pub.Close()

	h := handlers(opt, blob.New(s3c), pub, p.Log)
	p.Log.Info("consuming", "designs_queue", cfg.DesignsQueue, "renders_queue", cfg.RendersQueue, "jobs", opt.Jobs)
	p.Serving()
	return consume(ctx, conn, queues{designs: cfg.DesignsQueue, renders: cfg.RendersQueue}, opt.Jobs, h)
}

// handlers builds the use cases on their adapters.
func handlers(opt app.Options, b app.Blob, pub events.Sender, log *slog.Logger) *amqpapi.Handlers {
	return amqpapi.New(app.New(opt, b, events.NewPublisher(pub), log))
}

// queues are the names of the two queues consumed.
type queues struct {
	designs, renders string
}

// consume runs both consumers on conn until ctx is cancelled, then lets the
// jobs in flight finish (the consumers drain) and returns.
func consume(ctx context.Context, conn *amqp.Conn, q queues, jobs int, h *amqpapi.Handlers) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	consumers := []amqp.ConsumerConfig{
		{Queue: q.designs, RoutingKeys: []string{eventsv1.KeyDesignUploaded}, Handler: h.DesignUploaded},
		{Queue: q.renders, RoutingKeys: []string{eventsv1.KeyOrderPaid}, Handler: h.OrderPaid},
	}
	errs := make(chan error, len(consumers))
	var wg sync.WaitGroup
	for _, c := range consumers {
		// Prefetch a little beyond the processing slots so the next job is
		// local when one finishes; the slots, not the consumer, bound the
		// work.
		c.Prefetch, c.Concurrency = 2*jobs, jobs
		wg.Go(func() {
			if err := amqp.Consume(ctx, conn, c); err != nil {
				errs <- err
				cancel() // one consumer failing to start stops the worker
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
