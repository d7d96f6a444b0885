// Package blob is the S3 adapter for designs: presigned POST uploads that
// the object store itself holds to a byte cap and a content type, presigned
// GETs of renders, and object stats.
package blob

import (
	"context"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/printfleet/printfleet/services/catalog/internal/app"
)

// Store implements app.Blobs.
type Store struct {
	client    *minio.Client // talks to the store
	presigner *minio.Client // signs URLs for the host clients reach
}

var _ app.Blobs = (*Store)(nil)

// New returns the adapter; presigner may be the same client as client.
func New(client, presigner *minio.Client) *Store { return &Store{client: client, presigner: presigner} }

// PresignUpload returns a POST policy URL and form fields. The policy's
// content-length-range makes the store refuse a larger body, and its
// Content-Type condition any other type: a presigned PUT cannot cap the
// size, so POST is the upload method.
func (s *Store) PresignUpload(ctx context.Context, bucket, key, contentType string, maxBytes int64, expires time.Time) (string, map[string]string, error) {
	p := minio.NewPostPolicy()
	for _, err := range []error{
		p.SetBucket(bucket),
		p.SetKey(key),
		p.SetExpires(expires),
		p.SetContentType(contentType),
		p.SetContentLengthRange(1, maxBytes),
	} {
		if err != nil {
			return "", nil, fmt.Errorf("post policy: %w", err)
		}
	}
	u, fields, err := s.presigner.PresignedPostPolicy(ctx, p)
	if err != nil {
		return "", nil, fmt.Errorf("presign post %s/%s: %w", bucket, key, err)
	}
	return u.String(), fields, nil
}

// PresignGet returns a GET URL valid for ttl.
func (s *Store) PresignGet(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
	u, err := s.presigner.PresignedGetObject(ctx, bucket, key, ttl, nil)
	if err != nil {
		return "", fmt.Errorf("presign get %s/%s: %w", bucket, key, err)
	}
	return u.String(), nil
}

// Stat reports an object's size.
func (s *Store) Stat(ctx context.Context, bucket, key string) (int64, bool, error) {
	info, err := s.client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" || r.StatusCode == 404 {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}
	return info.Size, true, nil
}
