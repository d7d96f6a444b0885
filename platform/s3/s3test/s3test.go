// Package s3test gives each test its own buckets on the local S3-compatible
// server (configured like the services: PRINTFLEET_S3_*), emptied and removed
// when the test ends. Tests are skipped under -short.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/s3"
)

// Client connects to the configured S3 server.
func Client(t testing.TB) (*minio.Client, s3.Config) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the S3 server (skipped with -short)")
	}
	var cfg struct {
		S3 s3.Config `env:", prefix=S3_"`
	}
	if err := config.Load(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	c, err := s3.New(cfg.S3)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg.S3
}

// Buckets creates one bucket per suffix, named t-<random>-<suffix>, and
// returns the client and the names in order.
func Buckets(t testing.TB, suffixes ...string) (*minio.Client, []string) {
	t.Helper()
	c, cfg := Client(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	names := make([]string, len(suffixes))
	for i, s := range suffixes {
		names[i] = "t-" + id + "-" + s
	}
	if err := s3.EnsureBuckets(context.Background(), c, cfg.Region, names...); err != nil {
		t.Fatalf("S3 at %s: %v (start it with scripts/infra.sh s3)", cfg.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		for _, name := range names {
			for o := range c.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
				if o.Err == nil {
					_ = c.RemoveObject(ctx, name, o.Key, minio.RemoveObjectOptions{})
				}
			}
			if err := c.RemoveBucket(ctx, name); err != nil {
				t.Logf("s3test: remove bucket %s: %v", name, err)
			}
		}
	})
	return c, names
}
