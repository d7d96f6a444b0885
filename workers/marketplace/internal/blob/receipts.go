// Package blob keeps the marketplace worker's receipts in S3: one object per
// shipment push, overwritten by a resend.
package blob

import (
	"bytes"
	"context"
	"fmt"

	"github.com/minio/minio-go/v7"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
)

// Receipts writes receipts to one bucket.
type Receipts struct {
	c      *minio.Client
	bucket string
}

var _ app.Receipts = (*Receipts)(nil)

// NewReceipts writes to bucket through c.
func NewReceipts(c *minio.Client, bucket string) *Receipts {
	return &Receipts{c: c, bucket: bucket}
}

// PutReceipt stores body at key in one PUT and returns once the server has
// acknowledged it.
func (s *Receipts) PutReceipt(ctx context.Context, key string, body []byte) error {
	_, err := s.c.PutObject(ctx, s.bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{
		ContentType:      "application/json",
		DisableMultipart: true,
		SendContentMd5:   true,
	})
	if err != nil {
		return fmt.Errorf("s3 put %s/%s: %w", s.bucket, key, err)
	}
	return nil
}
