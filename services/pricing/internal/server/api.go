package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/run"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/grpcapi"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

// APIConfig is the pricing API process's configuration (every variable
// PRINTFLEET_-prefixed).
type APIConfig struct {
	DBConfig
	principal.Config
	// TLS secures the gRPC port (mTLS with a CA).
	TLS      grpctls.Config `env:""`
	GRPCAddr string         `env:"GRPC_ADDR, default=127.0.0.1:9103"`
	// Listen subscribes to price-data change notifications (LISTEN/NOTIFY).
	Listen bool `env:"PRICING_LISTEN, default=true"`
	// PollInterval checks price_data_version this often as a safety net
	// (0 disables the poll).
	PollInterval time.Duration `env:"PRICING_POLL_INTERVAL, default=2s"`
	// ReservationTTL is how long a coupon use reserved by an order create
	// waits for the order's OrderPlaced to confirm it before it expires.
	ReservationTTL time.Duration `env:"PRICING_RESERVATION_TTL, default=15m"`
	// ProductionDays is the production lead time, in business days, that
	// delivery estimates count before the days in transit.
	ProductionDays int `env:"PRICING_PRODUCTION_DAYS, default=2"`
	// Grace bounds the gRPC drain (set from the process, not the environment).
	Grace time.Duration `json:"-"`
}

// API is a wired pricing API, not yet serving.
type API struct {
	App  *app.Service
	GRPC *grpcserver.Server
	DB   *postgres.DB
	cfg  APIConfig
}

// NewAPI opens the database (migrating it), loads the price data and builds
// the gRPC server. Tests pass postgres options (a query counter).
func NewAPI(ctx context.Context, cfg APIConfig, log *slog.Logger, opts ...postgres.Option) (*API, error) {
	signer, err := principal.NewSignerFromConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, cfg.PG, store.Migrations, log, opts...)
	if err != nil {
		return nil, err
	}
	svc := app.New(store.New(db.Primary), app.Options{Log: log, ReservationTTL: cfg.ReservationTTL, ProductionDays: &cfg.ProductionDays})
	if err := svc.Refresh(ctx); err != nil {
		db.Close()
		return nil, err
	}
	srv, err := grpcserver.New(grpcserver.Options{Log: log, Signer: signer, Grace: cfg.Grace, TLS: cfg.TLS})
	if err != nil {
		db.Close()
		return nil, err
	}
	pricingv1.RegisterPricingServiceServer(srv, grpcapi.New(svc))
	return &API{App: svc, GRPC: srv, DB: db, cfg: cfg}, nil
}

// Run serves on ln and keeps the snapshot fresh until ctx ends, then drains
// and closes the database.
func (a *API) Run(ctx context.Context, ln net.Listener) error {
	defer a.DB.Close()
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.App.Watch(watchCtx, app.WatchOptions{Listen: a.cfg.Listen, Poll: a.cfg.PollInterval})
	}()
	err := a.GRPC.ServeOn(ctx, ln)
	stopWatch()
	wg.Wait()
	return err
}

// Serve is the pricing process (cmd/pricing): the gRPC API and the snapshot
// refresh.
func Serve(ctx context.Context, p *run.Process) error {
	var cfg APIConfig
	if err := config.Load(ctx, &cfg, Defaults); err != nil {
		return err
	}
	cfg.Grace = p.Grace
	p.Log.Info("config", "config", config.Masked(cfg))
	a, err := NewAPI(ctx, cfg, p.Log)
	if err != nil {
		return err
	}
	// Readiness is "price data loaded", not "PostgreSQL reachable": quotes
	// are served from memory and keep working through a database outage
	// (only admin writes fail), so an outage must not pull every replica
	// out of its Service. Staleness is visible in
	// pricing_price_data_loaded_timestamp_seconds and the reload errors.
	p.AddCheck("price_data", a.App.Ready)
	ln, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		a.DB.Close()
		return fmt.Errorf("grpc listen %s: %w", cfg.GRPCAddr, err)
	}
	p.Serving()
	return ignoreCanceled(a.Run(ctx, ln))
}
