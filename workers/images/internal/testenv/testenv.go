// Package testenv is what the image worker's tests share: libvips started
// small, hand-written fakes of object storage and of the broker's
// publisher, deliveries built from event protos, per-test buckets on the
// local S3 server, and readings of the process's memory and metrics. Only
// tests import it.
package testenv

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"

	"github.com/printfleet/printfleet/workers/images/internal/app"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// Main starts libvips with a small cache and one thread per pipeline, then
// runs the package's tests (call it from TestMain).
func Main(m *testing.M) {
	render.Startup(render.Config{ConcurrencyLevel: 1, MaxCacheMem: 16 << 20, MaxCacheSize: 16})
	os.Exit(m.Run())
}

// Discard is a logger that drops everything.
var Discard = slog.New(slog.DiscardHandler)

// ErrBoom is an infrastructure failure injected by a test.
var ErrBoom = errors.New("boom")

// Delivery is m as the consumer hands it to a handler: a fresh message id,
// routing key typ, first attempt.
func Delivery(t testing.TB, typ string, m proto.Message) amqp.Delivery {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return amqp.Delivery{ID: uuid.NewString(), Type: typ, Body: b, Attempt: 1}
}

// Unmarshal decodes b into m and returns m.
func Unmarshal[T proto.Message](t testing.TB, b []byte, m T) T {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// RSSKB reads VmRSS from /proc/self/status.
func RSSKB(t testing.TB) int {
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

// Counter is the value of the counter called name with the given label
// value in the process's default registry (0 when it has not been
// counted yet), read by name as a dashboard would.
func Counter(t testing.TB, name, label, value string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Publisher records published messages, or refuses them all.
type Publisher struct {
	mu   sync.Mutex
	msgs []amqp.Message
	err  error
}

// Fail makes every later Publish return err.
func (p *Publisher) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// Publish records msgs.
func (p *Publisher) Publish(_ context.Context, msgs ...amqp.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

// All returns every message published so far.
func (p *Publisher) All() []amqp.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]amqp.Message{}, p.msgs...)
}

// The buckets of Options.
const (
	Designs = "designs"
	Renders = "renders"
)

// Options are small use-case options for tests: two jobs, a 1 MiB byte
// cap and small thumbnails, previews and mockups.
func Options() app.Options {
	return app.Options{
		DesignsBucket: Designs, RendersBucket: Renders, Jobs: 2,
		MaxBytes: 1 << 20, ThumbSize: 32, PreviewSize: 64, MockupSize: 96,
	}
}
