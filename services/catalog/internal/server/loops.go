package server

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/outbox"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/amqpapi"
	"github.com/printfleet/printfleet/services/catalog/internal/grpcapi"
)

// A loop is one long-running part of a process: the gRPC server, the outbox
// relay, a consumer. It returns once ctx is cancelled and it has drained,
// or when it fails.
type loop struct {
	name string
	run  func(ctx context.Context) error
	// queue, for a consumer, is bound to keys before any loop starts.
	queue string
	keys  []string
}

// bind declares the consumers' queues with their bindings.
func (a *App) bind(ctx context.Context, loops ...loop) error {
	for _, l := range loops {
		if l.queue == "" {
			continue
		}
		if err := a.deps.AMQP.DeclareQueue(ctx, l.queue, l.keys...); err != nil {
			return fmt.Errorf("%s: bind %s: %w", l.name, l.queue, err)
		}
	}
	return nil
}

// runLoops binds the consumers' queues, so that the first batch of the
// process's own relay finds them, tells Deps.Serving (the gRPC loop's
// listener is open already), then runs loops until ctx is cancelled or
// one fails; a failure stops the others. Errors of loops stopping because
// of the cancellation are not failures.
func (a *App) runLoops(ctx context.Context, loops ...loop) error {
	if err := a.bind(ctx, loops...); err != nil {
		return err
	}
	if a.deps.Serving != nil {
		a.deps.Serving()
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range loops {
		g.Go(func() error {
			if err := l.run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("%s: %w", l.name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// grpcLoop serves the CatalogService on ln.
func (a *App) grpcLoop(ln net.Listener, grace time.Duration) (loop, error) {
	srv, err := grpcserver.New(grpcserver.Options{Log: a.deps.Log, Signer: a.deps.Signer, Grace: grace, TLS: a.deps.TLS})
	if err != nil {
		return loop{}, err
	}
	catalogv1.RegisterCatalogServiceServer(srv.Server, grpcapi.New(a.Catalog, a.Designs, a.Stores, a.Listings))
	return loop{name: "grpc", run: func(ctx context.Context) error { return srv.ServeOn(ctx, ln) }}, nil
}

// Relay tunes a process's outbox relay.
type Relay struct {
	// RelayWindow is how long the relay, woken by a commit, waits for other
	// commits to join its batch.
	RelayWindow time.Duration `env:"CATALOG_RELAY_WINDOW, default=1ms"`
	// RelayPoll is the relay's safety-net poll: rows a dead process or a job
	// left, and rows whose publish failed.
	RelayPoll time.Duration `env:"CATALOG_RELAY_POLL, default=2s"`
}

// config is the relay's configuration for the process named service.
func (r Relay) config(service string) outbox.RelayConfig {
	return outbox.RelayConfig{Service: service, Window: r.RelayWindow, Poll: r.RelayPoll}
}

// relayLoop publishes the outbox. Every catalog process that consumes or
// serves runs one, woken by the store after each commit that emitted events,
// so each relay publishes what its process committed; its slow poll takes
// what a dead process (or a job without a relay, like the demo seed) left.
func (a *App) relayLoop(cfg outbox.RelayConfig) loop {
	pub := amqp.NewPublisher(a.deps.AMQP)
	relay := outbox.NewRelay(a.deps.DB.Primary, pub, a.deps.Log, cfg)
	a.Store.WakeAfterCommit(relay.Wake)
	return loop{name: "relay", run: func(ctx context.Context) error {
		defer pub.Close()
		return relay.Run(ctx)
	}}
}

// stockLoop reserves and releases stock for orders (catalog.stock).
func (a *App) stockLoop(queue string) loop {
	return a.consumer("stock", queue, amqpapi.StockKeys, amqpapi.Stock(a.Stock))
}

// designsLoop records the image worker's verdicts (catalog.designs).
func (a *App) designsLoop(queue string) loop {
	return a.consumer("designs", queue, amqpapi.DesignKeys, amqpapi.Designs(a.Results))
}

// projectorLoop keeps the projections current (catalog.projector). It first
// rebuilds them when the listing index is not marked complete (a fresh or
// flushed Redis); a failed rebuild is repaired by reads.
func (a *App) projectorLoop(queue string) loop {
	l := a.consumer("projector", queue, amqpapi.ProjectorKeys, amqpapi.Projector(a.Projector))
	consume := l.run
	l.run = func(ctx context.Context) error {
		log := a.deps.Log
		if ok, err := a.Proj.Complete(ctx); err != nil || !ok {
			st, err := a.Projector.Rebuild(ctx)
			if err != nil {
				log.Warn("initial projection rebuild failed; the projector will repair on reads", "err", err)
			} else {
				log.Info("projections rebuilt", "products", st.Products, "written", st.Written, "pruned", st.Pruned)
			}
		}
		return consume(ctx)
	}
	return l
}

func (a *App) consumer(name, queue string, keys []string, h amqp.Handler) loop {
	return loop{name: name, queue: queue, keys: keys, run: func(ctx context.Context) error {
		return amqp.Consume(ctx, a.deps.AMQP, amqp.ConsumerConfig{Queue: queue, RoutingKeys: keys, Handler: h})
	}}
}
