// Package worker is the image worker's message side: it consumes
// DesignUploaded (validate and normalise a design) and OrderPaid (render
// print files and mockups), reads and writes S3, and publishes
// DesignProcessed and PrintFilesReady. It has no database: every output
// lives at a deterministic key, it publishes only after the S3 writes have
// returned, and acks only after the publish is confirmed, so a redelivery
// rewrites the same objects and republishes the same event (with the same
// message id, for the consumers' inboxes).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
)

// Routing keys (= event types) the worker consumes and publishes.
const (
	TypeDesignUploaded  = "catalog.design_uploaded.v1"
	TypeOrderPaid       = "orders.order_paid.v1"
	TypeDesignProcessed = "images.design_processed.v1"
	TypePrintFilesReady = "images.print_files_ready.v1"
)

// Store is the object storage the worker needs.
type Store interface {
	// Get returns the object, or an error wrapping ErrNotFound or
	// ErrTooLarge (over maxBytes) when that is why it cannot.
	Get(ctx context.Context, bucket, key string, maxBytes int64) ([]byte, error)
	// Put returns once the object is stored.
	Put(ctx context.Context, bucket, key string, body []byte, contentType string) error
}

// Publisher publishes events with broker confirms.
type Publisher interface {
	Publish(ctx context.Context, msgs ...amqp.Message) error
}

// Worker handles the two queues.
type Worker struct {
	opt   Options
	store Store
	pub   Publisher
	log   *slog.Logger
	slots chan struct{} // bounds the jobs decoding or encoding at once
}

// New returns a Worker. Options' zero values take their defaults.
func New(opt Options, store Store, pub Publisher, log *slog.Logger) *Worker {
	opt = opt.withDefaults()
	return &Worker{opt: opt, store: store, pub: pub, log: log, slots: make(chan struct{}, opt.Jobs)}
}

// Run consumes both queues on conn until ctx is cancelled, then lets the
// jobs in flight finish (the consumers drain) and returns.
func (w *Worker) Run(ctx context.Context, conn *amqp.Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	consumers := []amqp.ConsumerConfig{
		{Queue: w.opt.DesignsQueue, RoutingKeys: []string{TypeDesignUploaded}, Handler: w.HandleDesignUploaded},
		{Queue: w.opt.RendersQueue, RoutingKeys: []string{TypeOrderPaid}, Handler: w.HandleOrderPaid},
	}
	errs := make(chan error, len(consumers))
	var wg sync.WaitGroup
	for _, c := range consumers {
		// Prefetch a little beyond the slots so the next job is local when
		// one finishes; the slots, not the consumer, bound the work.
		c.Prefetch, c.Concurrency = 2*w.opt.Jobs, w.opt.Jobs
		wg.Go(func() {
			if err := amqp.Consume(ctx, conn, c); err != nil {
				errs <- err
				cancel() // one consumer failing to start stops the worker
			}
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(c <-chan error) []error {
	var out []error
	for err := range c {
		out = append(out, err)
	}
	return out
}

// acquire takes a processing slot; release gives it back.
func (w *Worker) acquire(ctx context.Context) (release func(), err error) {
	select {
	case w.slots <- struct{}{}:
		jobsInFlight.Inc()
		return func() { <-w.slots; jobsInFlight.Dec() }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a processing slot: %w", ctx.Err())
	}
}

// storageCtx bounds one S3 call.
func (w *Worker) storageCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, w.opt.StorageTimeout)
}

func (w *Worker) get(ctx context.Context, bucket, key string) ([]byte, error) {
	ctx, cancel := w.storageCtx(ctx)
	defer cancel()
	return w.store.Get(ctx, bucket, key, w.opt.MaxBytes)
}

func (w *Worker) put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	ctx, cancel := w.storageCtx(ctx)
	defer cancel()
	return w.store.Put(ctx, bucket, key, body, contentType)
}

// publish sends one event whose message id derives from the delivery it
// answers, so a redelivery republishes the same id and downstream inboxes
// drop the duplicate.
func (w *Worker) publish(ctx context.Context, in amqp.Delivery, typ string, ev proto.Message) error {
	body, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("marshal %s: %w", typ, err)
	}
	id := uuid.NewString()
	if in.ID != "" {
		id = uuid.NewSHA1(messageNamespace, []byte(in.ID+"/"+typ)).String()
	}
	if err := w.pub.Publish(ctx, amqp.Message{ID: id, Type: typ, Body: body, Timestamp: time.Now()}); err != nil {
		return fmt.Errorf("publish %s: %w", typ, err)
	}
	return nil
}

// messageNamespace scopes the worker's derived message ids.
var messageNamespace = uuid.MustParse("5d0c1f8e-3b7a-4c51-9a57-6f1b2e9d4c30")

// safeID is what an id must look like to become part of an object key.
var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

func checkID(field, v string) error {
	if !safeID.MatchString(v) {
		return fmt.Errorf("%s %q: want 1-128 letters, digits, '-' or '_'", field, v)
	}
	return nil
}
