package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Job kinds and outcomes (metric labels).
const (
	kindDesign    = "design"
	kindPrintFile = "print_file"

	outcomeReady    = "ready"
	outcomeRejected = "rejected"
	outcomeOK       = "ok"
	outcomeError    = "error"
)

// The names are what the dashboards and alerts under deploy/ query.
var (
	jobDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "printfleet_images_job_duration_seconds",
		Help:    "Time to process one image job (a design, or one order item's print file and mockup), by kind and outcome.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"kind", "outcome"})

	rejections = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_images_rejections_total",
		Help: "Designs rejected, by reason.",
	}, []string{"reason"})

	jobsInFlight = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "printfleet_images_jobs_in_flight",
		Help: "Image jobs holding a processing slot.",
	})
)
