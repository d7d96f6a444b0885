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
