// Package app holds the webhooks use cases: subscriptions (owner-scoped,
// the caller passed explicitly), the fan-out of notices into deliveries,
// the dispatcher that sends them, and the housekeeping loop (retention,
// gauges). It owns its ports (ports.go).
package app

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
)

// Options configure a Service. Zero durations and counts take the
// contract's defaults.
type Options struct {
	Store  Store
	Orders Orders
	Poster Poster
	URLs   URLChecker
	Box    Sealer
	Log    *slog.Logger
	// Registerer receives the metrics (nil: none are registered).
	Registerer prometheus.Registerer
	Now        func() time.Time

	Schedule     domain.Schedule
	DisableAfter time.Duration // 24h
	Lease        time.Duration // 30s
	// EndpointConcurrency bounds the attempts in flight to one endpoint in
	// this process; Concurrency all of them.
	EndpointConcurrency int           // 4
	Concurrency         int           // 64
	Poll                time.Duration // 1s
	Retention           time.Duration // 720h
	StatsInterval       time.Duration // 10s
}

// Service is the webhooks application.
type Service struct {
	o       Options
	log     *slog.Logger
	now     func() time.Time
	metrics metrics
	wake    chan struct{}

	mu       sync.Mutex
	busy     map[string]int // attempts in flight per endpoint
	inflight int
}

// New returns a Service.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Schedule) == 0 {
		o.Schedule = domain.DefaultSchedule
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.DisableAfter, 24*time.Hour)
	def(&o.Lease, 30*time.Second)
	def(&o.Poll, time.Second)
	def(&o.Retention, 720*time.Hour)
	def(&o.StatsInterval, 10*time.Second)
	if o.EndpointConcurrency <= 0 {
		o.EndpointConcurrency = 4
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	return &Service{
		o: o, log: o.Log, now: o.Now, metrics: newMetrics(o.Registerer),
		wake: make(chan struct{}, 1), busy: map[string]int{},
	}
}

// Wake makes the dispatcher claim at once.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

type metrics struct {
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
	oldest     prometheus.Gauge
	pending    prometheus.Gauge
	endpoints  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "printfleet_webhooks_deliveries_total",
			Help: "Delivery attempts by outcome: succeeded, retry (another attempt is scheduled), failed (given up), disabled (the endpoint was disabled).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "printfleet_webhooks_delivery_duration_seconds",
			Help:    "Duration of one delivery attempt, answered or not.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "printfleet_webhooks_oldest_pending_seconds",
			Help: "How long the oldest due delivery (of the worst endpoint) has waited past its due time.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "printfleet_webhooks_pending",
			Help: "Deliveries waiting for their first or next attempt.",
		}),
		endpoints: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "printfleet_webhooks_endpoints",
			Help: "Subscriptions by status.",
		}, []string{"status"}),
	}
	for _, o := range []domain.Outcome{domain.OutcomeSucceeded, domain.OutcomeRetry, domain.OutcomeFailed, domain.OutcomeDisabled} {
		m.deliveries.WithLabelValues(string(o))
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.duration, m.oldest, m.pending, m.endpoints)
	}
	return m
}
