package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TraceFileEnv names the file a process appends its finished spans to, one
// JSON object a line, when set. It is meant for development and for the
// end-to-end suite, which joins the files of every process to follow one
// trace across the fleet; production exports OTLP instead.
const TraceFileEnv = "PRINTFLEET_TRACE_FILE"

// fileBatchTimeout bounds how long a finished span waits before it reaches
// the file, so that a reader polling the file sees it soon.
const fileBatchTimeout = 200 * time.Millisecond

// NewFileExporter returns a span exporter that appends spans to the file at
// path (created when missing) as JSON lines in the stdouttrace format.
// Shutdown closes the file.
func NewFileExporter(path string) (sdktrace.SpanExporter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("trace file: %w", err)
	}
	// Unbuffered: each span is one write, whole in the file as soon as the
	// batch is exported, and lines of processes sharing a file do not mix.
	exp, err := stdouttrace.New(stdouttrace.WithWriter(f))
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("trace file exporter: %w", err)
	}
	return &fileExporter{Exporter: exp, f: f}, nil
}

type fileExporter struct {
	*stdouttrace.Exporter
	f *os.File
}

func (e *fileExporter) Shutdown(ctx context.Context) error {
	return errors.Join(e.Exporter.Shutdown(ctx), e.f.Sync(), e.f.Close())
}

// fileOption is the tracer-provider option for the file named by
// TraceFileEnv, or nil when it is not set.
func fileOption() (sdktrace.TracerProviderOption, error) {
	path := os.Getenv(TraceFileEnv)
	if path == "" {
		return nil, nil
	}
	exp, err := NewFileExporter(path)
	if err != nil {
		return nil, err
	}
	return sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(fileBatchTimeout)), nil
}
