package worker

import (
	"context"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

func TestConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	var cfg Config
	err := envconfig.ProcessWith(context.Background(), &envconfig.Config{
		Target: &cfg,
		Lookuper: envconfig.MapLookuper(map[string]string{
			"IMAGES_MAX_SIDE": "8000", "IMAGES_ALLOWED_SOURCE_BUCKETS": "legacy-uploads",
			"IMAGES_VIPS_MAX_CACHE_MEM": "1048576",
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Options
	if cfg.DesignsBucket != "printfleet-designs" || cfg.RendersBucket != "printfleet-renders" ||
		o.DesignsQueue != "images.designs" || o.RendersQueue != "images.renders" ||
		o.MaxSide != 8000 || o.MaxPixels != 150_000_000 || o.MaxBytes != 64<<20 ||
		o.ThumbSize != 256 || o.PreviewSize != 1024 || o.StorageTimeout != time.Minute ||
		cfg.Vips.MaxCacheMem != 1<<20 || cfg.Vips.MaxCacheSize != 64 || cfg.S3.Endpoint != "http://127.0.0.1:7070" {
		t.Errorf("config = %+v", cfg)
	}
	o.DesignsBucket = cfg.DesignsBucket
	o = o.withDefaults()
	if o.Jobs < 1 || !o.sourceAllowed("printfleet-designs") || !o.sourceAllowed("legacy-uploads") || o.sourceAllowed("other") {
		t.Errorf("options = %+v", o)
	}
}
