package server

import (
	"context"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/config"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/blob"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/catalog"
	mkt "github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/events"
	"github.com/printfleet/printfleet/workers/marketplace/internal/shared"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

// testOptions are the configuration's defaults with the fields set in o
// taking their place.
func testOptions(t testing.TB, o Options) Options {
	t.Helper()
	var cfg Config
	env := envconfig.MapLookuper(map[string]string{"PRINTFLEET_INTERNAL_SECRET": testenv.Secret})
	if err := config.LoadFrom(context.Background(), &cfg, env, defaults); err != nil {
		t.Fatal(err)
	}
	out, set := reflect.ValueOf(&cfg.Options).Elem(), reflect.ValueOf(o)
	for i := range set.NumField() {
		if !set.Field(i).IsZero() {
			out.Field(i).Set(set.Field(i))
		}
	}
	return cfg.Options
}

// newTestService builds the use case as Serve does, over the sandbox
// marketplaces at sandboxURL and the catalog on cc; edit changes its
// adapters before it is built.
func newTestService(t testing.TB, opt Options, sandboxURL string, cc grpc.ClientConnInterface, catalogTimeout time.Duration,
	receipts app.Receipts, pub events.Publisher, edit ...func(*app.Deps)) *app.Service {
	t.Helper()
	return newReplica(t, opt, replicas{}, sandboxURL, cc, catalogTimeout, receipts, pub, edit...)
}

// newReplica is newTestService for one of several replicas sharing rep (the
// catalog on cc keeps the tokens and the marks when rep.keeper is set).
func newReplica(t testing.TB, opt Options, rep replicas, sandboxURL string, cc grpc.ClientConnInterface, catalogTimeout time.Duration,
	receipts app.Receipts, pub events.Publisher, edit ...func(*app.Deps)) *app.Service {
	t.Helper()
	router, tokens, err := newMarketplaces(opt, mkt.Endpoints{ShopifyURL: sandboxURL + "/shopify", EtsyURL: sandboxURL + "/etsy",
		AmazonURL: sandboxURL + "/amazon"}, rep, testenv.Discard)
	if err != nil {
		t.Fatal(err)
	}
	stores := catalog.New(cc, catalogTimeout)
	d := app.Deps{Stores: stores, Marketplaces: router, Tokens: tokens, Receipts: receipts,
		Announcer: events.NewAnnouncer(pub), Log: testenv.Discard}
	if rep.locks != nil {
		d.Locks = rep.locks
	}
	if rep.keeper != nil {
		d.Reconnections = stores
	}
	for _, e := range edit {
		e(&d)
	}
	svc, err := app.New(opt.app(), d)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// ---------------------------------------------------------------- harness

// harness runs the worker against the real RabbitMQ and S3, the sandbox
// marketplaces over HTTP, and the fake catalog over gRPC.
type harness struct {
	t       *testing.T
	sb      *marketplace.Server
	catalog *testenv.Catalog
	s3      *testenv.S3
	amqpEnv *amqptest.Env
	conn    *amqp.Conn
	pub     *amqp.Publisher
	opt     Options
	svc     *app.Service
	queue   string
	stop    func() // stops the consumer and waits for it to return
	rep     replicas
	cc      *grpc.ClientConn
	url     string // the sandbox's

	mu     sync.Mutex
	events []*eventsv1.MarketplacePushed
	ids    []string
	notify chan struct{}
}

type harnessOptions struct {
	limits        marketplace.Limits
	options       Options
	deliveryLimit int
	retryMin      time.Duration
	retryMax      time.Duration
	// shared runs the worker as Serve does: budgets and locks in Redis
	// (a prefix of the test's own), tokens saved in the catalog.
	shared bool
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, notify: make(chan struct{}, 1)}
	h.s3 = testenv.NewS3(t)
	h.amqpEnv = amqptest.New(t)
	if o.deliveryLimit > 0 {
		h.amqpEnv.Config.DeliveryLimit = o.deliveryLimit
	}
	if o.retryMin > 0 {
		h.amqpEnv.Config.RetryMin, h.amqpEnv.Config.RetryMax = o.retryMin, o.retryMax
	}
	h.sb = marketplace.New(marketplace.Options{Limits: o.limits, Seed: 5})
	srv := httptest.NewServer(h.sb)
	t.Cleanup(srv.Close)
	h.catalog = testenv.NewCatalog()
	h.catalog.Marketplaces = h.sb
	cc, _ := testenv.StartCatalog(t, h.catalog, testenv.Secret)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, h.amqpEnv.Config, testenv.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h.conn = conn
	h.pub = amqp.NewPublisher(conn)
	t.Cleanup(func() { h.pub.Close() })

	// Observe MarketplacePushed as the orders worker would.
	obsCtx, obsCancel := context.WithCancel(context.Background())
	obsDone := make(chan struct{})
	obsQueue := h.amqpEnv.Queue("observer")
	if err := conn.DeclareQueue(ctx, obsQueue, eventsv1.KeyMarketplacePushed); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(obsDone)
		_ = amqp.Consume(obsCtx, conn, amqp.ConsumerConfig{Queue: obsQueue, RoutingKeys: []string{eventsv1.KeyMarketplacePushed},
			Handler: func(_ context.Context, d amqp.Delivery) error {
				var ev eventsv1.MarketplacePushed
				if err := proto.Unmarshal(d.Body, &ev); err != nil {
					return amqp.Permanent(err)
				}
				h.mu.Lock()
				h.events = append(h.events, &ev)
				h.ids = append(h.ids, d.ID)
				h.mu.Unlock()
				select {
				case h.notify <- struct{}{}:
				default:
				}
				return nil
			}})
	}()
	t.Cleanup(func() { obsCancel(); <-obsDone })

	opt := o.options
	if opt.RetryMaxAttempts == 0 {
		opt.RetryMaxAttempts, opt.RetryBaseDelay, opt.RetryMaxDelay = 4, 20*time.Millisecond, 200*time.Millisecond
	}
	if opt.PushTimeout == 0 {
		opt.PushTimeout = 30 * time.Second
	}
	opt.Queue = h.amqpEnv.Queue(eventsv1.QueueMarketplacePush)
	h.opt = testOptions(t, opt)
	h.queue = opt.Queue
	h.cc, h.url = cc, srv.URL
	if o.shared {
		rdb, prefix := testenv.Redis(t)
		h.rep = replicas{budget: shared.NewLimiter(rdb, prefix), locks: shared.NewLocks(rdb, prefix), keeper: catalog.New(cc, 5*time.Second)}
	}
	h.svc = newReplica(t, h.opt, h.rep, srv.URL, cc, 5*time.Second, blob.NewReceipts(h.s3.Client, h.s3.Bucket), h.pub)
	// The queue exists (and is bound) before anything is published.
	if err := conn.DeclareQueue(ctx, h.queue, eventsv1.KeyOrderShipped, eventsv1.KeyOrderStatusChanged); err != nil {
		t.Fatal(err)
	}
	h.start()
	return h
}

