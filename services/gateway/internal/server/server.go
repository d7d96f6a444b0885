// Package server wires the gateway process: configuration from the
// environment, the upstream connections, the verifier, the shared limiter,
// the HTTP listener, and the readiness checks on the admin port.
package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/redis"
	"github.com/printfleet/printfleet/platform/run"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	opsv1 "github.com/printfleet/printfleet/proto/printfleet/ops/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
	"github.com/printfleet/printfleet/services/gateway/internal/console"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
	"github.com/printfleet/printfleet/services/gateway/internal/ratelimit"
)

// Config is the gateway's environment (every variable has the PRINTFLEET_
// prefix).
type Config struct {
	HTTPAddr  string            `env:"HTTP_ADDR, default=127.0.0.1:8080"`
	Upstreams gateway.Upstreams `env:", prefix="`
	Principal principal.Config  `env:", prefix="`
	Auth      auth.Config       `env:", prefix="`
	Redis     redis.Config      `env:", prefix=REDIS_"`
	RateLimit RateLimitConfig   `env:", prefix=RATELIMIT_"`
	// Replicas is how many gateway replicas share the limit (for the
	// in-process fallback).
	Replicas       int           `env:"GATEWAY_REPLICAS, default=1"`
	DefaultTimeout time.Duration `env:"DEFAULT_TIMEOUT, default=10s"`
	MaxTimeout     time.Duration `env:"MAX_TIMEOUT, default=30s"`
	MaxBodyBytes   int64         `env:"MAX_BODY_BYTES, default=1048576"`
	CORSOrigins    []string      `env:"CORS_ORIGINS"`
	TrustedProxies []string      `env:"TRUSTED_PROXIES"`
	// ReadyRequireRedis makes Redis a blocking readiness check.
	ReadyRequireRedis bool `env:"READY_REQUIRE_REDIS, default=false"`
	// OrdersCacheRead answers an owner's cached order from the orders cache
	// (the Redis above must be the one orders uses) instead of calling
	// orders; OrdersCachePrefix is orders' key prefix.
	OrdersCacheRead   bool   `env:"ORDERS_CACHE_READ, default=true"`
	OrdersCachePrefix string `env:"ORDERS_CACHE_PREFIX, default=printfleet:orders:"`
	// ProductsProjectionRead answers public product reads from the
	// catalog's projection (same Redis as the catalog's);
	// CatalogRedisPrefix is the catalog's projection prefix.
	ProductsProjectionRead bool   `env:"PRODUCTS_PROJECTION_READ, default=true"`
	CatalogRedisPrefix     string `env:"CATALOG_REDIS_PREFIX, default=catalog"`
	// CarrierSecret is the HMAC key of the carriers' signed tracking
	// updates (POST /v1/carrier-updates); empty: the route answers 404.
	CarrierSecret config.Secret `env:"GATEWAY_CARRIER_SECRET"`
	// Console configures the operator console at /console.
	Console console.Config `env:", prefix="`
}

// RateLimitConfig holds the per-class rules ("N/duration[,burst=M]").
type RateLimitConfig struct {
	Default string `env:"DEFAULT, default=100/1m"`
	Write   string `env:"WRITE, default=100/1m"`
	// Webhook limits the marketplaces' webhook deliveries per client
	// address: a marketplace sends them in bursts.
	Webhook      string        `env:"WEBHOOK, default=600/1m"`
	RedisTimeout time.Duration `env:"REDIS_TIMEOUT, default=50ms"`
	Prefix       string        `env:"PREFIX, default=printfleet:ratelimit:"`
}

// Rules parses the per-class rules.
func (c RateLimitConfig) Rules() (map[string]ratelimit.Rule, error) {
	rules := map[string]ratelimit.Rule{}
	for _, c := range []struct{ class, spec, name string }{
		{policy.ClassDefault, c.Default, "DEFAULT"},
		{policy.ClassWrite, c.Write, "WRITE"},
		{policy.ClassWebhook, c.Webhook, "WEBHOOK"},
	} {
		r, err := ratelimit.ParseRule(c.spec)
		if err != nil {
			return nil, fmt.Errorf("PRINTFLEET_RATELIMIT_%s: %w", c.name, err)
		}
		rules[c.class] = r
	}
	return rules, nil
}

