// Package s3 builds the S3-compatible object storage client (minio-go) and
// makes sure buckets exist.
package s3

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/printfleet/printfleet/platform/config"
)

// Config names the object store.
type Config struct {
	// Endpoint is a URL, e.g. http://127.0.0.1:7070.
	Endpoint  string        `env:"ENDPOINT, default=http://127.0.0.1:7070"`
	AccessKey string        `env:"ACCESS_KEY, default=printfleet"`
	SecretKey config.Secret `env:"SECRET_KEY, default=printfleet-dev-secret"`
	Region    string        `env:"REGION, default=us-east-1"`
	// PublicEndpoint, when set, is the host presigned URLs are made for (what
	// clients reach), e.g. an ingress in front of the store.
	PublicEndpoint string `env:"PUBLIC_ENDPOINT"`
}

// New returns a path-style client for cfg.Endpoint.
func New(cfg Config) (*minio.Client, error) {
	return newClient(cfg.Endpoint, cfg)
}

// Open returns a client for cfg and makes sure bucket, the process's own
// output, exists. A store that is down at start only delays work, so a
// failure to ensure the bucket is logged, not returned; the readiness check
// (Ready) reports the store's state from then on.
func Open(ctx context.Context, cfg Config, bucket string, log *slog.Logger) (*minio.Client, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := EnsureBuckets(ctx, c, cfg.Region, bucket); err != nil {
		log.Warn("bucket not ensured; continuing", "bucket", bucket, "err", err)
	}
	return c, nil
}

// NewPresigner returns a client used only to presign URLs for clients: it
// targets PublicEndpoint when set, else Endpoint. Presigning is local; it
// never calls the server.
func NewPresigner(cfg Config) (*minio.Client, error) {
	ep := cfg.Endpoint
	if cfg.PublicEndpoint != "" {
		ep = cfg.PublicEndpoint
	}
	return newClient(ep, cfg)
}

func newClient(endpoint string, cfg Config) (*minio.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("s3: malformed endpoint %q", endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey.Reveal(), ""),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client %s: %w", u.Host, err)
	}
	return c, nil
}

// EnsureBuckets creates each bucket that does not exist yet.
func EnsureBuckets(ctx context.Context, c *minio.Client, region string, names ...string) error {
	for _, name := range names {
		ok, err := c.BucketExists(ctx, name)
		if err != nil {
			return fmt.Errorf("s3 %s: bucket %s: %w", c.EndpointURL().Host, name, err)
		}
		if ok {
			continue
		}
		if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: region}); err != nil {
			if resp := minio.ToErrorResponse(err); resp.Code == "BucketAlreadyOwnedByYou" || resp.Code == "BucketAlreadyExists" {
				continue
			}
			return fmt.Errorf("s3: create bucket %s: %w", name, err)
		}
	}
	return nil
}

// Ready is a readiness check: the bucket is reachable.
func Ready(c *minio.Client, bucket string) func(context.Context) error {
	return func(ctx context.Context) error {
		if _, err := c.BucketExists(ctx, bucket); err != nil {
			return fmt.Errorf("s3: %w", err)
		}
		return nil
	}
}
