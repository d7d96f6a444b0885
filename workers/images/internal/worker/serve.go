package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/s3"

	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// Serve is the worker process: it wires S3, RabbitMQ and libvips by hand
// and consumes until ctx is cancelled, then drains the jobs in flight.
func Serve(ctx context.Context, p *run.Process) error {
	var cfg Config
	if err := config.Load(ctx, &cfg); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))
	opt := cfg.Options
	opt.DesignsBucket, opt.RendersBucket = cfg.DesignsBucket, cfg.RendersBucket

	render.Startup(cfg.Vips)

	s3c, err := s3.New(cfg.S3)
	if err != nil {
		return err
	}
	// The renders bucket is the worker's own output; make sure it exists,
	// but a store that is down at start only delays work.
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := s3.EnsureBuckets(ectx, s3c, cfg.S3.Region, cfg.RendersBucket); err != nil {
		p.Log.Warn("renders bucket not ensured; continuing", "err", err)
	}
	cancel()
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

	w := New(opt, NewS3Store(s3c), pub, p.Log)
	p.Log.Info("consuming", "designs_queue", w.opt.DesignsQueue, "renders_queue", w.opt.RendersQueue, "jobs", w.opt.Jobs)
	return w.Run(ctx, conn)
}
