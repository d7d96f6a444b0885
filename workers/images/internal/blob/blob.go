// Package blob is the image worker's object storage on an S3-compatible
// server (minio-go): byte-capped reads that tell a missing or oversized
// object from a store that is down, and single-PUT writes.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/printfleet/printfleet/workers/images/internal/app"
)

// Store is app.Blob on an S3-compatible server.
type Store struct {
	c *minio.Client
}

var _ app.Blob = (*Store)(nil)

// New wraps a client.
func New(c *minio.Client) *Store { return &Store{c: c} }

// Get streams bucket/key into memory, refusing more than maxBytes
// (app.ErrTooLarge): first by the size the server reports, then by reading
// at most maxBytes+1 bytes. A missing key is app.ErrNotFound.
func (s *Store) Get(ctx context.Context, bucket, key string, maxBytes int64) ([]byte, error) {
	obj, err := s.c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3 get %s/%s: %w", bucket, key, err)
	}
	defer obj.Close()
	info, err := obj.Stat()
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			// Some servers answer NoSuchKey for a missing bucket too; a
			// missing bucket is the deployment's fault, not the upload's.
			if ok, berr := s.c.BucketExists(ctx, bucket); berr != nil || !ok {
				return nil, fmt.Errorf("s3 get %s/%s: bucket unavailable (exists=%v): %w", bucket, key, ok, errors.Join(err, berr))
			}
			return nil, fmt.Errorf("s3 get %s/%s: %w", bucket, key, app.ErrNotFound)
		}
		return nil, fmt.Errorf("s3 get %s/%s: %w", bucket, key, err)
	}
	if info.Size > maxBytes {
		return nil, fmt.Errorf("s3 get %s/%s: %d bytes: %w", bucket, key, info.Size, app.ErrTooLarge)
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(info.Size, 0)+1))
	n, err := io.Copy(buf, io.LimitReader(obj, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("s3 get %s/%s: read: %w", bucket, key, err)
	}
	if n > maxBytes {
		return nil, fmt.Errorf("s3 get %s/%s: more than %d bytes: %w", bucket, key, maxBytes, app.ErrTooLarge)
	}
	return buf.Bytes(), nil
}

// Put writes body in one PUT (no multipart, so the ETag is the MD5 of the
// bytes and a rewrite of the same bytes leaves the same ETag). It returns
// once the server has acknowledged the object.
func (s *Store) Put(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	_, err := s.c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{
		ContentType:      contentType,
		DisableMultipart: true,
		SendContentMd5:   true,
	})
	if err != nil {
		return fmt.Errorf("s3 put %s/%s: %w", bucket, key, err)
	}
	return nil
}
