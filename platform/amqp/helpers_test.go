package amqp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/printfleet/printfleet/platform/amqp"
)

// spans records every span of the test process; tests find theirs by
// message id or trace id.
var spans = tracetest.NewSpanRecorder()

func TestMain(m *testing.M) {
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	os.Exit(m.Run())
}

// testLogger logs through t until the test ends, and drops lines after that
// (background goroutines may still be winding down).
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p[:len(p)-1]))
	}
	return len(p), nil
}

var _ io.Writer = (*testWriter)(nil)

func dial(t *testing.T, cfg amqp.Config) *amqp.Conn {
	t.Helper()
	log := testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, cfg, log)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// startConsumer runs Consume until the returned stop is called (or the test
// ends) and returns what Consume returned.
func startConsumer(t *testing.T, conn *amqp.Conn, cfg amqp.ConsumerConfig) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- amqp.Consume(ctx, conn, cfg) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				err = errors.New("Consume did not return within 15s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
	return stop
}

func declare(t *testing.T, conn *amqp.Conn, queue string, keys ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.DeclareQueue(ctx, queue, keys...); err != nil {
		t.Fatalf("DeclareQueue: %v", err)
	}
}

func messages(n int, typ string) []amqp.Message {
	msgs := make([]amqp.Message, n)
	for i := range msgs {
		msgs[i] = amqp.Message{ID: uuid.NewString(), Type: typ, Body: []byte{byte(i)}}
	}
	return msgs
}

// publishAll publishes msgs and republishes what was not confirmed, as an
// outbox relay does, until all are confirmed or ctx ends.
func publishAll(ctx context.Context, t *testing.T, pub *amqp.Publisher, msgs []amqp.Message) {
	t.Helper()
	byID := make(map[string]amqp.Message, len(msgs))
	for _, m := range msgs {
		byID[m.ID] = m
	}
	for attempt := 1; ; attempt++ {
		err := pub.Publish(ctx, msgs...)
		if err == nil {
			return
		}
		var pe *amqp.PublishError
		if !errors.As(err, &pe) || ctx.Err() != nil {
			t.Fatalf("Publish: %v", err)
		}
		t.Logf("publish attempt %d: %v", attempt, err)
		msgs = msgs[:0:0]
		for _, f := range pe.Failed {
			if errors.Is(f, amqp.ErrUnroutable) {
				t.Fatalf("Publish: %v", err)
			}
			msgs = append(msgs, byID[f.ID])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func depth(t *testing.T, conn *amqp.Conn, queue string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := conn.QueueDepth(ctx, queue)
	if err != nil {
		t.Fatalf("QueueDepth(%s): %v", queue, err)
	}
	return n
}

// metric returns the value of a counter on the default registry (0 if absent).
func metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// recorder collects deliveries seen by a handler.
type recorder struct {
	mu   sync.Mutex
	seen map[string][]amqp.Delivery
}

func newRecorder() *recorder { return &recorder{seen: map[string][]amqp.Delivery{}} }

func (r *recorder) add(d amqp.Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[d.ID] = append(r.seen[d.ID], d)
}

func (r *recorder) get(id string) []amqp.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]amqp.Delivery(nil), r.seen[id]...)
}

// has reports whether every one of msgs was seen at least once.
func (r *recorder) has(msgs []amqp.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		if len(r.seen[m.ID]) == 0 {
			return false
		}
	}
	return true
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}
