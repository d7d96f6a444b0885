package edge

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTPMetrics are the gateway's RED metrics, labelled by route template
// (never the raw path), a closed set of methods and the status class.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

// NewHTTPMetrics registers the metrics on reg (reusing ones already there, so
// that a second gateway in one process shares them).
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	return &HTTPMetrics{
		requests: Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "printfleet_gateway_http_requests_total",
			Help: "HTTP requests by route template, method and status class.",
		}, []string{"route", "method", "code"})),
		duration: Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "printfleet_gateway_http_request_duration_seconds",
			Help:    "HTTP request latency by route template, method and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "code"})),
		inflight: Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "printfleet_gateway_http_requests_in_flight",
			Help: "HTTP requests being served.",
		})),
	}
}

// Register registers c on reg and returns it, or the collector already
// registered under the same description.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// RouteUnmatched labels requests that matched no route.
const RouteUnmatched = "unmatched"

// SlowRequest is the duration from which a request is always logged.
const SlowRequest = 100 * time.Millisecond

// RoutineSample is how many routine requests share one info-level line.
const RoutineSample = 100

// Observe records the RED metrics and writes an access-log line: request id,
// trace id (from the context), principal, route template, method, status and
// duration. It never logs headers or bodies. Every request is logged at info
// (errors at error) except routine ones: a successful GET or HEAD faster than
// SlowRequest whose client did not send its own X-Request-Id is logged at
// info one time in RoutineSample and at debug otherwise (probes always at
// debug). Writes, failures, slow requests and requests a client wants to find
// again by its request id are all logged.
func Observe(logger *slog.Logger, m *HTTPMetrics) func(http.Handler) http.Handler {
	var routine atomic.Uint64
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			m.inflight.Inc()
			defer m.inflight.Dec()
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			elapsed := time.Since(start)
			info := InfoFrom(r.Context())
			route := info.Route
			if route == "" {
				route = RouteUnmatched
			}
			status := rec.code()
			method := MethodLabel(r.Method)
			class := strconv.Itoa(status/100) + "xx"
			m.requests.WithLabelValues(route, method, class).Inc()
			m.duration.WithLabelValues(route, method, class).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelError
			case route == "/healthz" || route == "/readyz":
				level = slog.LevelDebug // probes every few seconds
			case status < 400 && (method == http.MethodGet || method == http.MethodHead) &&
				elapsed < SlowRequest && !info.ClientRequestID:
				if routine.Add(1)%RoutineSample != 1 {
					level = slog.LevelDebug
				}
			}
			if !logger.Enabled(r.Context(), level) {
				return
			}
			logger.LogAttrs(r.Context(), level, "http request",
				slog.String("method", method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
				slog.Int64("bytes", rec.bytes),
				slog.String("principal", info.Subject),
			)
		})
	}
}

// MethodLabel maps the method to a closed set so that clients cannot grow
// the label's cardinality.
func MethodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodOptions:
		return m
	}
	return "OTHER"
}
