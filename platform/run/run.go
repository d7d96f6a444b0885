// Package run is the bootstrap every printfleet binary shares: a main is
//
//	func main() { run.Main("orders", serve) }
//
// and Main does the rest: JSON logs, OpenTelemetry, the admin listener,
// SIGINT/SIGTERM handling and a bounded graceful stop. serve wires the
// process's own parts and returns once ctx is cancelled and it has drained.
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/printfleet/printfleet/platform/admin"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/log"
	"github.com/printfleet/printfleet/platform/telemetry"
)

// Config is what every process reads, whatever else it does.
type Config struct {
	// Env names the deployment environment: development, or production (the
	// Helm chart's production values) or another deployed environment, where
	// every process refuses to start on a published development secret or a
	// change-me value (platform/config.CheckEnv).
	Env      string `env:"ENV, default=development"`
	LogLevel string `env:"LOG_LEVEL, default=info"`
	// AdminAddr is the private listener for /metrics, /healthz, /readyz, pprof.
	AdminAddr string `env:"ADMIN_ADDR, default=127.0.0.1:0"`
	// ShutdownGrace bounds the drain after SIGTERM.
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE, default=20s"`
}

// Process is what serve gets: the logger, the admin server for readiness
// checks, and the metrics registry.
type Process struct {
	Name string
	// Env is the deployment environment (PRINTFLEET_ENV).
	Env      string
	Log      *slog.Logger
	Admin    *admin.Server
	Registry *prometheus.Registry
	// AdminAddr is where the admin listener actually listens.
	AdminAddr string
	// Grace is the shutdown grace period; components bound their drain by it.
	Grace time.Duration
}

// AddCheck registers a readiness check.
func (p *Process) AddCheck(name string, c admin.Check) { p.Admin.AddCheck(name, c) }

// Serving tells readiness that the process serves: its checks are
// registered and its listeners open, or its consumers started. Until then
// /readyz answers 503 "starting". grpcserver (Options.Serving) and
// Process.ServeHTTP call it once they listen; a worker calls it when it
// starts consuming.
func (p *Process) Serving() { p.Admin.Serving() }

// ServeHTTP serves srv on its Addr until ctx is cancelled, then shuts it
// down gracefully (in-flight requests finish); it calls Serving once srv
// listens.
func (p *Process) ServeHTTP(ctx context.Context, srv *http.Server) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", srv.Addr, err)
	}
	p.Serving()
	return ServeHTTPOn(ctx, srv, ln)
}

// Serve is a process's body.
type Serve func(ctx context.Context, p *Process) error

// Option adjusts how Main starts a process.
type Option func(*options)

type options struct{ adminAddr string }

// AdminAddr sets the process's default admin listener, used when
// PRINTFLEET_ADMIN_ADDR is not set (each process has its documented port).
func AdminAddr(addr string) Option { return func(o *options) { o.adminAddr = addr } }

// Main runs serve as the process named name and exits: 0 after a clean stop,
// 1 when start-up or serving failed.
func Main(name string, serve Serve, opts ...Option) {
	if err := Run(context.Background(), name, serve, opts...); err != nil {
		slog.Error("exit", "err", err.Error())
		os.Exit(1)
	}
}

// Run is Main without the exit, for tests.
func Run(ctx context.Context, name string, serve Serve, opts ...Option) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var o options
	for _, opt := range opts {
		opt(&o)
	}

	var cfg Config
	if err := config.Load(ctx, &cfg); err != nil {
		return err
	}
	if _, set := os.LookupEnv(config.Prefix + "ADMIN_ADDR"); !set && o.adminAddr != "" {
		cfg.AdminAddr = o.adminAddr
	}
	logger := log.Default(name, cfg.LogLevel)

	// The default registry carries the metrics that libraries register with
	// promauto; runtime and process collectors are already on it.
	reg := prometheus.DefaultRegisterer.(*prometheus.Registry)
	_ = reg.Register(collectors.NewBuildInfoCollector())
	shutdownTelemetry, err := telemetry.Setup(ctx, name, reg)
	if err != nil {
		return err
	}

	adm := admin.New(reg)
	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("admin listener %s: %w", cfg.AdminAddr, err)
	}
	adminSrv := &http.Server{Handler: adm.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := adminSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin server", "err", err)
		}
	}()
	p := &Process{Name: name, Env: cfg.Env, Log: logger, Admin: adm, Registry: reg, AdminAddr: ln.Addr().String(), Grace: cfg.ShutdownGrace}
	logger.Info("starting", "env", p.Env, "admin_addr", p.AdminAddr)

	// serve sees ctx cancelled on the signal; it must return within the grace
	// period. A second signal, or the grace expiring, ends the process hard.
	serveCtx, cancelServe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelServe()
	done := make(chan error, 1)
	go func() { done <- serve(serveCtx, p) }()

	var serveErr error
	select {
	case serveErr = <-done:
	case <-ctx.Done():
		logger.Info("stopping", "grace", cfg.ShutdownGrace.String())
		adm.Drain()
		cancelServe()
		select {
		case serveErr = <-done:
		case <-time.After(cfg.ShutdownGrace):
			serveErr = errors.New("graceful stop exceeded the grace period")
		}
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = adminSrv.Shutdown(flushCtx)
	if err := shutdownTelemetry(flushCtx); err != nil {
		logger.Warn("telemetry shutdown", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, context.Canceled) {
		return serveErr
	}
	logger.Info("stopped")
	return nil
}

// ServeHTTPOn serves srv on ln until ctx is cancelled, then shuts it down
// gracefully (in-flight requests finish).
func ServeHTTPOn(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown %s: %w", ln.Addr(), err)
	}
	return nil
}
