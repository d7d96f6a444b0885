package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/secret"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
	"github.com/printfleet/printfleet/services/webhooks/internal/egress"
	pgstore "github.com/printfleet/printfleet/services/webhooks/internal/store/postgres"
)

const testKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes

// loopback is the real egress client with the tests' receivers (httptest,
// on 127.0.0.1) exempted from its address guard.
func loopback(t *testing.T) *egress.Client {
	t.Helper()
	c, err := egress.New(egress.Config{Timeout: 5 * time.Second, AllowHTTP: true, Allow: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeOrders records SetWebhookSubscriber calls; Err fails them.
type fakeOrders struct {
	mu    sync.Mutex
	Err   error
	Calls []string
}

func (f *fakeOrders) SetWebhookSubscriber(_ context.Context, userID string, subscribed bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, userID+"="+strconv.FormatBool(subscribed))
	return f.Err
}

// allowAll accepts every URL (the receivers are on loopback).
type allowAll struct{}

func (allowAll) CheckURL(context.Context, string) error { return nil }

type env struct {
	svc    *app.Service
	store  *pgstore.Store
	pool   *pgxpool.Pool
	orders *fakeOrders
	opts   app.Options
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newEnv(t *testing.T, adjust func(*app.Options)) *env {
	t.Helper()
	pool, _ := pgtest.NewDB(t, pgstore.Migrations)
	box, err := secret.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	st := pgstore.New(pool)
	orders := &fakeOrders{}
	o := app.Options{
		Store: st, Orders: orders, Poster: loopback(t), URLs: allowAll{},
		Box: box, Log: quietLog(), Schedule: domain.Schedule{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond},
		Poll: 50 * time.Millisecond, Lease: 5 * time.Second,
	}
	if adjust != nil {
		adjust(&o)
	}
	return &env{svc: app.New(o), store: st, pool: pool, orders: orders, opts: o}
}

// run runs the dispatcher until the test ends.
func (e *env) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.svc.RunDispatcher(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func user(id string) principal.Principal {
	return principal.Principal{Subject: id, Roles: []string{principal.RoleUser}}
}

func (e *env) create(t *testing.T, owner, url string, types ...string) (domain.Endpoint, string) {
	t.Helper()
	if len(types) == 0 {
		types = []string{"*"}
	}
	ep, sec, err := e.svc.CreateWebhook(context.Background(), user(owner), app.CreateInput{URL: url, EventTypes: types})
	if err != nil {
		t.Fatal(err)
	}
	return ep, sec
}

func (e *env) notice(t *testing.T, owner, typ string) string {
	t.Helper()
	id := uuid.NewString()
	_, err := e.svc.Fanout(context.Background(), app.Notice{
		ID: id, Type: typ, OwnerID: owner, OccurredAt: time.Now(),
		Render: func() ([]byte, error) { return []byte(`{"id":"` + id + `","type":"` + typ + `"}`), nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type received struct {
	At      time.Time
	Headers http.Header
	Body    []byte
}

// receiver is an httptest endpoint that answers with answer(n) for its
// n-th request (from 1).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	n      atomic.Int64
	answer func(n int64) int
	delay  time.Duration
}

func newReceiver(t *testing.T, answer func(n int64) int) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		n := r.n.Add(1)
		r.mu.Lock()
		r.got = append(r.got, received{At: time.Now(), Headers: req.Header.Clone(), Body: b})
		r.mu.Unlock()
		if r.delay > 0 {
			select {
			case <-time.After(r.delay):
			case <-req.Context().Done():
			}
		}
		status := 200
		if r.answer != nil {
			status = r.answer(n)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) deliveries(t *testing.T, owner, endpointID string) []domain.Delivery {
	t.Helper()
	ds, _, err := e.svc.ListDeliveries(context.Background(), user(owner), app.DeliveriesInput{WebhookID: endpointID, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// verify checks a Printfleet-Signature value against body and secret.
func verify(header string, body []byte, sec string) error {
	parts := strings.Split(header, ",")
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "t=") {
		return errors.New("malformed")
	}
	ts := strings.TrimPrefix(parts[0], "t=")
	m := hmac.New(sha256.New, []byte(sec))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	for _, p := range parts[1:] {
		if strings.TrimPrefix(p, "v1=") == want {
			return nil
		}
	}
	return errors.New("mismatch")
}
