// Package redis builds the go-redis client every process uses: a
// UniversalClient (single node, Sentinel or Cluster from the same config) with
// short timeouts, so that a slow or dead Redis degrades a request instead of
// stalling it, and OpenTelemetry tracing.
package redis

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/platform/config"
)

// Config names the Redis deployment. Addrs is a comma-separated list; more than
// one address means a cluster.
type Config struct {
	Addrs        string        `env:"ADDRS, default=127.0.0.1:6379"`
	Password     config.Secret `env:"PASSWORD"`
	DB           int           `env:"DB, default=0"`
	DialTimeout  time.Duration `env:"DIAL_TIMEOUT, default=250ms"`
	ReadTimeout  time.Duration `env:"READ_TIMEOUT, default=150ms"`
	WriteTimeout time.Duration `env:"WRITE_TIMEOUT, default=150ms"`
	PoolSize     int           `env:"POOL_SIZE, default=64"`
}

// New returns a client for cfg. It does not connect until first used.
func New(cfg Config) (goredis.UniversalClient, error) {
	useSlog()
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:           strings.Split(cfg.Addrs, ","),
		Password:        cfg.Password.Reveal(),
		DB:              cfg.DB,
		DialTimeout:     cfg.DialTimeout,
		ReadTimeout:     cfg.ReadTimeout,
		WriteTimeout:    cfg.WriteTimeout,
		PoolSize:        cfg.PoolSize,
		MaxRetries:      1,
		PoolTimeout:     cfg.ReadTimeout + cfg.DialTimeout,
		DisableIdentity: true,
	})
	if err := redisotel.InstrumentTracing(c); err != nil {
		return nil, fmt.Errorf("redis tracing: %w", err)
	}
	return c, nil
}

// Ready is a readiness check for c.
func Ready(c goredis.UniversalClient) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := c.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		return nil
	}
}
