package server

import (
	"context"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/config/configtest"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// TestConfigReference keeps docs/configuration/webhooks.md in step with the
// process's configuration and its own defaults (regenerate with -update).
func TestConfigReference(t *testing.T) {
	t.Parallel()
	configtest.Check(t, "webhooks", config.Markdown("webhooks", Defaults.Apply(configtest.Vars(t, Config{}))))
}

type only map[string]string

func (o only) Lookup(key string) (string, bool) { v, ok := o[key]; return v, ok }

// TestDefaults loads the configuration from an environment that sets only
// the required secrets: the contract's defaults come out.
func TestDefaults(t *testing.T) {
	t.Parallel()
	var cfg Config
	err := config.LoadFrom(context.Background(), &cfg, only{
		"PRINTFLEET_INTERNAL_SECRET":      "webhooks-test-internal-secret",
		"PRINTFLEET_WEBHOOKS_SECRETS_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	}, Defaults)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Webhooks
	if cfg.GRPCAddr != "127.0.0.1:9104" || cfg.OrdersAddr != "127.0.0.1:9101" || cfg.PG.URL.Reveal() != DefaultPGURL ||
		w.Queue != eventsv1.QueueWebhooksNotices || len(w.RetrySchedule) != 6 || w.RetrySchedule[5] != 12*time.Hour ||
		w.DisableAfter != 24*time.Hour || w.Timeout != 10*time.Second || w.EndpointConcurrency != 4 ||
		w.Concurrency != 64 || w.AllowHTTP || w.Retention != 720*time.Hour {
		t.Fatalf("defaults: %+v", cfg)
	}
	var bare Config
	if err := config.LoadFrom(context.Background(), &bare, only{"PRINTFLEET_INTERNAL_SECRET": "x"}, Defaults); err == nil {
		t.Fatal("loaded without PRINTFLEET_WEBHOOKS_SECRETS_KEY")
	}
}
