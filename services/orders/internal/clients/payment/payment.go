// Package payment is the orders worker's adapter for a Stripe-like payment
// provider (the sandbox in development): payment intents confirmed at once
// and refunds, form-encoded, with bearer keys and idempotency keys.
//
// Client makes exactly one HTTP request per call, bounded by a timeout.
// Resilient wraps it with the only retry loop (capped exponential backoff
// with full jitter, bounded by a deadline) and a circuit breaker
// (sony/gobreaker/v2), so retries live at one layer.
package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/services/orders/internal/app"
)

// Config is the provider's endpoint and the retry and breaker policy.
type Config struct {
	URL    string        `env:"URL, default=http://127.0.0.1:9301"`
	APIKey config.Secret `env:"API_KEY"`
	// Method is the payment method charged. The order API carries no card
	// token yet, so one configured method (a sandbox test card) is used.
	Method string `env:"METHOD, default=pm_card_visa"`
	// Timeout bounds one HTTP request.
	Timeout time.Duration `env:"TIMEOUT, default=5s"`
	// RetryBase and RetryMax shape the backoff; RetryDeadline bounds all
	// attempts of one call. Then (or at once while the breaker is open) the
	// call fails as unavailable and the consumer holds the message and calls
	// again after its own backoff, without counting a delivery.
	RetryBase     time.Duration `env:"RETRY_BASE, default=50ms"`
	RetryMax      time.Duration `env:"RETRY_MAX, default=2s"`
	RetryDeadline time.Duration `env:"RETRY_DEADLINE, default=5s"`
	// The breaker opens when at least BreakerMinRequests finished requests in
	// BreakerWindow failed at BreakerFailureRatio or more, and stays open for
	// BreakerOpenFor before letting one probe through.
	BreakerMinRequests  uint32        `env:"BREAKER_MIN_REQUESTS, default=10"`
	BreakerFailureRatio float64       `env:"BREAKER_FAILURE_RATIO, default=0.6"`
	BreakerWindow       time.Duration `env:"BREAKER_WINDOW, default=10s"`
	BreakerOpenFor      time.Duration `env:"BREAKER_OPEN_FOR, default=2s"`
}

// Client speaks the provider's HTTP API, one request per call.
type Client struct {
	hc      *http.Client
	base    string
	key     string
	method  string
	timeout time.Duration
}

// NewClient returns a client for cfg; hc may be nil.
func NewClient(cfg Config, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Transport: otelhttp.NewTransport(&http.Transport{
			MaxIdleConns: 128, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		})}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Method == "" {
		cfg.Method = "pm_card_visa"
	}
	return &Client{hc: hc, base: strings.TrimRight(cfg.URL, "/"), key: cfg.APIKey.Reveal(), method: cfg.Method, timeout: cfg.Timeout}
}

// TransientError is a failure worth retrying: the provider was unreachable,
// overloaded, failing, or still busy with the same idempotency key.
type TransientError struct {
	Status int // 0 when no HTTP answer arrived
	Err    error
}

func (e *TransientError) Error() string {
	if e.Status == 0 {
		return "payment provider unreachable: " + e.Err.Error()
	}
	return fmt.Sprintf("payment provider answered %d: %v", e.Status, e.Err)
}

func (e *TransientError) Unwrap() error { return e.Err }

type apiError struct {
	Error struct {
		Type        string `json:"type"`
		Code        string `json:"code"`
		DeclineCode string `json:"decline_code"`
		Message     string `json:"message"`
	} `json:"error"`
}

// Charge creates and confirms a payment intent for the order.
func (c *Client) Charge(ctx context.Context, r app.ChargeRequest) (app.ChargeResult, error) {
	form := url.Values{
		"amount":             {strconv.FormatInt(r.Amount, 10)},
		"currency":           {strings.ToLower(r.Currency)},
		"payment_method":     {c.method},
		"confirm":            {"true"},
		"metadata[order_id]": {r.OrderID},
	}
	var pi struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := c.post(ctx, "/v1/payment_intents", r.IdempotencyKey, form, &pi); err != nil {
		return app.ChargeResult{}, err
	}
	if pi.Status != "succeeded" {
		return app.ChargeResult{}, &app.PaymentError{Declined: true, Code: pi.Status, Message: "payment intent not succeeded"}
	}
	return app.ChargeResult{PaymentID: pi.ID}, nil
}

// Refund refunds amount of a payment intent.
func (c *Client) Refund(ctx context.Context, r app.RefundRequest) (app.RefundResult, error) {
	form := url.Values{
		"payment_intent":     {r.PaymentID},
		"amount":             {strconv.FormatInt(r.Amount, 10)},
		"metadata[order_id]": {r.OrderID},
	}
	var rf struct {
		ID string `json:"id"`
	}
	err := c.post(ctx, "/v1/refunds", r.IdempotencyKey, form, &rf)
	var pe *app.PaymentError
	if errors.As(err, &pe) && pe.Code == "charge_already_refunded" {
		return app.RefundResult{RefundID: "already_refunded"}, nil
	}
	if err != nil {
		return app.RefundResult{}, err
	}
	return app.RefundResult{RefundID: rf.ID}, nil
}

func (c *Client) post(ctx context.Context, path, idemKey string, form url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("payment: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+c.key)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &TransientError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &TransientError{Status: resp.StatusCode, Err: fmt.Errorf("read body: %w", err)}
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			return &app.PaymentError{Code: "malformed_response", Message: err.Error()}
		}
		return nil
	}
	var ae apiError
	_ = json.Unmarshal(body, &ae)
	e := ae.Error
	switch {
	case resp.StatusCode == http.StatusPaymentRequired:
		code := e.DeclineCode
		if code == "" {
			code = e.Code
		}
		return &app.PaymentError{Declined: true, Code: code, Message: e.Message}
	case resp.StatusCode == http.StatusConflict, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return &TransientError{Status: resp.StatusCode, Err: fmt.Errorf("%s: %s", e.Type, e.Message)}
	}
	code := e.Code
	if code == "" {
		code = e.Type
	}
	return &app.PaymentError{Code: code, Message: fmt.Sprintf("%d %s", resp.StatusCode, e.Message)}
}
