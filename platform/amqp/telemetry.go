package amqp

import (
	"context"
	"net/url"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

const instrumentationName = "github.com/printfleet/printfleet/platform/amqp"

// Outcome label values.
const (
	outcomeAck        = "ack"
	outcomeRetry      = "retry"
	outcomeDeadLetter = "dead_letter"
	outcomeNack       = "nack"
	outcomeReturned   = "returned"
	outcomeError      = "error"
)

var (
	handledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_amqp_consumer_handled_total",
		Help: "Deliveries handled, by queue and outcome (ack, retry, dead_letter).",
	}, []string{"queue", "outcome"})
	handlerDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "printfleet_amqp_consumer_handler_duration_seconds",
		Help:    "Time spent in the message handler, by queue.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10), // 1 ms .. ~4 s
	}, []string{"queue"})
	redeliveriesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_amqp_consumer_redeliveries_total",
		Help: "Deliveries the broker flagged as redelivered, by queue.",
	}, []string{"queue"})
	publishedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_amqp_published_total",
		Help: "Messages published, by outcome (ack, nack, returned, error).",
	}, []string{"outcome"})
	confirmLatency = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "printfleet_amqp_publish_confirm_duration_seconds",
		Help:    "Time from publishing a message to the broker's confirm.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 10), // 0.5 ms .. ~2 s
	})
	reconnectsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_amqp_reconnects_total",
		Help: "Connections re-established after a loss, by connection name.",
	}, []string{"connection"})
)

func tracer() trace.Tracer { return otel.Tracer(instrumentationName) }

// serverAttrs are the semconv server.* attributes of the broker in rawURL.
func serverAttrs(rawURL string) []attribute.KeyValue {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5672"
		if u.Scheme == "amqps" {
			port = "5671"
		}
	}
	attrs := []attribute.KeyValue{semconv.ServerAddress(host)}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}

// headerCarrier lets the OTel propagator read and write AMQP headers.
type headerCarrier amqp091.Table

func (h headerCarrier) Get(key string) string {
	v, _ := h[key].(string)
	return v
}

func (h headerCarrier) Set(key, value string) { h[key] = value }

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

func injectTrace(ctx context.Context, h amqp091.Table) {
	otel.GetTextMapPropagator().Inject(ctx, headerCarrier(h))
}

func extractTrace(ctx context.Context, h amqp091.Table) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, headerCarrier(h))
}
