package server

import (
	"context"
	"testing"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// TestConfigReference keeps docs/configuration/pricing.md,
// pricing-worker.md, pricing-seed-demo.md and pricing-coupons.md in step
// with the processes' configurations and their own defaults (regenerate
// with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	for _, p := range []struct {
		binary   string
		cfg      any
		defaults config.Defaults
	}{
		{"pricing", APIConfig{}, Defaults},
		{"pricing-worker", WorkerConfig{}, WorkerDefaults},
		{"pricing-seed-demo", JobConfig{}, Defaults},
		{"pricing-coupons", JobConfig{}, Defaults},
	} {
		configtest.Check(t, p.binary, config.Markdown(p.binary, p.defaults.Apply(configtest.Vars(t, p.cfg))))
	}
}

// only answers the variables it holds, like an environment with just those.
type only map[string]string

func (o only) Lookup(key string) (string, bool) { v, ok := o[key]; return v, ok }

// TestProcessDefaults loads each process's configuration from an
// environment that sets nothing pricing-specific: the pricing database and
// the worker's queue come from the processes' own defaults, and a variable
// that is set still wins.
func TestProcessDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var api APIConfig
	if err := config.LoadFrom(ctx, &api, only{"PRINTFLEET_INTERNAL_SECRET": "pricing-test-internal-secret"}, Defaults); err != nil {
		t.Fatal(err)
	}
	if api.PG.URL.Reveal() != DefaultPGURL || api.GRPCAddr != "127.0.0.1:9103" {
		t.Fatalf("api: %+v", api)
	}
	var w WorkerConfig
	if err := config.LoadFrom(ctx, &w, only{}, WorkerDefaults); err != nil {
		t.Fatal(err)
	}
	if w.PG.URL.Reveal() != DefaultPGURL || w.Queue != eventsv1.QueuePricingCoupons {
		t.Fatalf("worker: %+v", w)
	}
	var job JobConfig
	if err := config.LoadFrom(ctx, &job, only{"PRINTFLEET_PG_URL": "postgres://elsewhere/pricing"}, Defaults); err != nil {
		t.Fatal(err)
	}
	if job.PG.URL.Reveal() != "postgres://elsewhere/pricing" {
		t.Fatalf("job: %+v", job)
	}
}
