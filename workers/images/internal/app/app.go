// Package app is the image worker's use cases: validate an uploaded design
// (inspect it, judge its DPI per placement, write a master, thumbnail,
// preview and report) and render a paid order's print files and mockups.
// It owns the ports it needs — object storage (Blob) and the announcement
// of results (Announcer) — and knows neither protobuf nor S3 clients.
//
// The worker has no database: every output lives at a deterministic key,
// and a use case announces its result only after the object writes have
// returned, so a retried job rewrites the same objects and announces the
// same result.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/domain"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
)

// Errors a Blob returns for conditions that are the object's fault, not
// the store's.
var (
	ErrNotFound = errors.New("object not found")
	ErrTooLarge = errors.New("object over the byte cap")
)

// Blob is the object storage the worker needs.
type Blob interface {
	// Get returns the object, or an error wrapping ErrNotFound or
	// ErrTooLarge (over maxBytes) when that is why it cannot.
	Get(ctx context.Context, bucket, key string, maxBytes int64) ([]byte, error)
	// Put returns once the object is stored.
	Put(ctx context.Context, bucket, key string, body []byte, contentType string) error
}

// Announcer tells the fleet what the worker did, returning once the
// announcement is durable. cause is the id of the message that asked for
// the work: announcing the same result for the same cause again must be
// recognisable downstream as a duplicate.
type Announcer interface {
	DesignProcessed(ctx context.Context, cause string, r domain.DesignResult) error
	PrintFilesReady(ctx context.Context, cause string, r domain.PrintFiles) error
}

// Options are the worker's own knobs (every variable takes the
// PRINTFLEET_IMAGES_ prefix in the server's configuration).
type Options struct {
	// DesignsBucket is where uploads are read from when the request names
	// no bucket; AllowedSourceBuckets (plus DesignsBucket) are the only
	// buckets a request may name.
	DesignsBucket        string
	AllowedSourceBuckets []string `env:"ALLOWED_SOURCE_BUCKETS"`
	// RendersBucket receives every output and holds design masters.
	RendersBucket string
	// ProductImagesBucket holds the product photos render items name by
	// product image key.
	ProductImagesBucket string `env:"PRODUCT_IMAGES_BUCKET, default=printfleet-renders"`

	// Jobs is how many images are processed at once; 0 means NumCPU.
	Jobs int `env:"JOBS, default=0"`
	// MaxBytes caps a download. It is eventsv1.MaxDesignBytes, the limit the
	// catalog enforces at upload, and not configured on its own (tests lower
	// it).
	MaxBytes int64
	// MaxSide and MaxPixels cap what is decoded.
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

// WithDefaults returns o with every zero value replaced by its default
// (Jobs by NumCPU, ProductImagesBucket by RendersBucket).
func (o Options) WithDefaults() Options {
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
		o.MaxBytes = eventsv1.MaxDesignBytes
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

// SourceAllowed reports whether a design may be read from bucket.
func (o Options) SourceAllowed(bucket string) bool {
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

// App runs the use cases.
type App struct {
	opt      Options
	blob     Blob
	announce Announcer
	log      *slog.Logger
	slots    chan struct{} // bounds the jobs decoding or encoding at once
}

// New returns an App. Options' zero values take their defaults.
func New(opt Options, blob Blob, announce Announcer, log *slog.Logger) *App {
	opt = opt.WithDefaults()
	return &App{opt: opt, blob: blob, announce: announce, log: log, slots: make(chan struct{}, opt.Jobs)}
}

// acquire takes a processing slot; release gives it back.
func (a *App) acquire(ctx context.Context) (release func(), err error) {
	select {
	case a.slots <- struct{}{}:
		jobsInFlight.Inc()
		return func() { <-a.slots; jobsInFlight.Dec() }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a processing slot: %w", ctx.Err())
	}
}

func (a *App) get(ctx context.Context, bucket, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opt.StorageTimeout)
	defer cancel()
	return a.blob.Get(ctx, bucket, key, a.opt.MaxBytes)
}

func (a *App) put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	ctx, cancel := context.WithTimeout(ctx, a.opt.StorageTimeout)
	defer cancel()
	return a.blob.Put(ctx, bucket, key, body, contentType)
}
