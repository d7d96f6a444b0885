package telemetry

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// fileSpan is the part of a stdouttrace JSON line the tests compare.
type fileSpan struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct {
		TraceID, SpanID string
		Remote          bool
	}
	SpanKind   trace.SpanKind
	Attributes []struct {
		Key   string
		Value struct{ Value any }
	}
	Links []struct {
		SpanContext struct{ TraceID, SpanID string }
	}
	Resource []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (s fileSpan) attr(key string) any {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.Value
		}
	}
	return nil
}

func (s fileSpan) resource(key string) any {
	for _, kv := range s.Resource {
		if kv.Key == key {
			return kv.Value.Value
		}
	}
	return nil
}

func readFile(t *testing.T, path string) []fileSpan {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fileSpan
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s fileSpan
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %d is not one JSON span: %v\n%s", len(out)+1, err, sc.Bytes())
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The file holds, one line each, exactly the spans the SDK ended — the same
// ones an in-memory exporter sees, with their ids, parents, kinds,
// attributes and links — and all of them once the provider shuts down.
func TestFileExporterWritesEverySpan(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "spans.jsonl")
	fileExp, err := NewFileExporter(path)
	if err != nil {
		t.Fatal(err)
	}
	mem := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSyncer(mem),
		// A long batch timeout: only the shutdown flush writes them.
		sdktrace.WithBatcher(fileExp, sdktrace.WithBatchTimeout(1<<40)),
	)
	tr := tp.Tracer("test")

	// A parent that arrived from another process, as a consumer would see it.
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	ctx, consumer := tr.Start(ctx, "process printfleet.events", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "rabbitmq"), attribute.Int("printfleet.delivery_attempt", 2)))
	_, child := tr.Start(ctx, "call payment", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(trace.Link{SpanContext: remote}))
	child.End()
	consumer.End()
	_, root := tr.Start(context.Background(), "other root")
	root.End()

	want := mem.GetSpans() // the syncer has them all; its Shutdown forgets them
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	if len(got) != len(want) || len(want) != 3 {
		t.Fatalf("file has %d spans, the in-memory exporter %d (want 3 each)", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.Name || g.SpanContext.TraceID != w.SpanContext.TraceID().String() ||
			g.SpanContext.SpanID != w.SpanContext.SpanID().String() || g.SpanKind != w.SpanKind {
			t.Errorf("span %d: file has %s %s/%s kind %v, memory %s %s/%s kind %v", i,
				g.Name, g.SpanContext.TraceID, g.SpanContext.SpanID, g.SpanKind,
				w.Name, w.SpanContext.TraceID(), w.SpanContext.SpanID(), w.SpanKind)
		}
		if w.Parent.IsValid() && (g.Parent.SpanID != w.Parent.SpanID().String() || g.Parent.Remote != w.Parent.IsRemote()) {
			t.Errorf("span %s: parent %+v, want %s (remote %v)", w.Name, g.Parent, w.Parent.SpanID(), w.Parent.IsRemote())
		}
		for _, kv := range w.Attributes {
			if got, want := g.attr(string(kv.Key)), kv.Value.AsInterface(); jsonNumber(got) != jsonNumber(want) {
				t.Errorf("span %s attribute %s = %v, want %v", w.Name, kv.Key, got, want)
			}
		}
	}
	// The consumer continued the remote trace; the child's link survived.
	if got[1].SpanContext.TraceID != remote.TraceID().String() || !got[1].Parent.Remote {
		t.Errorf("consumer span lost its remote parent: %+v", got[1])
	}
	if len(got[0].Links) != 1 || got[0].Links[0].SpanContext.SpanID != remote.SpanID().String() {
		t.Errorf("child span links = %+v, want the remote span", got[0].Links)
	}
	if got[2].Parent.SpanID != "" && got[2].Parent.SpanID != "0000000000000000" {
		t.Errorf("root span has a parent: %+v", got[2].Parent)
	}
}

// jsonNumber compares values as JSON would (integers decode as float64).
func jsonNumber(v any) any {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	}
	return v
}

// Setup writes to PRINTFLEET_TRACE_FILE when it is set, tagged with the
// service name, and its shutdown flushes what is still batched.
func TestSetupTraceFile(t *testing.T) {
	// Not parallel: sets the environment and the global providers.
	path := filepath.Join(t.TempDir(), "orders.jsonl")
	t.Setenv(TraceFileEnv, path)
	prevTP, prevMP, prevProp := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetMeterProvider(prevMP)
		otel.SetTextMapPropagator(prevProp)
	})

	shutdown, err := Setup(context.Background(), "orders", prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(context.Background(), "create order")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := readFile(t, path)
	if len(spans) != 1 || spans[0].Name != "create order" {
		t.Fatalf("trace file spans = %+v, want the one span", spans)
	}
	if got := spans[0].resource("service.name"); got != "orders" {
		t.Errorf("service.name = %v, want orders", got)
	}
	if spans[0].SpanContext.TraceID != span.SpanContext().TraceID().String() {
		t.Errorf("trace id %s, want %s", spans[0].SpanContext.TraceID, span.SpanContext().TraceID())
	}
}

// A path that cannot be opened fails start-up rather than losing traces.
func TestFileExporterBadPath(t *testing.T) {
	t.Parallel()
	if _, err := NewFileExporter(filepath.Join(t.TempDir(), "missing", "dir", "x.jsonl")); err == nil {
		t.Fatal("want an error for a file in a missing directory")
	}
}
