package config_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/printfleet/printfleet/platform/config"
)

type db struct {
	URL      config.Secret `env:"URL, default=postgres://u:p@h/db"`
	MaxConns int           `env:"MAX_CONNS, default=10"`
}

type appConfig struct {
	Addr    string        `env:"ADDR, default=127.0.0.1:9101"`
	Timeout time.Duration `env:"TIMEOUT, default=2s"`
	DB      db            `env:", prefix=PG_"`
	Key     config.Secret `env:"KEY"`
}

func TestLoadDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	var c appConfig
	err := config.LoadFrom(context.Background(), &c, envconfig.MapLookuper(map[string]string{
		"PRINTFLEET_PG_MAX_CONNS": "42",
		"PRINTFLEET_KEY":          "hunter2",
		"PG_MAX_CONNS":            "7", // unprefixed names are ignored
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9101" || c.Timeout != 2*time.Second {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.DB.MaxConns != 42 || c.Key.Reveal() != "hunter2" {
		t.Fatalf("overrides not applied: max=%d", c.DB.MaxConns)
	}
}

func TestSecretsAreMaskedEverywhere(t *testing.T) {
	t.Parallel()
	var c appConfig
	if err := config.LoadFrom(context.Background(), &c, envconfig.MapLookuper(map[string]string{
		"PRINTFLEET_KEY":    "hunter2",
		"PRINTFLEET_PG_URL": "postgres://app:s3cr3t@db/orders",
	})); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	logger := newJSONLogger(&logged)
	logger.Info("config", "key", c.Key, "cfg", c)
	//lint:ignore S1025 the case under test is what the %s verb prints, not String()
	verbS := fmt.Sprintf("%s", c.Key)
	outputs := map[string]string{
		"Masked": config.Masked(c),
		"%v":     fmt.Sprintf("%v", c),
		"%+v":    fmt.Sprintf("%+v", c),
		"%#v":    fmt.Sprintf("%#v", c),
		"%s":     verbS,
		"slog":   logged.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "s3cr3t") {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
		if !strings.Contains(out, "***") {
			t.Errorf("%s shows no mask: %s", name, out)
		}
	}
	if !strings.Contains(config.Masked(c), "127.0.0.1:9101") {
		t.Errorf("non-secret fields must still print: %s", config.Masked(c))
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	type cfg struct {
		URL  string `env:"PG_URL, default=postgres://x/postgres"`
		Addr string `env:"GRPC_ADDR, default=127.0.0.1:1"`
	}
	d := config.Defaults{"PG_URL": "postgres://x/orders"}
	var c cfg
	if err := config.LoadFrom(context.Background(), &c, envconfig.MapLookuper(nil), d); err != nil {
		t.Fatal(err)
	}
	if c.URL != "postgres://x/orders" || c.Addr != "127.0.0.1:1" {
		t.Fatalf("unset: got %+v", c)
	}
	c = cfg{}
	if err := config.LoadFrom(context.Background(), &c, envconfig.MapLookuper(map[string]string{"PRINTFLEET_PG_URL": "postgres://y/z"}), d); err != nil {
		t.Fatal(err)
	}
	if c.URL != "postgres://y/z" {
		t.Fatalf("set: got %q, the environment must win", c.URL)
	}
	vars := d.Apply(config.Reference(cfg{}))
	if vars[0].Default != "postgres://x/orders" || vars[1].Default != "127.0.0.1:1" {
		t.Fatalf("reference: %+v", vars)
	}
}
