package gateway

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/services/gateway/internal/edge"
)

// Metrics are the gateway's Prometheus metrics.
type Metrics struct {
	HTTP           *edge.HTTPMetrics
	rateDecisions  *prometheus.CounterVec
	redisUp        prometheus.Gauge
	upstreamErrors *prometheus.CounterVec
	webhooks       *prometheus.CounterVec
}

// NewMetrics registers the gateway's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	return &Metrics{
		HTTP: edge.NewHTTPMetrics(reg),
		rateDecisions: edge.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "printfleet_gateway_ratelimit_decisions_total",
			Help: "Rate-limit decisions by class, source (redis or local fallback) and decision.",
		}, []string{"class", "source", "decision"})),
		redisUp: edge.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "printfleet_gateway_ratelimit_redis_up",
			Help: "1 while the shared (Redis) limiter answers, 0 while the in-process fallback is in use.",
		})),
		upstreamErrors: edge.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "printfleet_gateway_upstream_errors_total",
			Help: "Failed upstream gRPC calls by service and gRPC code.",
		}, []string{"service", "code"})),
		webhooks: edge.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "printfleet_gateway_marketplace_webhooks_total",
			Help: "Marketplace webhook deliveries by marketplace and outcome (accepted, duplicate, refused, missing_signature, invalid, too_large, unreadable_body, unavailable); carrier updates count as marketplace \"carrier\" (applied, unknown_package, disabled too).",
		}, []string{"marketplace", "outcome"})),
	}
}

// webhook counts one webhook delivery's outcome.
func (m *Metrics) webhook(marketplace, outcome string) {
	m.webhooks.WithLabelValues(marketplace, outcome).Inc()
}

// RateDecision records one rate-limit decision (ratelimit.Options.OnDecision).
func (m *Metrics) RateDecision(class, source string, allowed bool) {
	d := "limited"
	if allowed {
		d = "allowed"
	}
	m.rateDecisions.WithLabelValues(class, source, d).Inc()
}

// RedisState records whether the shared limiter is usable.
func (m *Metrics) RedisState(up bool) {
	if up {
		m.redisUp.Set(1)
	} else {
		m.redisUp.Set(0)
	}
}

// upstreamInterceptor counts failed calls to service by code.
func (m *Metrics) upstreamInterceptor(service string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err != nil {
			m.upstreamErrors.WithLabelValues(service, status.Code(err).String()).Inc()
		}
		return err
	}
}
