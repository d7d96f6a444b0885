package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/s3/s3test"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"
)

var discard = slog.New(slog.DiscardHandler)

const internalSecret = "test-internal-secret-0123456789"

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ---------------------------------------------------------------- catalog

// fakeCatalog serves GetStoreCredentials from a map, behind the real
// grpcserver chain (principal check, validation, error mapping).
type fakeCatalog struct {
	catalogv1.UnimplementedCatalogServiceServer
	mu     sync.Mutex
	stores map[string]*catalogv1.GetStoreCredentialsResponse
	calls  map[string]int
}

func (f *fakeCatalog) GetStoreCredentials(ctx context.Context, r *catalogv1.GetStoreCredentialsRequest) (*catalogv1.GetStoreCredentialsResponse, error) {
	if !principal.From(ctx).Has(principal.RoleService) {
		return nil, errs.E(errs.PermissionDenied, "service role required")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[r.GetStoreId()]++
	st, ok := f.stores[r.GetStoreId()]
	if !ok {
		return nil, errs.E(errs.NotFound, "store %s not found", r.GetStoreId())
	}
	return proto.Clone(st).(*catalogv1.GetStoreCredentialsResponse), nil
}

func (f *fakeCatalog) add(m catalogv1.Marketplace, shopID string, c *catalogv1.StoreCredentials) string {
	id := uuid.NewString()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stores[id] = &catalogv1.GetStoreCredentialsResponse{
		Store:       &catalogv1.Store{Id: id, OwnerId: "u1", Marketplace: m, ShopId: shopID, Name: "test store"},
		Credentials: c,
	}
	return id
}

func (f *fakeCatalog) lookups(storeID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[storeID]
}

// startCatalog serves f on a loopback port and returns a client connection
// signing with secret.
func startCatalog(t testing.TB, f *fakeCatalog, secret string) (*grpc.ClientConn, func()) {
	t.Helper()
	signer, err := principal.NewSigner(internalSecret)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcserver.New(grpcserver.Options{Log: discard, Signer: signer, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	catalogv1.RegisterCatalogServiceServer(srv, f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.ServeOn(ctx, ln); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	clientSigner, err := principal.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpcclient.Dial(ln.Addr().String(), grpcclient.Options{Signer: clientSigner, DefaultTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc, stop
}

// ---------------------------------------------------------------- S3

type s3Env struct {
	client *minio.Client
	bucket string
}

func newS3Env(t testing.TB) *s3Env {
	t.Helper()
	c, names := s3test.Buckets(t, "receipts")
	return &s3Env{client: c, bucket: names[0]}
}

// get returns the object's bytes, or nil when there is none.
func (e *s3Env) get(t testing.TB, key string) []byte {
	t.Helper()
	o, err := e.client.GetObject(context.Background(), e.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return nil
	}
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return b
}

func (e *s3Env) receipt(t testing.TB, key string) (Receipt, []byte) {
	t.Helper()
	b := e.get(t, key)
	if b == nil {
		t.Fatalf("no receipt at %s", key)
	}
	var r Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("receipt %s: %v", key, err)
	}
	return r, b
}

// ---------------------------------------------------------------- fakes

// memReceipts keeps receipts in memory.
type memReceipts struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
	err  error
}

func (r *memReceipts) PutReceipt(_ context.Context, key string, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if r.m == nil {
		r.m = map[string][]byte{}
	}
	r.puts++
	r.m[key] = append([]byte(nil), body...)
	return nil
}

func (r *memReceipts) get(key string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

// memPub records published messages.
type memPub struct {
	mu   sync.Mutex
	msgs []amqp.Message
	err  error
}

func (p *memPub) Publish(_ context.Context, msgs ...amqp.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *memPub) all() []amqp.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]amqp.Message(nil), p.msgs...)
}

func pushed(t testing.TB, m amqp.Message) *eventsv1.MarketplacePushed {
	t.Helper()
	if m.Type != TypeMarketplacePushed {
		t.Fatalf("published %s", m.Type)
	}
	var ev eventsv1.MarketplacePushed
	if err := proto.Unmarshal(m.Body, &ev); err != nil {
		t.Fatal(err)
	}
	return &ev
}

// ---------------------------------------------------------------- fixtures

// seller is a store connected in the fake catalog with the secrets it was
// given, so tests can scan receipts for them.
type seller struct {
	id      string
	m       marketplace.Name
	secrets []string
	// refreshed matches tokens the sandbox issues to this seller on refresh.
	refreshedPrefix string
}

func addShopify(f *fakeCatalog) seller {
	tok := "shpat_" + randHex(16)
	shop := "acme-" + randHex(3)
	id := f.add(catalogv1.Marketplace_MARKETPLACE_SHOPIFY, shop, &catalogv1.StoreCredentials{AccessToken: tok})
	return seller{id: id, m: marketplace.Shopify, secrets: []string{tok}}
}

func addEtsy(f *fakeCatalog) seller {
	acct := "etsyacct" + randHex(4)
	key, shared := "keystring"+randHex(6), "sharedsecret"+randHex(6)
	access, refresh := acct+"."+randHex(12), acct+".r"+randHex(12)
	id := f.add(catalogv1.Marketplace_MARKETPLACE_ETSY, "555", &catalogv1.StoreCredentials{
		ApiKey: key + ":" + shared, AccessToken: access, RefreshToken: refresh})
	return seller{id: id, m: marketplace.Etsy, secrets: []string{key + ":" + shared, shared, access, refresh}, refreshedPrefix: acct + "."}
}

func addAmazon(f *fakeCatalog) seller {
	acct := "seller" + randHex(3)
	access, refresh, secret := "Atza|"+acct+"."+randHex(12), "Atzr|"+acct+"."+randHex(12), "amzn-secret-"+randHex(8)
	id := f.add(catalogv1.Marketplace_MARKETPLACE_AMAZON, "ATVPDKIKX0DER", &catalogv1.StoreCredentials{
		AccessToken: access, RefreshToken: refresh, ClientId: "amzn1.application-oa2-client." + randHex(4), ClientSecret: secret})
	return seller{id: id, m: marketplace.Amazon, secrets: []string{access, refresh, secret}, refreshedPrefix: "Atza|" + acct + "."}
}

// shipped builds an OrderShipped for seller s; n makes the order, shipment,
// marketplace order and tracking number unique within a test.
func shipped(s seller, n int) *eventsv1.OrderShipped {
	ev := &eventsv1.OrderShipped{
		OrderId: uuid.NewString(), UserId: "u1", ShipmentId: uuid.NewString(), StoreId: s.id,
		ShippedAt: timestamppb.New(time.Now().Add(-time.Hour)),
		Items: []*eventsv1.OrderPlacedItem{{ItemId: fmt.Sprintf("%014d", 40000000000000+n), VariantId: uuid.NewString(),
			Quantity: 2, Sku: "TEE-M"}},
	}
	switch s.m {
	case marketplace.Shopify:
		ev.ExternalOrderId, ev.Carrier = fmt.Sprint(5000+n), "UPS"
		ev.TrackingNumber, ev.TrackingUrl = fmt.Sprintf("1Z999AA1012345%04d", n), "https://www.ups.com/track?tracknum=1Z"
	case marketplace.Etsy:
		ev.ExternalOrderId, ev.Carrier, ev.TrackingNumber = fmt.Sprint(3_000_000+n), "USPS", fmt.Sprintf("94001118992230%04d", n)
	case marketplace.Amazon:
		ev.ExternalOrderId, ev.Carrier, ev.TrackingNumber = fmt.Sprintf("902-3159896-%07d", n), "FedEx", fmt.Sprintf("7712345678%04d", n)
	}
	return ev
}

// marketOrder is how the sandbox names the event's marketplace order.
func marketOrder(s seller, ev *eventsv1.OrderShipped) string {
	if s.m == marketplace.Shopify {
		return "gid://shopify/Order/" + ev.GetExternalOrderId()
	}
	return ev.GetExternalOrderId()
}

func delivery(t testing.TB, typ string, m proto.Message) amqp.Delivery {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return amqp.Delivery{ID: uuid.NewString(), Type: typ, Body: b, Attempt: 1}
}

// assertNoSecrets fails if b holds any of s's secrets or a token the
// sandbox issued to s on refresh.
func assertNoSecrets(t testing.TB, what string, b []byte, s seller) {
	t.Helper()
	for _, secret := range s.secrets {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s carries the secret %q", what, secret)
		}
		if js, _ := json.Marshal(secret); strings.Contains(string(b), string(js[1:len(js)-1])) {
			t.Errorf("%s carries the secret %q (JSON-escaped)", what, secret)
		}
	}
	if s.refreshedPrefix != "" {
		for _, p := range []string{s.refreshedPrefix, strings.ReplaceAll(s.refreshedPrefix, "|", `\u007c`)} {
			if i := strings.Index(string(b), p); i >= 0 {
				t.Errorf("%s carries a refreshed token: %.40s…", what, string(b[i:]))
			}
		}
	}
}

// ---------------------------------------------------------------- harness

// harness runs the worker against the real RabbitMQ and S3, the sandbox
// marketplaces over HTTP, and the fake catalog over gRPC.
type harness struct {
	t       *testing.T
	sb      *marketplace.Server
	catalog *fakeCatalog
	s3      *s3Env
	amqpEnv *amqptest.Env
	conn    *amqp.Conn
	pub     *amqp.Publisher
	w       *Worker
	queue   string
	stop    func() // stops the worker and waits for Run to return

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
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, notify: make(chan struct{}, 1)}
	h.s3 = newS3Env(t)
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
	h.catalog = &fakeCatalog{stores: map[string]*catalogv1.GetStoreCredentialsResponse{}, calls: map[string]int{}}
	cc, _ := startCatalog(t, h.catalog, internalSecret)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, h.amqpEnv.Config, discard)
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
	if err := conn.DeclareQueue(ctx, obsQueue, TypeMarketplacePushed); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(obsDone)
		_ = amqp.Consume(obsCtx, conn, amqp.ConsumerConfig{Queue: obsQueue, RoutingKeys: []string{TypeMarketplacePushed},
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
	opt.Queue = h.amqpEnv.Queue("marketplace.push")
	opt.ReceiptsBucket = h.s3.bucket
	h.queue = opt.Queue
	router, tokens := NewRouter(opt, discard)
	h.w, err = New(opt, Endpoints{ShopifyURL: srv.URL + "/shopify", EtsyURL: srv.URL + "/etsy", AmazonURL: srv.URL + "/amazon"},
		Deps{Stores: NewCatalog(cc, 5*time.Second), Pusher: router, Receipts: NewS3Receipts(h.s3.client, h.s3.bucket),
			Publisher: h.pub, Tokens: tokens, Log: discard})
	if err != nil {
		t.Fatal(err)
	}
	// The queue exists (and is bound) before anything is published.
	if err := conn.DeclareQueue(ctx, h.queue, TypeOrderShipped, TypeOrderStatusChanged); err != nil {
		t.Fatal(err)
	}
	h.start()
	return h
}

// start runs the worker; h.stop cancels it and waits for Run to return.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx, h.conn) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
		})
	}
	h.t.Cleanup(h.stop)
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

var errBoom = errors.New("boom")
