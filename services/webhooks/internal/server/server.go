// Package server wires the webhooks process (cmd/webhooks) by hand: the
// WebhookService gRPC API, the webhooks.notices consumer that fans notices
// out into deliveries, the dispatcher that sends them, and the housekeeping
// loop (retention, gauges). One process does all four; replicas share the
// work through the database (SKIP LOCKED claims with leases).
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
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/secret"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
	"github.com/printfleet/printfleet/services/webhooks/internal/amqpapi"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
	"github.com/printfleet/printfleet/services/webhooks/internal/clients/orders"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
	"github.com/printfleet/printfleet/services/webhooks/internal/egress"
	"github.com/printfleet/printfleet/services/webhooks/internal/grpcapi"
	store "github.com/printfleet/printfleet/services/webhooks/internal/store/postgres"
)

// DefaultPGURL is the webhooks database when PRINTFLEET_PG_URL is not set.
const DefaultPGURL = "postgres://postgres@127.0.0.1:5432/webhooks?sslmode=disable"

// Defaults are the webhooks process's own defaults for shared variables.
var Defaults = config.Defaults{"PG_URL": DefaultPGURL, "WEBHOOKS_QUEUE": eventsv1.QueueWebhooksNotices}

// Config is the webhooks process's configuration (every variable
// PRINTFLEET_-prefixed).
type Config struct {
	PG   postgres.Config `env:", prefix=PG_"`
	AMQP amqp.Config     `env:", prefix=AMQP_"`
	principal.Config
	// TLS secures the gRPC port and the calls to orders.
	TLS      grpctls.Config `env:""`
	GRPCAddr string         `env:"GRPC_ADDR, default=127.0.0.1:9104"`
	// OrdersAddr is the orders service, told which users have webhooks.
	OrdersAddr string `env:"ORDERS_ADDR, default=127.0.0.1:9101"`
	// UpstreamTimeout bounds a call to orders.
	UpstreamTimeout time.Duration  `env:"UPSTREAM_TIMEOUT, default=5s"`
	Webhooks        WebhooksConfig `env:", prefix=WEBHOOKS_"`
	// Grace bounds the gRPC drain (set from the process, not the environment).
	Grace time.Duration `json:"-"`
}

// WebhooksConfig is the delivery machinery's configuration.
type WebhooksConfig struct {
	// SecretsKey seals the endpoints' signing secrets at rest (32 bytes,
	// base64).
	SecretsKey config.Secret `env:"SECRETS_KEY, required"`
	// RetrySchedule is the delay before each retry (±20% jitter); after the
	// last one a delivery fails.
	RetrySchedule []time.Duration `env:"RETRY_SCHEDULE, default=1m,5m,30m,2h,6h,12h"`
	// DisableAfter disables an endpoint whose deliveries have all failed for
	// longer.
	DisableAfter time.Duration `env:"DISABLE_AFTER, default=24h"`
	// Timeout bounds one attempt: connect, TLS, headers and body read.
	Timeout time.Duration `env:"TIMEOUT, default=10s"`
	// Lease is how long a claimed delivery is reserved; a process killed
	// mid-delivery leaves it to be claimed again after this (0: Timeout +
	// 20s).
	Lease time.Duration `env:"LEASE"`
	// EndpointConcurrency bounds the attempts in flight to one endpoint per
	// replica: a slow endpoint holds at most this many workers.
	EndpointConcurrency int `env:"ENDPOINT_CONCURRENCY, default=4"`
	// Concurrency bounds all attempts in flight per replica.
	Concurrency int `env:"CONCURRENCY, default=64"`
	// AllowHTTP accepts http:// URLs (development only).
	AllowHTTP bool `env:"ALLOW_HTTP, default=false"`
	// AllowAddrs exempts "ip:port" or CIDRs from the address guard (the
	// development sandbox receiver).
	AllowAddrs []string `env:"ALLOW_ADDRS"`
	// Retention keeps deliveries and events this long.
	Retention time.Duration `env:"RETENTION, default=720h"`
	// Queue is the notices queue (tests use their own).
	Queue string `env:"QUEUE"`
	// Poll claims due deliveries this often besides the in-process wake-ups.
	Poll time.Duration `env:"POLL, default=1s"`
}

// Process is a wired webhooks process, not yet serving.
type Process struct {
	App  *app.Service
	GRPC *grpcserver.Server
	DB   *postgres.DB
	AMQP *amqp.Conn
	cfg  Config
	log  *slog.Logger
	stop func()
}

