// Package server wires the ops process (cmd/ops) by hand: the
// DeadLetterService gRPC API and one consumer per <queue>.dlq that parks
// what arrives. Replicas share the .dlq consumers (the broker spreads the
// deliveries) and the database (parking is idempotent by message id).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/run"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	opsv1 "github.com/printfleet/printfleet/proto/printfleet/ops/v1"
	"github.com/printfleet/printfleet/services/ops/internal/amqpapi"
	"github.com/printfleet/printfleet/services/ops/internal/app"
	"github.com/printfleet/printfleet/services/ops/internal/grpcapi"
	store "github.com/printfleet/printfleet/services/ops/internal/store/postgres"
)

// DefaultPGURL is the ops database when PRINTFLEET_PG_URL is not set.
const DefaultPGURL = "postgres://postgres@127.0.0.1:5432/ops?sslmode=disable"

// Defaults are the ops process's own defaults for shared variables.
var Defaults = config.Defaults{"PG_URL": DefaultPGURL}

// Config is the ops process's configuration (every variable
// PRINTFLEET_-prefixed).
type Config struct {
	PG   postgres.Config `env:", prefix=PG_"`
	AMQP amqp.Config     `env:", prefix=AMQP_"`
	principal.Config
	// TLS secures the gRPC port.
	TLS      grpctls.Config `env:""`
	GRPCAddr string         `env:"GRPC_ADDR, default=127.0.0.1:9105"`
	Ops      OpsConfig      `env:", prefix=OPS_"`
	// Grace bounds the gRPC drain (set from the process, not the environment).
	Grace time.Duration `json:"-"`
}

// OpsConfig is the dead-letter machinery's configuration.
type OpsConfig struct {
	// Queues are the consumer queues whose <queue>.dlq is parked (empty:
	// every queue of the fleet, eventsv1.Queues; tests use their own).
	Queues []string `env:"QUEUES"`
	// Prefetch bounds the unacked dead letters per .dlq consumer.
	Prefetch int `env:"PREFETCH, default=16"`
}

// Process is a wired ops process, not yet serving.
type Process struct {
	App      *app.Service
	GRPC     *grpcserver.Server
	DB       *postgres.DB
	AMQP     *amqp.Conn
	cfg      Config
	log      *slog.Logger
	replayer *amqpapi.Replayer
	stop     func()
}

// Deps are what tests may replace (nil: the real ones).
type Deps struct {
	Registerer prometheus.Registerer
}

// New opens the database (migrating it) and the broker and builds the gRPC
// server.
func New(ctx context.Context, cfg Config, log *slog.Logger, deps Deps) (*Process, error) {
	if len(cfg.Ops.Queues) == 0 {
		cfg.Ops.Queues = eventsv1.Queues
	}
	signer, err := principal.NewSignerFromConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
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
	replayer := amqpapi.NewReplayer(conn)
	closeAll := func() {
		_ = replayer.Close()
		_ = conn.Close()
		db.Close()
	}
	svc := app.New(app.Options{
		Store: store.New(db.Primary), Replayer: replayer, Broker: conn, Queues: cfg.Ops.Queues,
		Log: log, Registerer: deps.Registerer,
	})
	srv, err := grpcserver.New(grpcserver.Options{Log: log, Registerer: deps.Registerer, Signer: signer, Grace: cfg.Grace, TLS: cfg.TLS})
	if err != nil {
		closeAll()
		return nil, err
	}
	opsv1.RegisterDeadLetterServiceServer(srv, grpcapi.New(svc))
	return &Process{App: svc, GRPC: srv, DB: db, AMQP: conn, cfg: cfg, log: log, replayer: replayer, stop: closeAll}, nil
}

// Run serves gRPC on ln and parks every .dlq until ctx ends; then it stops
// taking dead letters, finishes the ones in hand, drains gRPC and closes
// everything.
func (p *Process) Run(ctx context.Context, ln net.Listener) error {
	defer p.stop()
	var wg sync.WaitGroup
	errc := make(chan error, len(p.cfg.Ops.Queues))
	loopCtx, cancelLoops := context.WithCancel(ctx)
	defer cancelLoops()
	for _, q := range p.cfg.Ops.Queues {
		wg.Go(func() {
			// Existing: the .dlq is its consumer's to declare; one that does
			// not exist yet is waited for without holding up the others.
			err := amqp.Consume(loopCtx, p.AMQP, amqp.ConsumerConfig{
				Queue: amqp.DLQName(q), Existing: true, Prefetch: p.cfg.Ops.Prefetch,
				Handler: amqpapi.Handler(p.App, q),
			})
			if err != nil {
				errc <- err
				cancelLoops()
			}
		})
	}
	grpcErr := make(chan error, 1)
	go func() { grpcErr <- p.GRPC.ServeOn(loopCtx, ln) }()
	err := <-grpcErr
	cancelLoops()
	wg.Wait()
	close(errc)
	for cerr := range errc {
		err = errors.Join(err, cerr)
	}
	return err
}

// Serve is the ops process (cmd/ops).
func Serve(ctx context.Context, rp *run.Process) error {
	var cfg Config
	if err := config.Load(ctx, &cfg, Defaults); err != nil {
		return err
	}
	cfg.Grace = rp.Grace
	rp.Log.Info("config", "config", config.Masked(cfg))
	p, err := New(ctx, cfg, rp.Log, Deps{Registerer: rp.Registry})
	if err != nil {
		return err
	}
	rp.AddCheck("postgres", p.DB.Ready)
	rp.AddCheck("amqp", p.AMQP.Ready)
	ln, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		p.stop()
		return fmt.Errorf("grpc listen %s: %w", cfg.GRPCAddr, err)
	}
	rp.Serving()
	if err := p.Run(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("ops: %w", err)
	}
	return nil
}
