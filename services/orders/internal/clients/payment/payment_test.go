package payment_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sony/gobreaker/v2"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/sandbox/payment"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	client "github.com/printfleet/printfleet/services/orders/internal/clients/payment"
)

func sandbox(t *testing.T, f payment.Faults) (*payment.Server, string) {
	t.Helper()
	sb := payment.New(payment.Options{Faults: f, Seed: 1})
	hs := httptest.NewServer(sb)
	t.Cleanup(hs.Close)
	return sb, hs.URL
}

func charge(orderID string) app.ChargeRequest {
	return app.ChargeRequest{OrderID: orderID, Amount: 2599, Currency: "USD", IdempotencyKey: orderID}
}

func TestChargeAndRefundSpeakTheProvidersWire(t *testing.T) {
	t.Parallel()
	sb, url := sandbox(t, payment.Faults{})
	c := client.NewClient(client.Config{URL: url, APIKey: "sk_test_x"}, nil)
	ctx := context.Background()
	id := uuid.NewString()
	res, err := c.Charge(ctx, charge(id))
	if err != nil || res.PaymentID == "" {
		t.Fatalf("charge: %v %v", res, err)
	}
	again, err := c.Charge(ctx, charge(id))
	if err != nil || again.PaymentID != res.PaymentID {
		t.Fatalf("the same idempotency key charged again: %v vs %v (%v)", again, res, err)
	}
	rf, err := c.Refund(ctx, app.RefundRequest{OrderID: id, PaymentID: res.PaymentID, Amount: 2599, IdempotencyKey: "refund-" + id})
	if err != nil || rf.RefundID == "" {
		t.Fatalf("refund: %v %v", rf, err)
	}
	rf2, err := c.Refund(ctx, app.RefundRequest{OrderID: id, PaymentID: res.PaymentID, Amount: 2599, IdempotencyKey: "refund-" + id})
	if err != nil || rf2.RefundID != rf.RefundID {
		t.Fatalf("refund replay: %v %v", rf2, err)
	}
	s := sb.Payments().Orders[id]
	if s.SuccessfulCharges != 1 || s.AmountCharged != 2599 || s.AmountRefunded != 2599 {
		t.Fatalf("ledger %+v", s)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Declines are the customer's.
	_, url := sandbox(t, payment.Faults{DeclineRate: 1})
	_, err := client.NewClient(client.Config{URL: url, APIKey: "sk_test_x"}, nil).Charge(ctx, charge(uuid.NewString()))
	var pe *app.PaymentError
	if !errors.As(err, &pe) || !pe.Declined || pe.Code != "generic_decline" {
		t.Fatalf("decline: %v", err)
	}
	// A bad key is ours, not the customer's, and not worth retrying.
	_, err = client.NewClient(client.Config{URL: url, APIKey: "wrong"}, nil).Charge(ctx, charge(uuid.NewString()))
	if !errors.As(err, &pe) || pe.Declined {
		t.Fatalf("bad key: %v", err)
	}
	// 500, 503 and no answer at all are transient.
	for name, f := range map[string]payment.Faults{"500": {ErrorRate: 1}, "503": {Outage: true}} {
		_, url := sandbox(t, f)
		_, err := client.NewClient(client.Config{URL: url, APIKey: "sk_test_x"}, nil).Charge(ctx, charge(uuid.NewString()))
		var te *client.TransientError
		if !errors.As(err, &te) {
			t.Errorf("%s: %v, want transient", name, err)
		}
	}
	_, err = client.NewClient(client.Config{URL: "http://127.0.0.1:1", APIKey: "sk_test_x"}, nil).Charge(ctx, charge(uuid.NewString()))
	var te *client.TransientError
	if !errors.As(err, &te) {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestEveryCallHasATimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer stall.Close()
	defer close(release)
	c := client.NewClient(client.Config{URL: stall.URL, APIKey: "sk_test_x", Timeout: 100 * time.Millisecond}, nil)
	start := time.Now()
	_, err := c.Charge(context.Background(), charge(uuid.NewString()))
	var te *client.TransientError
	if !errors.As(err, &te) || time.Since(start) > 2*time.Second {
		t.Fatalf("stalled provider: %v after %s", err, time.Since(start))
	}
}

// flaky fails the first n attempts.
type flaky struct {
	n, calls atomic.Int64
}

func (f *flaky) Charge(context.Context, app.ChargeRequest) (app.ChargeResult, error) {
	if f.calls.Add(1) <= f.n.Load() {
		return app.ChargeResult{}, &client.TransientError{Status: 500, Err: errors.New("boom")}
	}
	return app.ChargeResult{PaymentID: "pi_ok"}, nil
}

func (f *flaky) Refund(context.Context, app.RefundRequest) (app.RefundResult, error) {
	return app.RefundResult{}, &app.PaymentError{Code: "x"}
}

func TestResilientRetriesTransientFailuresOnly(t *testing.T) {
	t.Parallel()
	cfg := client.Config{RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, RetryDeadline: 5 * time.Second, BreakerMinRequests: 100}
	f := &flaky{}
	f.n.Store(3)
	r := client.NewResilient(f, cfg)
	res, err := r.Charge(context.Background(), charge(uuid.NewString()))
	if err != nil || res.PaymentID != "pi_ok" || f.calls.Load() != 4 {
		t.Fatalf("%v %v after %d attempts", res, err, f.calls.Load())
	}
	// A definitive answer is not retried.
	if _, err := r.Refund(context.Background(), app.RefundRequest{}); err == nil {
		t.Fatal("refund refused but no error")
	}
	// The deadline bounds the loop.
	f2 := &flaky{}
	f2.n.Store(1 << 40)
	cfg.RetryDeadline = 50 * time.Millisecond
	start := time.Now()
	if _, err := client.NewResilient(f2, cfg).Charge(context.Background(), charge(uuid.NewString())); err == nil || time.Since(start) > time.Second {
		t.Fatalf("deadline: %v after %s", err, time.Since(start))
	}
}

// A provider that answers 503 or 429, or not at all, is a dependency that is
// down (errs.Unavailable: the consumer holds the message without counting a
// delivery) once the per-call deadline has passed, and at once while the
// breaker is open; a decline is the customer's answer, not an outage.
func TestResilientReportsAnOutageAsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tooMany := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":{"type":"rate_limit_error","message":"slow down"}}`))
	}))
	defer tooMany.Close()
	_, outage := sandbox(t, payment.Faults{Outage: true})
	cfg := client.Config{APIKey: "sk_test_x", RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond,
		RetryDeadline: 50 * time.Millisecond, BreakerMinRequests: 3, BreakerOpenFor: time.Minute}
	for name, url := range map[string]string{"503": outage, "429": tooMany.URL, "no answer": "http://127.0.0.1:1"} {
		cfg.URL = url
		r := client.NewResilient(client.NewClient(cfg, nil), cfg)
		for i := 0; i < 3; i++ {
			start := time.Now()
			_, err := r.Charge(ctx, charge(uuid.NewString()))
			if !errs.Is(err, errs.Unavailable) || time.Since(start) > time.Second {
				t.Fatalf("%s, call %d: %v after %v, want unavailable within the deadline", name, i+1, err, time.Since(start))
			}
		}
		if r.State() != gobreaker.StateOpen {
			t.Fatalf("%s: breaker %v after 3 failed calls", name, r.State())
		}
		start := time.Now()
		_, err := r.Refund(ctx, app.RefundRequest{OrderID: "o", PaymentID: "pi", Amount: 1, IdempotencyKey: "refund-o"})
		if !errs.Is(err, errs.Unavailable) || time.Since(start) > 20*time.Millisecond {
			t.Fatalf("%s: refund with the breaker open: %v after %v", name, err, time.Since(start))
		}
	}
	_, declines := sandbox(t, payment.Faults{DeclineRate: 1})
	cfg.URL = declines
	_, err := client.NewResilient(client.NewClient(cfg, nil), cfg).Charge(ctx, charge(uuid.NewString()))
	var pe *app.PaymentError
	if !errors.As(err, &pe) || !pe.Declined || errs.Is(err, errs.Unavailable) {
		t.Fatalf("decline: %v", err)
	}
}
