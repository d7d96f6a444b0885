package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/printfleet/printfleet/platform/config"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// The environment variable names and defaults operators rely on.
func TestConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	var cfg Config
	env := envconfig.MapLookuper(map[string]string{
		"PRINTFLEET_INTERNAL_SECRET":         "0123456789abcdef0123",
		"PRINTFLEET_MARKETPLACE_AMAZON_URL":  "https://sellingpartnerapi-eu.amazon.com",
		"PRINTFLEET_MARKETPLACE_CONCURRENCY": "8",
	})
	if err := config.LoadFrom(context.Background(), &cfg, env, defaults); err != nil {
		t.Fatal(err)
	}
	if cfg.CatalogAddr != "127.0.0.1:9102" || cfg.ReceiptsBucket != "printfleet-receipts" || cfg.Options.Queue != eventsv1.QueueMarketplacePush ||
		cfg.Endpoints.ShopifyURL != "http://127.0.0.1:9302/shopify" || cfg.Endpoints.EtsyURL != "http://127.0.0.1:9302/etsy" ||
		cfg.Endpoints.AmazonURL != "https://sellingpartnerapi-eu.amazon.com" || cfg.Options.Concurrency != 8 ||
		cfg.Options.PushTimeout != 2*time.Minute || cfg.S3.Endpoint != "http://127.0.0.1:7070" {
		t.Fatalf("config: %s", config.Masked(cfg))
	}
	if strings.Contains(config.Masked(cfg), "0123456789abcdef0123") {
		t.Fatal("the internal secret is logged")
	}
}
