package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/printfleet/printfleet/platform/config"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/server"
)

func TestConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	var cfg server.Config
	err := config.LoadFrom(context.Background(), &cfg, envconfig.MapLookuper(map[string]string{
		"PRINTFLEET_IMAGES_MAX_SIDE": "8000", "PRINTFLEET_IMAGES_ALLOWED_SOURCE_BUCKETS": "legacy-uploads",
		"PRINTFLEET_IMAGES_VIPS_MAX_CACHE_MEM": "1048576",
		"PRINTFLEET_IMAGES_MAX_BYTES":          "200000000", // no longer read: one limit, at upload
	}), server.Defaults)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Options
	if cfg.DesignsBucket != "printfleet-designs" || cfg.RendersBucket != "printfleet-renders" ||
		cfg.DesignsQueue != eventsv1.QueueImagesDesigns || cfg.RendersQueue != eventsv1.QueueImagesRenders ||
		o.MaxSide != 8000 || o.MaxPixels != 150_000_000 || o.MaxBytes != 0 ||
		o.ThumbSize != 256 || o.PreviewSize != 1024 || o.StorageTimeout != time.Minute ||
		cfg.Vips.MaxCacheMem != 1<<20 || cfg.Vips.MaxCacheSize != 64 || cfg.S3.Endpoint != "http://127.0.0.1:7070" {
		t.Errorf("config = %+v", cfg)
	}
	o.DesignsBucket = cfg.DesignsBucket
	o = o.WithDefaults()
	if o.Jobs < 1 || o.MaxBytes != eventsv1.MaxDesignBytes || !o.SourceAllowed("printfleet-designs") || !o.SourceAllowed("legacy-uploads") || o.SourceAllowed("other") {
		t.Errorf("options = %+v", o)
	}
}