// Serve runs the gateway until ctx is cancelled.
func Serve(ctx context.Context, p *run.Process) error {
	var cfg Config
	if err := config.Load(ctx, &cfg); err != nil {
		return err
	}
	p.Log.Info("config", "config", config.Masked(cfg))

	signer, err := principal.NewSignerFromConfig(cfg.Principal)
	if err != nil {
		return fmt.Errorf("principal signer: %w", err)
	}
	verifier, err := auth.NewVerifier(ctx, cfg.Auth, nil)
	if err != nil {
		return err
	}
	p.Log.Info("auth", "mode", verifier.Mode())
	rules, err := cfg.RateLimit.Rules()
	if err != nil {
		return err
	}
	var proxies []netip.Prefix
	for _, s := range cfg.TrustedProxies {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("PRINTFLEET_TRUSTED_PROXIES: %w", err)
		}
		proxies = append(proxies, pfx)
	}
	if len(proxies) == 0 && config.Deployed(p.Env) {
		p.Log.Warn("PRINTFLEET_TRUSTED_PROXIES is empty: behind an ingress every client shares the ingress's address for rate limiting; set it to the ingress's addresses", "env", p.Env)
	}
	rdb, err := redis.New(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()

	metrics := gateway.NewMetrics(p.Registry)
	limiter, err := ratelimit.New(ratelimit.Options{
		Redis:        rdb,
		Prefix:       cfg.RateLimit.Prefix,
		Rules:        rules,
		Timeout:      cfg.RateLimit.RedisTimeout,
		Replicas:     cfg.Replicas,
		Log:          p.Log,
		OnDecision:   metrics.RateDecision,
		OnRedisState: metrics.RedisState,
	})
	if err != nil {
		return err
	}
	conns, err := gateway.Dial(cfg.Upstreams, signer, metrics)
	if err != nil {
		return err
	}
	defer conns.Close()

	if cfg.Console.Key.Reveal() == "" && cfg.Replicas > 1 {
		return errors.New("PRINTFLEET_GATEWAY_CONSOLE_KEY is required with more than one gateway replica (each replica would sign the console's CSRF tokens with its own random key)")
	}
	var ops console.Ops = console.Unavailable{}
	if conns.Ops != nil {
		ops = opsv1.NewDeadLetterServiceClient(conns.Ops)
	}
	con, err := console.New(ctx, console.Options{
		Config:         cfg.Console,
		Log:            p.Log,
		Verifier:       verifier,
		Orders:         ordersv1.NewOrderServiceClient(conns.Orders),
		Catalog:        catalogv1.NewCatalogServiceClient(conns.Catalog),
		Webhooks:       webhooksv1.NewWebhookServiceClient(conns.Webhooks),
		Ops:            ops,
		Gateway:        p.Registry,
		TrustedProxies: proxies,
	})
	if err != nil {
		return err
	}

	var orderCache *gateway.OrderCache
	if cfg.OrdersCacheRead {
		orderCache = &gateway.OrderCache{Redis: rdb, Prefix: cfg.OrdersCachePrefix, Timeout: cfg.RateLimit.RedisTimeout}
	}
	var products *gateway.ProductProjection
	if cfg.ProductsProjectionRead {
		products = &gateway.ProductProjection{Redis: rdb, Prefix: cfg.CatalogRedisPrefix, Timeout: cfg.RateLimit.RedisTimeout}
	}
	gw, err := gateway.New(ctx, gateway.Options{
		Log:               p.Log,
		Signer:            signer,
		Verifier:          verifier,
		Limiter:           limiter,
		Conns:             conns,
		Metrics:           metrics,
		Redis:             rdb,
		RequireRedis:      cfg.ReadyRequireRedis,
		DefaultTimeout:    cfg.DefaultTimeout,
		MaxTimeout:        cfg.MaxTimeout,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		CORSOrigins:       cfg.CORSOrigins,
		TrustedProxies:    proxies,
		OrderCache:        orderCache,
		ProductProjection: products,
		CarrierSecret:     cfg.CarrierSecret.Reveal(),
		Console:           con,
	})
	if err != nil {
		return err
	}
	for name, c := range gw.Checks() {
		p.AddCheck(name, c)
	}
	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           gw.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.MaxTimeout,
		WriteTimeout:      cfg.MaxTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	p.Log.Info("rest listening", "addr", cfg.HTTPAddr)
	if err := p.ServeHTTP(ctx, srv); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
