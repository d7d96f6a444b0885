package log_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/printfleet/printfleet/platform/log"
)

func TestRecordsCarryTraceAndRequestIDs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := log.New(&buf, "orders", "info")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	ctx = log.WithRequestID(ctx, "req-42")
	l.InfoContext(ctx, "hello", "k", "v")
	span.End()
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %s", buf.String())
	}
	want := map[string]any{
		"service": "orders", "msg": "hello", "k": "v", "request_id": "req-42",
		"trace_id": span.SpanContext().TraceID().String(), "span_id": span.SpanContext().SpanID().String(),
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
	buf.Reset()
	l.Info("no context")
	if bytes.Contains(buf.Bytes(), []byte("trace_id")) {
		t.Errorf("a record without a span must not invent a trace id: %s", buf.String())
	}
}
