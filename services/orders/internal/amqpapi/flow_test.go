package amqpapi_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sony/gobreaker/v2"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/outbox"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/sandbox/payment"
	"github.com/printfleet/printfleet/services/orders/internal/amqpapi"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	paymentclient "github.com/printfleet/printfleet/services/orders/internal/clients/payment"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// flow is the worker running for real: RabbitMQ, the outbox relay, the
// payment sandbox over HTTP, and the resilient payment client.
type flow struct {
	s       *testenv.Server
	f       *testenv.Fixture
	sandbox *payment.Server
	pay     *paymentclient.Resilient
	pub     *amqp.Publisher
}

func startFlow(t *testing.T, faults payment.Faults, concurrency int) *flow {
	t.Helper()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	sb := payment.New(payment.Options{Faults: faults, Seed: 7})
	hs := httptest.NewServer(sb)
	t.Cleanup(hs.Close)
	cfg := paymentclient.Config{
		URL: hs.URL, APIKey: "sk_test_orders", Timeout: 2 * time.Second,
		RetryBase: 5 * time.Millisecond, RetryMax: 100 * time.Millisecond, RetryDeadline: 20 * time.Second,
		BreakerMinRequests: 10, BreakerFailureRatio: 0.6, BreakerWindow: 5 * time.Second, BreakerOpenFor: 400 * time.Millisecond,
	}
	pay := paymentclient.NewResilient(paymentclient.NewClient(cfg, hs.Client()), cfg)
	w := app.NewWorker(app.WorkerDeps{Store: s.Store, Payments: pay, Inbox: eventsv1.QueueOrdersWorker, Log: testenv.Log()})

	env := amqptest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := amqp.Dial(ctx, env.Config, testenv.Log())
	if err != nil {
		t.Fatal(err)
	}
	// A sink bound to everything keeps the relay's mandatory publishes
	// routable for events nobody in this test consumes.
	if err := conn.DeclareQueue(ctx, env.Queue("sink"), "#"); err != nil {
		t.Fatal(err)
	}
	pub := amqp.NewPublisher(conn)
	done := make(chan struct{}, 2)
	go func() {
		_ = amqp.Consume(ctx, conn, amqp.ConsumerConfig{Queue: env.Queue(eventsv1.QueueOrdersWorker), RoutingKeys: amqpapi.RoutingKeys,
			Prefetch: concurrency, Concurrency: concurrency, Handler: amqpapi.Handler(w)})
		done <- struct{}{}
	}()
	go func() {
		_ = outbox.NewRelay(s.Pool, pub, testenv.Log(), outbox.RelayConfig{Service: "orders-test", Poll: 20 * time.Millisecond}).Run(ctx)
		done <- struct{}{}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done; _ = conn.Close() })
	return &flow{s: s, f: f, sandbox: sb, pay: pay, pub: pub}
}

// reserve plays the catalog: stock reserved for every order.
func (fl *flow) reserve(t *testing.T, orders []*ordersv1.Order) {
	t.Helper()
	var msgs []amqp.Message
	for _, o := range orders {
		b, _ := proto.Marshal(&eventsv1.StockReserved{OrderId: o.Id, ReservationId: uuid.NewString()})
		msgs = append(msgs, amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyStockReserved, Body: b})
	}
	if err := fl.pub.Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

func (fl *flow) waitPaid(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := testenv.Count(t, fl.s.Pool, "orders", "status = 3")
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d orders PAID after %s (stats %+v)", got, n, within, fl.sandbox.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (fl *flow) chargedOnce(t *testing.T, orders []*ordersv1.Order) {
	t.Helper()
	ledger := fl.sandbox.Payments()
	for _, o := range orders {
		if s := ledger.Orders[o.Id]; s.SuccessfulCharges != 1 || s.AmountCharged != o.Total.AmountMinor {
			t.Fatalf("order %s: %+v, want exactly one charge of %d", o.Id, s, o.Total.AmountMinor)
		}
	}
}

func TestOrdersGetPaidThroughAFlakyProvider(t *testing.T) {
	t.Parallel()
	fl := startFlow(t, payment.Faults{ErrorRate: 0.5}, 16)
	orders := placed(t, fl.s, fl.f, 30)
	fl.reserve(t, orders)
	fl.waitPaid(t, len(orders), 60*time.Second)
	fl.chargedOnce(t, orders)
	st := fl.sandbox.Stats()
	t.Logf("sandbox: %d requests, %d injected errors, %d succeeded", st.Requests, st.InjectedErrors, st.Succeeded)
	if st.InjectedErrors == 0 {
		t.Fatal("no error was injected; the test proves nothing")
	}
	// Every paid order announced OrderPaid through the relay.
	waitFor(t, 20*time.Second, func() bool {
		return testenv.Count(t, fl.s.Pool, "outbox", "type = $1 AND published_at IS NOT NULL", eventsv1.KeyOrderPaid) == len(orders)
	})
}

func TestBreakerOpensWhenTheProviderIsDown(t *testing.T) {
	t.Parallel()
	fl := startFlow(t, payment.Faults{ErrorRate: 1}, 40)
	orders := placed(t, fl.s, fl.f, 40)
	fl.reserve(t, orders)
	waitFor(t, 20*time.Second, func() bool { return fl.pay.State() == gobreaker.StateOpen })
	opened := fl.sandbox.Stats().Requests
	// Let the handlers keep trying against the open breaker: it lets one
	// probe through per half-open window (BreakerOpenFor, 400 ms), so only
	// those reach the provider.
	const keepTrying, openFor = 1500 * time.Millisecond, 400 * time.Millisecond
	time.Sleep(keepTrying)
	requests := fl.sandbox.Stats().Requests
	t.Logf("provider down: %d requests for %d charge calls (%d when the breaker opened), breaker %s",
		requests, len(orders), opened, fl.pay.State())
	// Each call's first attempt reaches the provider (40 handlers start at
	// once, some still in flight when the breaker opens); before it opens,
	// the breaker needs 10 finished requests, and handlers whose first
	// attempt failed early may retry meanwhile; after, only the probes.
	if limit := len(orders) + 10 + int(keepTrying/openFor) + 1; requests > limit {
		t.Fatalf("%d requests for %d calls: retries beyond the breaker's probes (at most %d)", requests, len(orders), limit)
	}
	if n := testenv.Count(t, fl.s.Pool, "orders", "status = 3"); n != 0 {
		t.Fatalf("%d orders paid while the provider is down", n)
	}
	// The provider recovers: the half-open probe closes the breaker and every
	// order is paid, once.
	if err := fl.sandbox.SetFaults(payment.Faults{}); err != nil {
		t.Fatal(err)
	}
	fl.waitPaid(t, len(orders), 30*time.Second)
	fl.chargedOnce(t, orders)
	if fl.pay.State() != gobreaker.StateClosed {
		t.Fatalf("breaker %s after recovery, want closed", fl.pay.State())
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(25 * time.Millisecond)
	}
}
