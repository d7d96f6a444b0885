package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/errs"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/amqpapi"
	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/catalog"
	mkt "github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/orders"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/shared"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

// importEnv is the import side as Serve wires it: the fake catalog and
// orders service over real gRPC, locks in the test Redis, the router of the
// real adapters; parse and polls stand in for the marketplaces' payloads
// until the adapters read them.
type importEnv struct {
	catalog *testenv.Catalog
	orders  *testenv.Orders
	opt     Options
	deps    app.ImportDeps
	router  mkt.Router
}

// jsonOrder parses a test webhook body: a domain.ExternalOrder as JSON.
func jsonOrder(b []byte) (domain.ExternalOrder, error) {
	var o domain.ExternalOrder
	if err := json.Unmarshal(b, &o); err != nil || o.ExternalID == "" {
		return o, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
			Op: "parse webhook", Message: "not an order"}
	}
	return o, nil
}

func newImportEnv(t *testing.T, o Options) *importEnv {
	t.Helper()
	e := &importEnv{catalog: testenv.NewCatalog(), orders: testenv.NewOrders()}
	cc, _ := testenv.StartCatalog(t, e.catalog, testenv.Secret)
	occ, _ := testenv.StartOrders(t, e.orders, testenv.Secret)
	e.opt = testOptions(t, o)
	rdb, prefix := testenv.Redis(t)
	locks := shared.NewLocks(rdb, prefix)
	router, _, err := newMarketplaces(e.opt, mkt.Endpoints{ShopifyURL: "http://127.0.0.1:1/shopify", EtsyURL: "http://127.0.0.1:1/etsy",
		AmazonURL: "http://127.0.0.1:1/amazon"}, replicas{}, testenv.Discard)
	if err != nil {
		t.Fatal(err)
	}
	router.Parsers[domain.Shopify] = jsonOrder
	e.router = router
	stores := catalog.New(cc, 5*time.Second)
	e.deps = app.ImportDeps{Stores: stores, Marketplaces: router, Orders: orders.New(occ, 5*time.Second), Locks: locks,
		Reconnections: stores, Log: testenv.Discard}
	return e
}

func (e *importEnv) importer(t *testing.T) *app.Importer {
	t.Helper()
	im, err := app.NewImporter(e.opt.imports(), e.deps)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func webhookOrder(id string, cancelled bool) []byte {
	o := domain.ExternalOrder{ExternalID: id, Ready: true, Cancelled: cancelled, Currency: "USD",
		Lines:   []domain.ExternalLine{{ItemID: "9" + id, ProductID: "p1", VariantID: "v1", SKU: "TEE-M", Quantity: 1}},
		Address: domain.ExternalAddress{Name: "Ada", Line1: "1 Main St", City: "Springfield", Region: "IL", PostalCode: "62701", CountryCode: "US"}}
	b, _ := json.Marshal(o)
	return b
}

// The import consumer on the real broker: five deliveries of one webhook at
// once make one order; app/uninstalled is acked; a body that is no order
// goes to the .dlq; a cancellation cancels the order; the consumer drains
// and returns when asked to stop.
func TestImportConsumer(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	e := newImportEnv(t, Options{ImportQueue: "x", ImportQueueConcurrency: 8})
	e.opt.ImportQueue = env.Queue(eventsv1.QueueMarketplaceImports)
	s := testenv.AddShopify(e.catalog)
	im := e.importer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, env.Config, testenv.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.DeclareQueue(ctx, e.opt.ImportQueue, amqpapi.ImportRoutingKeys...); err != nil {
		t.Fatal(err)
	}
	pub := amqp.NewPublisher(conn)
	t.Cleanup(func() { pub.Close() })
	publish := func(topic string, body []byte) {
		b, err := proto.Marshal(&eventsv1.MarketplaceWebhookReceived{StoreId: s.ID, Marketplace: "shopify", Topic: topic,
			WebhookId: uuid.NewString(), Body: body, ReceivedAt: timestamppb.Now()})
		if err != nil {
			t.Error(err)
			return
		}
		if err := pub.Publish(ctx, amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyMarketplaceWebhookReceived, Body: b}); err != nil {
			t.Error(err)
		}
	}

	cctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consumeImports(cctx, conn, e.opt, im, testenv.Discard) }()

	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { publish("orders/create", webhookOrder("5001", false)) })
	}
	wg.Go(func() { publish("app/uninstalled", []byte(`{"id":1}`)) })
	wg.Go(func() { publish("orders/updated", []byte(`{not json`)) })
	wg.Wait()

	dlq := amqp.DLQName(e.opt.ImportQueue)
	testenv.WaitFor(t, 15*time.Second, func() bool {
		n, _ := conn.QueueDepth(ctx, dlq)
		return len(e.orders.Requests()) == 5 && n == 1
	})
	if n := e.orders.Count(); n != 1 {
		t.Fatalf("%d orders from five deliveries of one webhook", n)
	}
	for _, r := range e.orders.Requests() {
		if r.GetOwnerId() != "u1" || r.GetStoreId() != s.ID || r.GetMarketplace() != "shopify" || r.GetExternalOrderId() != "5001" ||
			r.GetLines()[0].GetExternalItemId() != "95001" || r.GetPaymentMethod().String() != "PAYMENT_METHOD_CARD" {
			t.Fatalf("imported %v", r)
		}
	}

	before := testenv.Counter(t, "printfleet_marketplace_imports_total", "marketplace", "shopify", "source", "webhook", "outcome", "cancelled")
	publish("orders/cancelled", webhookOrder("5001", true))
	testenv.WaitFor(t, 15*time.Second, func() bool {
		return testenv.Counter(t, "printfleet_marketplace_imports_total", "marketplace", "shopify", "source", "webhook", "outcome", "cancelled") == before+1
	})
	testenv.WaitFor(t, 5*time.Second, func() bool {
		n, _ := conn.QueueDepth(ctx, e.opt.ImportQueue)
		return n == 0
	})

	// The orders service overloaded: the delivery comes back until it
	// answers.
	e.orders.Fail(errs.E(errs.ResourceExhausted, "busy"))
	publish("orders/create", webhookOrder("5002", false))
	testenv.WaitFor(t, 15*time.Second, func() bool { return e.orders.Count() == 2 })

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("consume: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the consumer did not return")
	}
}

