// Package server wires the pricing process by hand: configuration, the
// PostgreSQL store, the in-memory price-data snapshot and its watchers, and
// the gRPC server; plus the seed-demo and coupons subcommands.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/run"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/demo"
	"github.com/printfleet/printfleet/services/pricing/internal/events"
	"github.com/printfleet/printfleet/services/pricing/internal/grpcapi"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

// Local defaults applied when the environment does not set them.
const (
	DefaultAdminAddr = "127.0.0.1:9203"
	DefaultPGURL     = "postgres://postgres@127.0.0.1:5432/pricing?sslmode=disable"
)

// SetDefaults fills pricing's database default into the environment before
// the platform reads it (the serve admin port is run.AdminAddr(DefaultAdminAddr)).
func SetDefaults() {
	if _, ok := os.LookupEnv("PRINTFLEET_PG_URL"); !ok {
		_ = os.Setenv("PRINTFLEET_PG_URL", DefaultPGURL)
	}
}

// DBConfig is what every subcommand needs.
type DBConfig struct {
	PG postgres.Config `env:", prefix=PG_"`
}

// Config is the serve configuration (every variable PRINTFLEET_-prefixed).
type Config struct {
	DBConfig
	principal.Config
	GRPCAddr string `env:"GRPC_ADDR, default=127.0.0.1:9103"`
	// Listen subscribes to price-data change notifications (LISTEN/NOTIFY).
	Listen bool `env:"PRICING_LISTEN, default=true"`
	// PollInterval checks price_data_version this often as a safety net
	// (0 disables the poll).
	PollInterval time.Duration `env:"PRICING_POLL_INTERVAL, default=2s"`
	// AMQP is the broker the coupon consumer reads OrderPlaced from.
	AMQP amqp.Config `env:", prefix=AMQP_"`
	// Coupons runs the coupon-redemption consumer.
	Coupons bool `env:"PRICING_COUPONS, default=true"`
	// Grace bounds the gRPC drain (set from the process, not the environment).
	Grace time.Duration `json:"-"`
}

// Instance is a wired pricing server, not yet serving.
type Instance struct {
	App  *app.Service
	GRPC *grpcserver.Server
	DB   *postgres.DB
	cfg  Config
	log  *slog.Logger
}

// New opens the database (migrating it), loads the price data and builds
// the gRPC server. Tests pass postgres options (a query counter).
func New(ctx context.Context, cfg Config, log *slog.Logger, opts ...postgres.Option) (*Instance, error) {
	signer, err := principal.NewSignerFromConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, cfg.PG, store.Migrations, log, opts...)
	if err != nil {
		return nil, err
	}
	svc := app.New(store.New(db.Primary), app.Options{Log: log})
	if err := svc.Refresh(ctx); err != nil {
		db.Close()
		return nil, err
	}
	srv, err := grpcserver.New(grpcserver.Options{Log: log, Signer: signer, Grace: cfg.Grace})
	if err != nil {
		db.Close()
		return nil, err
	}
	pricingv1.RegisterPricingServiceServer(srv, grpcapi.New(svc))
	return &Instance{App: svc, GRPC: srv, DB: db, cfg: cfg, log: log}, nil
}

// Run serves on ln and keeps the snapshot fresh until ctx ends, then drains
// and closes the database.
func (in *Instance) Run(ctx context.Context, ln net.Listener) error {
	defer in.DB.Close()
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in.App.Watch(watchCtx, app.WatchOptions{Listen: in.cfg.Listen, Poll: in.cfg.PollInterval})
	}()
	err := in.GRPC.ServeOn(ctx, ln)
	stopWatch()
	wg.Wait()
	return err
}

// Serve is the pricing process (run.Main's serve).
func Serve(ctx context.Context, p *run.Process) error {
	var cfg Config
	if err := config.Load(ctx, &cfg); err != nil {
		return err
	}
	cfg.Grace = p.Grace
	p.Log.Info("config", "config", config.Masked(cfg))
	in, err := New(ctx, cfg, p.Log)
	if err != nil {
		return err
	}
	// Readiness is "price data loaded", not "PostgreSQL reachable": quotes
	// are served from memory and keep working through a database outage
	// (only admin writes fail), so an outage must not pull every replica
	// out of its Service. Staleness is visible in
	// pricing_price_data_loaded_timestamp_seconds and the reload errors.
	p.AddCheck("price_data", in.App.Ready)
	ln, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		in.DB.Close()
		return fmt.Errorf("grpc listen %s: %w", cfg.GRPCAddr, err)
	}
	if !cfg.Coupons {
		return in.Run(ctx, ln)
	}
	conn, err := amqp.Dial(ctx, cfg.AMQP, p.Log)
	if err != nil {
		in.DB.Close()
		return err
	}
	defer conn.Close()
	p.AddCheck("amqp", conn.Ready)
	cctx, stopConsumer := context.WithCancel(ctx)
	defer stopConsumer()
	consumed := make(chan error, 1)
	go func() {
		consumed <- amqp.Consume(cctx, conn, amqp.ConsumerConfig{
			Queue:       events.Queue,
			RoutingKeys: []string{events.OrderPlacedKey},
			Handler:     events.CouponHandler(in.App, p.Log),
		})
	}()
	runErr := in.Run(ctx, ln)
	stopConsumer()
	return errors.Join(runErr, <-consumed)
}

func openApp(ctx context.Context, p *run.Process) (*app.Service, func(), error) {
	var cfg DBConfig
	if err := config.Load(ctx, &cfg); err != nil {
		return nil, nil, err
	}
	db, err := postgres.Open(ctx, cfg.PG, store.Migrations, p.Log)
	if err != nil {
		return nil, nil, err
	}
	return app.New(store.New(db.Primary), app.Options{Log: p.Log}), db.Close, nil
}

// SeedDemo loads the demo price lists (idempotent).
func SeedDemo(ctx context.Context, p *run.Process) error {
	svc, closeDB, err := openApp(ctx, p)
	if err != nil {
		return err
	}
	defer closeDB()
	sum, err := demo.Seed(ctx, svc)
	if err != nil {
		return err
	}
	p.Log.Info("demo price data seeded", "changed", sum, "namespace", demo.Namespace.String())
	return nil
}

// ListCoupons prints every coupon with its usage counter.
func ListCoupons(ctx context.Context, p *run.Process) error {
	svc, closeDB, err := openApp(ctx, p)
	if err != nil {
		return err
	}
	defer closeDB()
	return PrintCoupons(ctx, svc, os.Stdout)
}

// PrintCoupons writes the coupon table to w.
func PrintCoupons(ctx context.Context, svc *app.Service, w io.Writer) error {
	ctx = principal.With(ctx, principal.Principal{Subject: "service:pricing-cli", Roles: []string{principal.RoleAdmin}})
	cs, err := svc.ListCoupons(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tKIND\tVALUE\tVALID FROM\tVALID UNTIL\tUSED\tLIMIT")
	for _, c := range cs {
		value := fmt.Sprintf("%d bp", c.PercentBP)
		if c.Kind.String() == "fixed" {
			value = fmt.Sprintf("%d %s", c.AmountOff.Amount, c.AmountOff.Currency.Code)
		}
		limit := "unlimited"
		if c.UsageLimit > 0 {
			limit = fmt.Sprint(c.UsageLimit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Code, c.Kind, value,
			c.ValidFrom.Format(time.RFC3339), c.ValidUntil.Format(time.RFC3339), c.Used, limit)
	}
	return errors.Join(tw.Flush())
}
