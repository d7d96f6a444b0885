package server

import (
	"context"
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
)

// TestConfigReference keeps docs/configuration/ops.md in step with the
// process's configuration and its own defaults (regenerate with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	configtest.Check(t, "ops", config.Markdown("ops", Defaults.Apply(configtest.Vars(t, Config{}))))
}

type only map[string]string

func (o only) Lookup(key string) (string, bool) { v, ok := o[key]; return v, ok }

// TestDefaults loads the configuration from an environment that sets only
// the required secret: the contract's defaults come out.
func TestDefaults(t *testing.T) {
	t.Parallel()
	var cfg Config
	if err := config.LoadFrom(context.Background(), &cfg, only{"PRINTFLEET_INTERNAL_SECRET": "ops-test-internal-secret"}, Defaults); err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCAddr != "127.0.0.1:9105" || cfg.PG.URL.Reveal() != DefaultPGURL || len(cfg.Ops.Queues) != 0 || cfg.Ops.Prefetch != 16 {
		t.Fatalf("defaults: %+v", cfg)
	}
	var bare Config
	if err := config.LoadFrom(context.Background(), &bare, only{}, Defaults); err == nil {
		t.Fatal("loaded without PRINTFLEET_INTERNAL_SECRET")
	}
}