// Two replicas polling the same stores at once never poll one store at the
// same time; every order is imported and every cursor saved.
func TestPollRoundsAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t, Options{ImportConcurrency: 3, ImportPollEvery: 20 * time.Millisecond})
	var sellers []testenv.Seller
	for range 6 {
		sellers = append(sellers, testenv.AddEtsy(e.catalog))
	}
	p := &stubPoller{orders: 3, delay: 40 * time.Millisecond}
	e.router.Pollers[domain.Etsy] = p
	e.deps.Marketplaces = e.router

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		im := e.importer(t)
		wg.Go(func() {
			if err := im.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	testenv.WaitFor(t, 20*time.Second, func() bool {
		for _, s := range sellers {
			if c, ok := e.catalog.Cursor(s.ID); !ok || c == "" {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()
	if p.overlap.Load() {
		t.Fatal("two replicas polled one store at the same time")
	}
	if n := e.orders.Count(); n != 6*3 {
		t.Fatalf("%d orders, want %d", n, 6*3)
	}
	for _, s := range sellers {
		st, _ := e.catalog.Saved(s.ID)
		if st.GetStore().GetLastImportAt() == nil {
			t.Fatalf("store %s has no last import time", s.ID)
		}
	}
}

// stubPoller serves every store the same orders, noting polls of one store
// that overlap.
type stubPoller struct {
	orders  int
	delay   time.Duration
	mu      sync.Mutex
	active  map[string]bool
	overlap atomic.Bool
}

func (p *stubPoller) PollOrders(ctx context.Context, st domain.Store, cursor string, _ time.Time) (domain.OrderPage, error) {
	p.mu.Lock()
	if p.active == nil {
		p.active = map[string]bool{}
	}
	if p.active[st.ID] {
		p.overlap.Store(true)
	}
	p.active[st.ID] = true
	p.mu.Unlock()
	defer func() { p.mu.Lock(); delete(p.active, st.ID); p.mu.Unlock() }()
	select {
	case <-time.After(p.delay):
	case <-ctx.Done():
		return domain.OrderPage{}, ctx.Err()
	}
	var page domain.OrderPage
	for i := range p.orders {
		var o domain.ExternalOrder
		_ = json.Unmarshal(webhookOrder(fmt.Sprintf("%s-%d", st.ID[:8], i), false), &o)
		page.Orders = append(page.Orders, o)
	}
	page.Cursor = "after-" + st.ID[:8]
	return page, nil
}
