package payment

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/sony/gobreaker/v2"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/orders/internal/app"
)

var (
	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_orders_payment_attempts_total",
		Help: "Payment provider attempts by operation and outcome (ok, declined, refused, transient, short_circuit).",
	}, []string{"op", "outcome"})
	callsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "printfleet_orders_payment_calls_total",
		Help: "Payment operations requested by the worker (each may take several attempts).",
	}, []string{"op"})
	breakerState = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "printfleet_orders_payment_breaker_state",
		Help: "Payment provider circuit breaker: 0 closed, 1 half-open, 2 open.",
	})
)

// Provider is one attempt at the provider (Client implements it).
type Provider interface {
	Charge(ctx context.Context, r app.ChargeRequest) (app.ChargeResult, error)
	Refund(ctx context.Context, r app.RefundRequest) (app.RefundResult, error)
}

// Resilient is the retry layer and circuit breaker around a Provider; it
// implements app.Payments.
type Resilient struct {
	p   Provider
	cb  *gobreaker.CircuitBreaker[any]
	cfg Config
}

var _ app.Payments = (*Resilient)(nil)

// NewResilient wraps p with cfg's retry and breaker policy.
func NewResilient(p Provider, cfg Config) *Resilient {
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 50 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 2 * time.Second
	}
	if cfg.RetryDeadline <= 0 {
		cfg.RetryDeadline = 5 * time.Second
	}
	if cfg.BreakerMinRequests == 0 {
		cfg.BreakerMinRequests = 10
	}
	if cfg.BreakerFailureRatio <= 0 {
		cfg.BreakerFailureRatio = 0.6
	}
	if cfg.BreakerWindow <= 0 {
		cfg.BreakerWindow = 10 * time.Second
	}
	if cfg.BreakerOpenFor <= 0 {
		cfg.BreakerOpenFor = 2 * time.Second
	}
	breakerState.Set(0)
	cb := gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        "payment-provider",
		MaxRequests: 1,
		Interval:    cfg.BreakerWindow,
		Timeout:     cfg.BreakerOpenFor,
		// The ratio is over requests that have finished: c.Requests also
		// counts those still in flight, and with many concurrent handlers
		// against a dead provider those kept the ratio under the threshold
		// while retries piled up (the breaker opened only after several
		// times as many attempts as calls).
		ReadyToTrip: func(c gobreaker.Counts) bool {
			done := c.TotalSuccesses + c.TotalFailures
			return done >= cfg.BreakerMinRequests &&
				float64(c.TotalFailures) >= cfg.BreakerFailureRatio*float64(done)
		},
		OnStateChange: func(_ string, _, to gobreaker.State) { breakerState.Set(float64(to)) },
		// The provider answering "declined" or "invalid" is the provider
		// working: only transient failures count against it.
		IsSuccessful: func(err error) bool {
			var pe *app.PaymentError
			return err == nil || errors.As(err, &pe)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	})
	return &Resilient{p: p, cb: cb, cfg: cfg}
}

// State is the breaker's state.
func (r *Resilient) State() gobreaker.State { return r.cb.State() }

// Charge implements app.Payments.
func (r *Resilient) Charge(ctx context.Context, req app.ChargeRequest) (app.ChargeResult, error) {
	v, err := r.do(ctx, "charge", func(ctx context.Context) (any, error) { return r.p.Charge(ctx, req) })
	if err != nil {
		return app.ChargeResult{}, err
	}
	return v.(app.ChargeResult), nil
}

// Refund implements app.Payments.
func (r *Resilient) Refund(ctx context.Context, req app.RefundRequest) (app.RefundResult, error) {
	v, err := r.do(ctx, "refund", func(ctx context.Context) (any, error) { return r.p.Refund(ctx, req) })
	if err != nil {
		return app.RefundResult{}, err
	}
	return v.(app.RefundResult), nil
}

// do retries transient failures with capped exponential backoff and equal
// jitter until RetryDeadline. An open breaker ends the call at once. Either
// way the error is errs.Unavailable: the provider is down, not the message
// wrong, so the consumer holds the message and calls again later without
// spending its delivery limit (however long the outage lasts), instead of
// one delivery spinning here.
func (r *Resilient) do(ctx context.Context, op string, call func(context.Context) (any, error)) (any, error) {
	callsTotal.WithLabelValues(op).Inc()
	deadline := time.Now().Add(r.cfg.RetryDeadline)
	var last error
	for attempt := 1; ; attempt++ {
		v, err := r.cb.Execute(func() (any, error) { return call(ctx) })
		var pe *app.PaymentError
		switch {
		case err == nil:
			requestsTotal.WithLabelValues(op, "ok").Inc()
			return v, nil
		case errors.As(err, &pe):
			outcome := "refused"
			if pe.Declined {
				outcome = "declined"
			}
			requestsTotal.WithLabelValues(op, outcome).Inc()
			return nil, err
		case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
			requestsTotal.WithLabelValues(op, "short_circuit").Inc()
			return nil, unavailable(op, attempt, err)
		default:
			requestsTotal.WithLabelValues(op, "transient").Inc()
			last = err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("payment %s: %w", op, ctx.Err())
		}
		wait := r.backoff(attempt)
		if time.Now().Add(wait).After(deadline) {
			return nil, unavailable(op, attempt, last)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("payment %s: %w", op, ctx.Err())
		case <-t.C:
		}
	}
}

// unavailable classifies a provider that did not answer (503, 429, 5xx, no
// answer, an open breaker) as a dependency that is down.
func unavailable(op string, attempts int, err error) error {
	return errs.Wrap(errs.Unavailable, err, fmt.Sprintf("payment %s: provider unavailable after %d attempts", op, attempts))
}

func (r *Resilient) backoff(attempt int) time.Duration {
	d := r.cfg.RetryBase
	for i := 1; i < attempt && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, r.cfg.RetryMax)
	// Equal jitter: at least half the step. With full jitter the first
	// failures of a burst of charges against a dead provider retried at once,
	// before enough of the burst had finished to trip the breaker.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
