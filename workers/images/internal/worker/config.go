package worker

import (
	"runtime"
	"time"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/s3"

	"github.com/printfleet/printfleet/workers/images/internal/inspect"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// Config is the worker's environment (every variable takes the PRINTFLEET_
// prefix).
type Config struct {
	AMQP amqp.Config   `env:", prefix=AMQP_"`
	S3   s3.Config     `env:", prefix=S3_"`
	Vips render.Config `env:", prefix=IMAGES_VIPS_"`

	Options Options `env:", prefix=IMAGES_"`
	// The two bucket names are shared with the rest of the fleet.
	DesignsBucket string `env:"S3_BUCKET_DESIGNS, default=printfleet-designs"`
	RendersBucket string `env:"S3_BUCKET_RENDERS, default=printfleet-renders"`
}

// Options are the worker's own knobs.
type Options struct {
	DesignsQueue string `env:"DESIGNS_QUEUE, default=images.designs"`
	RendersQueue string `env:"RENDERS_QUEUE, default=images.renders"`

	// DesignsBucket is where uploads are read from when the event names no
	// bucket; AllowedSourceBuckets (plus DesignsBucket) are the only buckets
	// an event may name.
	DesignsBucket        string
	AllowedSourceBuckets []string `env:"ALLOWED_SOURCE_BUCKETS"`
	// RendersBucket receives every output and holds design masters.
	RendersBucket string
	// ProductImagesBucket holds the product photos OrderPaid items name by
	// product_image_key.
	ProductImagesBucket string `env:"PRODUCT_IMAGES_BUCKET, default=printfleet-renders"`

	// Jobs is how many images are processed at once; 0 means NumCPU.
	Jobs int `env:"JOBS, default=0"`
	// MaxBytes caps a download; MaxSide and MaxPixels cap what is decoded.
	MaxBytes  int64 `env:"MAX_BYTES, default=67108864"`
	MaxSide   int   `env:"MAX_SIDE, default=12000"`
	MaxPixels int64 `env:"MAX_PIXELS, default=150000000"`

	ThumbSize   int `env:"THUMB_SIZE, default=256"`
	PreviewSize int `env:"PREVIEW_SIZE, default=1024"`
	MockupSize  int `env:"MOCKUP_SIZE, default=1024"`
	// DefaultDPI renders a placement that sets neither recommended nor
	// minimum DPI.
	DefaultDPI int `env:"DEFAULT_DPI, default=300"`
	// StorageTimeout bounds each S3 call.
	StorageTimeout time.Duration `env:"STORAGE_TIMEOUT, default=60s"`
}

func (o Options) withDefaults() Options {
	if o.DesignsQueue == "" {
		o.DesignsQueue = "images.designs"
	}
	if o.RendersQueue == "" {
		o.RendersQueue = "images.renders"
	}
	if o.DesignsBucket == "" {
		o.DesignsBucket = "printfleet-designs"
	}
	if o.RendersBucket == "" {
		o.RendersBucket = "printfleet-renders"
	}
	if o.ProductImagesBucket == "" {
		o.ProductImagesBucket = o.RendersBucket
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.MaxSide <= 0 {
		o.MaxSide = inspect.DefaultLimits.MaxWidth
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = inspect.DefaultLimits.MaxPixels
	}
	if o.ThumbSize <= 0 {
		o.ThumbSize = 256
	}
	if o.PreviewSize <= 0 {
		o.PreviewSize = 1024
	}
	if o.MockupSize <= 0 {
		o.MockupSize = 1024
	}
	if o.DefaultDPI <= 0 {
		o.DefaultDPI = 300
	}
	if o.StorageTimeout <= 0 {
		o.StorageTimeout = 60 * time.Second
	}
	return o
}

func (o Options) limits() inspect.Limits {
	return inspect.Limits{MaxWidth: o.MaxSide, MaxHeight: o.MaxSide, MaxPixels: o.MaxPixels}
}

func (o Options) sourceAllowed(bucket string) bool {
	if bucket == o.DesignsBucket {
		return true
	}
	for _, b := range o.AllowedSourceBuckets {
		if b == bucket {
			return true
		}
	}
	return false
}
