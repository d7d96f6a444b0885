package server

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/s3"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
)

// APIConfig is the configuration of cmd/catalog.
type APIConfig struct {
	Common
	Relay
	GRPCAddr  string           `env:"GRPC_ADDR, default=127.0.0.1:9102"`
	AMQP      amqp.Config      `env:", prefix=AMQP_"`
	S3        s3.Config        `env:", prefix=S3_"`
	Principal principal.Config `env:", prefix="`
	// TLS secures the gRPC port (mTLS with a CA).
	TLS grpctls.Config `env:""`
	// CredentialsKey seals marketplace credentials (32 bytes, base64).
	CredentialsKey config.Secret `env:"CATALOG_CREDENTIALS_KEY, required"`
	DesignsBucket  string        `env:"S3_BUCKET_DESIGNS, default=printfleet-designs"`
	RendersBucket  string        `env:"S3_BUCKET_RENDERS, default=printfleet-renders"`
	DesignPrefix   string        `env:"CATALOG_DESIGN_PREFIX, default=designs/"`
	UploadTTL      time.Duration `env:"CATALOG_UPLOAD_TTL, default=15m"`
	// RenderLinkTTL is the lifetime of the operator console's links to
	// print files and mockups (SignRenderLinks).
	RenderLinkTTL time.Duration `env:"CATALOG_RENDER_LINK_TTL, default=10m"`
}

// options are the use cases' settings from c.
func (c APIConfig) options() Options {
	return Options{RedisPrefix: c.RedisPrefix, CredentialsKey: c.CredentialsKey, Designs: app.DesignsConfig{
		Bucket: c.DesignsBucket, RendersBucket: c.RendersBucket, KeyPrefix: c.DesignPrefix, UploadTTL: c.UploadTTL,
		RenderLinkTTL: c.RenderLinkTTL}}
}

// ServeAPI is cmd/catalog: the CatalogService over gRPC and an outbox relay.
func ServeAPI(ctx context.Context, p *run.Process) error {
	var cfg APIConfig
	if err := load(ctx, p, &cfg, commonDefaults); err != nil {
		return err
	}
	signer, err := principal.NewSignerFromConfig(cfg.Principal)
	if err != nil {
		return fmt.Errorf("PRINTFLEET_INTERNAL_SECRET: %w", err)
	}
	d, closeAll, err := open(ctx, p, cfg.Common, &cfg.AMQP)
	if err != nil {
		return err
	}
	defer closeAll()
	d.Signer = signer
	d.TLS = cfg.TLS
	if d.S3, err = s3.New(cfg.S3); err != nil {
		return err
	}
	if d.Presigner, err = s3.NewPresigner(cfg.S3); err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := s3.EnsureBuckets(bctx, d.S3, cfg.S3.Region, cfg.DesignsBucket, cfg.RendersBucket); err != nil {
		p.Log.Warn("object store not ready; design uploads fail until it is", "err", err)
	}
	cancel()
	a, err := Build(d, cfg.options())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listen %s: %w", cfg.GRPCAddr, err)
	}
	api, err := a.grpcLoop(ln, p.Grace)
	if err != nil {
		ln.Close()
		return err
	}
	p.Log.Info("catalog running", "grpc_addr", ln.Addr().String())
	return ignoreCanceled(a.runLoops(ctx, api, a.relayLoop(cfg.Relay.config(p.Name))))
}
