package server

import (
	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/s3"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/app"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// Config is the images process's environment (every variable takes the
// PRINTFLEET_ prefix).
type Config struct {
	AMQP amqp.Config   `env:", prefix=AMQP_"`
	S3   s3.Config     `env:", prefix=S3_"`
	Vips render.Config `env:", prefix=IMAGES_VIPS_"`

	// DesignsQueue and RendersQueue are the queues consumed; they default
	// to the fleet's names for them (see Defaults).
	DesignsQueue string `env:"IMAGES_DESIGNS_QUEUE"`
	RendersQueue string `env:"IMAGES_RENDERS_QUEUE"`

	Options app.Options `env:", prefix=IMAGES_"`
	// The two bucket names are shared with the rest of the fleet.
	DesignsBucket string `env:"S3_BUCKET_DESIGNS, default=printfleet-designs"`
	RendersBucket string `env:"S3_BUCKET_RENDERS, default=printfleet-renders"`
}

// Defaults are the images process's own defaults: the queue names, from
// the one place that defines them.
var Defaults = config.Defaults{
	"IMAGES_DESIGNS_QUEUE": eventsv1.QueueImagesDesigns,
	"IMAGES_RENDERS_QUEUE": eventsv1.QueueImagesRenders,
}

// options are the use cases' options with the shared bucket names.
func (c Config) options() app.Options {
	opt := c.Options
	opt.DesignsBucket, opt.RendersBucket = c.DesignsBucket, c.RendersBucket
	return opt.WithDefaults()
}