// start runs the consumer; h.stop cancels it and waits for it to return.
func (h *harness) start() { h.stop = h.run(h.conn, h.svc) }

// replica starts another worker process on the same queue, Redis and
// catalog: its own connection, token cache and rate budgets. It returns the
// replica's use case and its stop.
func (h *harness) replica(edit ...func(*app.Deps)) (*app.Service, func()) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, h.amqpEnv.Config, testenv.Discard)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	pub := amqp.NewPublisher(conn)
	h.t.Cleanup(func() { pub.Close() })
	svc := newReplica(h.t, h.opt, h.rep, h.url, h.cc, 5*time.Second, blob.NewReceipts(h.s3.Client, h.s3.Bucket), pub, edit...)
	return svc, h.run(conn, svc)
}

// run consumes the queue on conn with svc and returns a stop that cancels
// the consumer and waits for it to return.
func (h *harness) run(conn *amqp.Conn, svc *app.Service) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consume(ctx, conn, h.opt, svc, testenv.Discard) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("consume: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// publish sends ev as one OrderShipped with message id id (new when empty).
func (h *harness) publish(id string, m proto.Message, typ string) string {
	h.t.Helper()
	if id == "" {
		id = uuid.NewString()
	}
	b, err := proto.Marshal(m)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.pub.Publish(ctx, amqp.Message{ID: id, Type: typ, Body: b}); err != nil {
		h.t.Fatal(err)
	}
	return id
}

// waitEvents waits until pred holds for the events seen so far.
func (h *harness) waitEvents(timeout time.Duration, pred func([]*eventsv1.MarketplacePushed) bool) []*eventsv1.MarketplacePushed {
	h.t.Helper()
	deadline := time.After(timeout)
	for {
		h.mu.Lock()
		evs := append([]*eventsv1.MarketplacePushed(nil), h.events...)
		h.mu.Unlock()
		if pred(evs) {
			return evs
		}
		select {
		case <-h.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			h.t.Fatalf("timed out after %v with %d events", timeout, len(evs))
		}
	}
}

// eventFor waits for the first event about shipment id.
func (h *harness) eventFor(shipmentID string, timeout time.Duration) *eventsv1.MarketplacePushed {
	h.t.Helper()
	var found *eventsv1.MarketplacePushed
	h.waitEvents(timeout, func(evs []*eventsv1.MarketplacePushed) bool {
		for _, ev := range evs {
			if ev.GetShipmentId() == shipmentID {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

func (h *harness) depth(queue string) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := h.conn.QueueDepth(ctx, queue)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}
