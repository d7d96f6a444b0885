package testenv

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/printfleet/printfleet/platform/s3/s3test"

	"github.com/printfleet/printfleet/workers/images/internal/app"
	"github.com/printfleet/printfleet/workers/images/internal/blob"
)

// Blob is an in-memory app.Blob with switchable failures.
type Blob struct {
	mu      sync.Mutex
	objects map[string]Object
	getErr  error
	putErr  error
}

var _ app.Blob = (*Blob)(nil)

// Object is one stored object.
type Object struct {
	Body        []byte
	ContentType string
}

// NewBlob returns an empty store.
func NewBlob() *Blob { return &Blob{objects: map[string]Object{}} }

// FailGets makes every later Get return err.
func (s *Blob) FailGets(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.getErr = err
}

// FailPuts makes every later Put return err.
func (s *Blob) FailPuts(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putErr = err
}

// Get implements app.Blob.
func (s *Blob) Get(_ context.Context, bucket, key string, maxBytes int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return nil, s.getErr
	}
	o, ok := s.objects[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, app.ErrNotFound)
	}
	if int64(len(o.Body)) > maxBytes {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, app.ErrTooLarge)
	}
	return o.Body, nil
}

// Put implements app.Blob.
func (s *Blob) Put(_ context.Context, bucket, key string, body []byte, ct string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	s.objects[bucket+"/"+key] = Object{append([]byte{}, body...), ct}
	return nil
}

// Object returns bucket/key.
func (s *Blob) Object(bucket, key string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[bucket+"/"+key]
	return o, ok
}

// Keys lists every object as bucket/key.
func (s *Blob) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.objects {
		out = append(out, k)
	}
	return out
}

// S3 is a pair of buckets on the local S3 server, unique to one test and
// removed (with their objects) when it ends.
type S3 struct {
	Client           *minio.Client
	Designs, Renders string
}

// NewS3 creates the test's buckets.
func NewS3(t testing.TB) *S3 {
	t.Helper()
	c, names := s3test.Buckets(t, "designs", "renders")
	return &S3{Client: c, Designs: names[0], Renders: names[1]}
}

// Put stores body at bucket/key through the worker's own adapter.
func (e *S3) Put(t testing.TB, bucket, key string, body []byte) {
	t.Helper()
	if err := blob.New(e.Client).Put(context.Background(), bucket, key, body, "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
}

// Stat returns an object's metadata (ETag, content type, size).
func (e *S3) Stat(t testing.TB, bucket, key string) minio.ObjectInfo {
	t.Helper()
	info, err := e.Client.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("stat %s/%s: %v", bucket, key, err)
	}
	return info
}

// Get reads an object directly with the client.
func (e *S3) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	o, err := e.Client.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	return b
}
