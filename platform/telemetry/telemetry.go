// Package telemetry sets up OpenTelemetry tracing and metrics for a process.
// Trace context is always created and propagated (W3C trace context and
// baggage) so that logs carry trace ids; spans are recorded and exported over
// OTLP/gRPC only when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-specific
// variable) is set, and appended to a file as JSON lines when
// PRINTFLEET_TRACE_FILE is set. With neither, spans are never sampled: they
// carry ids but record no attributes, events or timings (no span work).
// OTel metrics are exported through the Prometheus registry served on the
// admin port, next to client_golang's.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// Setup installs the global tracer provider, meter provider and propagator
// for service. The returned function flushes and shuts them down.
func Setup(ctx context.Context, service string, reg prometheus.Registerer) (func(context.Context) error, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service),
	))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exporting := false
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
		exporting = true
	}
	fileOpt, err := fileOption()
	if err != nil {
		return nil, err
	}
	if fileOpt != nil {
		topts = append(topts, fileOpt)
		exporting = true
	}
	if !exporting {
		topts = append(topts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	tp := sdktrace.NewTracerProvider(topts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	promExp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("otel prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(promExp))
	otel.SetMeterProvider(mp)

	return func(ctx context.Context) error {
		return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
	}, nil
}
