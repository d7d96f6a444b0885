package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/s3/s3test"

	"github.com/printfleet/printfleet/workers/images/internal/render"
)

func TestMain(m *testing.M) {
	render.Startup(render.Config{ConcurrencyLevel: 1, MaxCacheMem: 16 << 20, MaxCacheSize: 16})
	os.Exit(m.Run())
}

var discard = slog.New(slog.DiscardHandler)

// memStore is an in-memory Store with switchable failures.
type memStore struct {
	mu      sync.Mutex
	objects map[string]memObject
	getErr  error
	putErr  error
	puts    int
}

type memObject struct {
	body        []byte
	contentType string
}

func newMemStore() *memStore { return &memStore{objects: map[string]memObject{}} }

func (s *memStore) Get(_ context.Context, bucket, key string, maxBytes int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return nil, s.getErr
	}
	o, ok := s.objects[bucket+"/"+key]
	if !ok {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, ErrNotFound)
	}
	if int64(len(o.body)) > maxBytes {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, ErrTooLarge)
	}
	return o.body, nil
}

func (s *memStore) Put(_ context.Context, bucket, key string, body []byte, ct string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	s.puts++
	s.objects[bucket+"/"+key] = memObject{append([]byte{}, body...), ct}
	return nil
}

func (s *memStore) object(bucket, key string) (memObject, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[bucket+"/"+key]
	return o, ok
}

func (s *memStore) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.objects {
		out = append(out, k)
	}
	return out
}

// memPub records published messages.
type memPub struct {
	mu   sync.Mutex
	msgs []amqp.Message
	err  error
}

func (p *memPub) Publish(_ context.Context, msgs ...amqp.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *memPub) all() []amqp.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]amqp.Message{}, p.msgs...)
}

func delivery(t testing.TB, typ string, m proto.Message) amqp.Delivery {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return amqp.Delivery{ID: uuid.NewString(), Type: typ, Body: b, Attempt: 1}
}

func unmarshal[T proto.Message](t testing.TB, b []byte, m T) T {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// rssKB reads VmRSS from /proc/self/status.
func rssKB(t testing.TB) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// s3Env is a pair of buckets on the local S3 server, unique to one test and
// removed (with their objects) when it ends.
type s3Env struct {
	client           *minio.Client
	designs, renders string
}

func newS3Env(t testing.TB) *s3Env {
	t.Helper()
	c, names := s3test.Buckets(t, "designs", "renders")
	return &s3Env{client: c, designs: names[0], renders: names[1]}
}

func (e *s3Env) put(t testing.TB, bucket, key string, body []byte) {
	t.Helper()
	if err := NewS3Store(e.client).Put(context.Background(), bucket, key, body, "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
}

// stat returns an object's ETag and content type.
func (e *s3Env) stat(t testing.TB, bucket, key string) minio.ObjectInfo {
	t.Helper()
	info, err := e.client.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("stat %s/%s: %v", bucket, key, err)
	}
	return info
}

func (e *s3Env) get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	o, err := e.client.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
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

var errBoom = errors.New("boom")
