package testenv

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
)

// Payments is a hand-written app.Payments that captures every charge.
type Payments struct {
	mu      sync.Mutex
	Charges map[string]int // idempotency key → calls
	Refunds map[string]int
	Decline bool
}

var _ app.Payments = (*Payments)(nil)

// Charge implements app.Payments.
func (p *Payments) Charge(_ context.Context, r app.ChargeRequest) (app.ChargeResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Charges == nil {
		p.Charges = map[string]int{}
	}
	p.Charges[r.IdempotencyKey]++
	if p.Decline {
		return app.ChargeResult{}, &app.PaymentError{Declined: true, Code: "card_declined", Message: "declined"}
	}
	return app.ChargeResult{PaymentID: "pi_" + r.IdempotencyKey[:8]}, nil
}

// CancellingPayments cancels the order while it is being charged (Cancel
// runs first), then captures the charge: the race of a cancellation and a
// capture.
type CancellingPayments struct {
	Payments
	Cancel func(orderID string)
}

// Charge implements app.Payments.
func (p *CancellingPayments) Charge(ctx context.Context, r app.ChargeRequest) (app.ChargeResult, error) {
	p.Cancel(r.OrderID)
	return p.Payments.Charge(ctx, r)
}

// Refund implements app.Payments.
func (p *Payments) Refund(_ context.Context, r app.RefundRequest) (app.RefundResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Refunds == nil {
		p.Refunds = map[string]int{}
	}
	p.Refunds[r.IdempotencyKey]++
	return app.RefundResult{RefundID: "re_" + r.OrderID[:8]}, nil
}

// NewWorker returns an app.Worker on store; payments may be nil (always
// captures).
func NewWorker(t testing.TB, store app.Store, payments app.Payments) *app.Worker {
	t.Helper()
	if payments == nil {
		payments = &Payments{}
	}
	return app.NewWorker(app.WorkerDeps{Store: store, Payments: payments, Inbox: eventsv1.QueueOrdersWorker, Log: Log()})
}

// Proxy is a TCP proxy a test can cut, to take a shared server away from
// one client without stopping it.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed atomic.Bool
}

// NewProxy forwards a local port to target until Close.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c) || !p.track(up) {
			c.Close()
			up.Close()
			return
		}
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Close refuses new connections and cuts the open ones.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Swap(true) {
		return
	}
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
}

// RedisVia returns a client that reaches Redis through addr (a Proxy), with
// the production client's short timeouts, and a unique key prefix.
func RedisVia(t testing.TB, addr string) (goredis.UniversalClient, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis (skipped with -short)")
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: 250 * time.Millisecond,
		ReadTimeout: 150 * time.Millisecond, WriteTimeout: 150 * time.Millisecond, MaxRetries: 1, PoolSize: 16})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, "test:" + uuid.NewString()[:12] + ":"
}