// Deps are what tests may replace (nil: the real ones).
type Deps struct {
	Orders     app.Orders
	Poster     app.Poster
	URLs       app.URLChecker
	Registerer prometheus.Registerer
}

// New opens the database (migrating it) and the broker, dials orders and
// builds the gRPC server.
func New(ctx context.Context, cfg Config, log *slog.Logger, deps Deps) (*Process, error) {
	if cfg.Webhooks.Lease <= 0 {
		cfg.Webhooks.Lease = cfg.Webhooks.Timeout + 20*time.Second
	}
	box, err := secret.New(cfg.Webhooks.SecretsKey.Reveal())
	if err != nil {
		return nil, fmt.Errorf("PRINTFLEET_WEBHOOKS_SECRETS_KEY: %w", err)
	}
	signer, err := principal.NewSignerFromConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	eg, err := egress.New(egress.Config{Timeout: cfg.Webhooks.Timeout, AllowHTTP: cfg.Webhooks.AllowHTTP, Allow: cfg.Webhooks.AllowAddrs})
	if err != nil {
		return nil, err
	}
	if deps.Registerer != nil {
		for _, c := range eg.Collectors() {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register egress metrics: %w", err)
			}
		}
	}
	if deps.Poster == nil {
		deps.Poster = eg
	}
	if deps.URLs == nil {
		deps.URLs = eg
	}
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if deps.Orders == nil {
		cc, err := grpcclient.Dial(cfg.OrdersAddr, grpcclient.Options{Signer: signer, DefaultTimeout: cfg.UpstreamTimeout, TLS: cfg.TLS})
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { _ = cc.Close() })
		deps.Orders = orders.New(cc)
	}
	db, err := postgres.Open(ctx, cfg.PG, store.Migrations, log)
	if err != nil {
		closeAll()
		return nil, err
	}
	closers = append(closers, db.Close)
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := amqp.Dial(dialCtx, cfg.AMQP, log)
	cancel()
	if err != nil {
		closeAll()
		return nil, err
	}
	closers = append(closers, func() { _ = conn.Close() })
	svc := app.New(app.Options{
		Store: store.New(db.Primary), Orders: deps.Orders, Poster: deps.Poster, URLs: deps.URLs, Box: box,
		Log: log, Registerer: deps.Registerer, Schedule: domain.Schedule(cfg.Webhooks.RetrySchedule),
		DisableAfter: cfg.Webhooks.DisableAfter, Lease: cfg.Webhooks.Lease,
		EndpointConcurrency: cfg.Webhooks.EndpointConcurrency, Concurrency: cfg.Webhooks.Concurrency,
		Poll: cfg.Webhooks.Poll, Retention: cfg.Webhooks.Retention,
	})
	srv, err := grpcserver.New(grpcserver.Options{Log: log, Registerer: deps.Registerer, Signer: signer, Grace: cfg.Grace, TLS: cfg.TLS})
	if err != nil {
		closeAll()
		return nil, err
	}
	webhooksv1.RegisterWebhookServiceServer(srv, grpcapi.New(svc))
	return &Process{App: svc, GRPC: srv, DB: db, AMQP: conn, cfg: cfg, log: log, stop: closeAll}, nil
}

// Run serves gRPC on ln, consumes notices, dispatches and keeps house until
// ctx ends; then it stops claiming, lets the attempts in flight finish,
// drains gRPC and closes everything.
func (p *Process) Run(ctx context.Context, ln net.Listener) error {
	defer p.stop()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	loopCtx, cancelLoops := context.WithCancel(ctx)
	defer cancelLoops()
	wg.Add(3)
	go func() { defer wg.Done(); p.App.RunDispatcher(loopCtx) }()
	go func() { defer wg.Done(); p.App.RunHousekeeping(loopCtx) }()
	go func() {
		defer wg.Done()
		err := amqp.Consume(loopCtx, p.AMQP, amqp.ConsumerConfig{
			Queue: p.cfg.Webhooks.Queue, RoutingKeys: amqpapi.RoutingKeys, Handler: amqpapi.Handler(p.App),
		})
		if err != nil {
			errc <- err
			cancelLoops()
		}
	}()
	grpcErr := make(chan error, 1)
	go func() { grpcErr <- p.GRPC.ServeOn(loopCtx, ln) }()
	err := <-grpcErr
	cancelLoops()
	wg.Wait()
	select {
	case cerr := <-errc:
		err = errors.Join(err, cerr)
	default:
	}
	return err
}

// Serve is the webhooks process (cmd/webhooks).
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
		return fmt.Errorf("webhooks: %w", err)
	}
	return nil
}
