// Package testenv builds what the marketplace worker's tests share: a fake
// catalog served over real gRPC, a bucket per test on the local S3, receipts
// and a publisher in memory, sellers connected with fresh secrets, and the
// OrderShipped events to push for them. Only tests import it.
package testenv

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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/redis/redistest"
	"github.com/printfleet/printfleet/platform/s3/s3test"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// Discard is a logger that drops everything.
var Discard = slog.New(slog.DiscardHandler)

// Secret is the internal secret the fake catalog and its clients share.
const Secret = "test-internal-secret-0123456789"

// RandHex is n random bytes in hex.
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ---------------------------------------------------------------- catalog

// Catalog serves GetStoreCredentials from a map, behind the real
// grpcserver chain (principal check, validation, error mapping).
type Catalog struct {
	catalogv1.UnimplementedCatalogServiceServer
	// Marketplaces, when set, is the sandbox that issues the shops AddEtsy
	// connects and the receipts Shipped ships (the Etsy stand-in accepts
	// only what it issued).
	Marketplaces *marketplace.Server
	mu           sync.Mutex
	stores       map[string]*catalogv1.GetStoreCredentialsResponse
	calls        map[string]int
	saves        map[string]int
	cursors      map[string]string
	order        []string // store ids in the order they were added
}

// NewCatalog returns a catalog without stores.
func NewCatalog() *Catalog {
	return &Catalog{stores: map[string]*catalogv1.GetStoreCredentialsResponse{}, calls: map[string]int{}, saves: map[string]int{},
		cursors: map[string]string{}}
}

// ListImportStores pages through the stores not needing reconnection, in
// the order they were added; the page token is the offset.
func (f *Catalog) ListImportStores(ctx context.Context, r *catalogv1.ListImportStoresRequest) (*catalogv1.ListImportStoresResponse, error) {
	if err := worker(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	size := int(r.GetPageSize())
	if size <= 0 {
		size = 50
	}
	off := 0
	if r.GetPageToken() != "" {
		if _, err := fmt.Sscan(r.GetPageToken(), &off); err != nil {
			return nil, errs.E(errs.Invalid, "bad page token")
		}
	}
	var all []*catalogv1.ImportStore
	for _, id := range f.order {
		st := f.stores[id]
		if st.GetStore().GetNeedsReconnection() {
			continue
		}
		all = append(all, &catalogv1.ImportStore{Store: proto.Clone(st.GetStore()).(*catalogv1.Store), Cursor: f.cursors[id]})
	}
	out := &catalogv1.ListImportStoresResponse{}
	if off < len(all) {
		end := min(off+size, len(all))
		out.Stores = all[off:end]
		if end < len(all) {
			out.NextPageToken = fmt.Sprint(end)
		}
	}
	return out, nil
}

// SaveImportCursor records the store's cursor and when it was saved.
func (f *Catalog) SaveImportCursor(ctx context.Context, r *catalogv1.SaveImportCursorRequest) (*catalogv1.Store, error) {
	if err := worker(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.stores[r.GetStoreId()]
	if !ok {
		return nil, errs.E(errs.NotFound, "store %s not found", r.GetStoreId())
	}
	f.cursors[r.GetStoreId()] = r.GetCursor()
	st.Store.LastImportAt = timestamppb.Now()
	return proto.Clone(st.Store).(*catalogv1.Store), nil
}

// Cursor returns the store's saved import cursor and whether one was saved.
func (f *Catalog) Cursor(storeID string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cursors[storeID]
	return c, ok
}

// Edit changes the store as the catalog holds it.
func (f *Catalog) Edit(storeID string, edit func(*catalogv1.Store)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	edit(f.stores[storeID].Store)
}

// worker admits the marketplace worker's principal only, as the catalog
// does.
func worker(ctx context.Context) error {
	if p := principal.From(ctx); !p.Has(principal.RoleService) || p.Subject != principal.SubjectMarketplaceWorker {
		return errs.E(errs.PermissionDenied, "the marketplace worker only")
	}
	return nil
}

// GetStoreCredentials answers the marketplace worker with the store's
// credentials.
func (f *Catalog) GetStoreCredentials(ctx context.Context, r *catalogv1.GetStoreCredentialsRequest) (*catalogv1.GetStoreCredentialsResponse, error) {
	if err := worker(ctx); err != nil {
		return nil, err
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

// SaveStoreTokens replaces the store's tokens (an empty refresh token keeps
// the current one) and clears its reconnection flag.
func (f *Catalog) SaveStoreTokens(ctx context.Context, r *catalogv1.SaveStoreTokensRequest) (*catalogv1.Store, error) {
	if err := worker(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.stores[r.GetStoreId()]
	if !ok {
		return nil, errs.E(errs.NotFound, "store %s not found", r.GetStoreId())
	}
	f.saves[r.GetStoreId()]++
	st.Credentials.AccessToken = r.GetAccessToken()
	if r.GetRefreshToken() != "" {
		st.Credentials.RefreshToken = r.GetRefreshToken()
	}
	st.Store.NeedsReconnection, st.Store.ReconnectionReason = false, ""
	return proto.Clone(st.Store).(*catalogv1.Store), nil
}

// MarkStoreNeedsReconnection flags the store.
func (f *Catalog) MarkStoreNeedsReconnection(ctx context.Context, r *catalogv1.MarkStoreNeedsReconnectionRequest) (*catalogv1.Store, error) {
	if err := worker(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.stores[r.GetStoreId()]
	if !ok {
		return nil, errs.E(errs.NotFound, "store %s not found", r.GetStoreId())
	}
	st.Store.NeedsReconnection, st.Store.ReconnectionReason = true, r.GetReason()
	return proto.Clone(st.Store).(*catalogv1.Store), nil
}

// Saved returns the store as the catalog holds it now, and how many times
// tokens were saved for it.
func (f *Catalog) Saved(storeID string) (*catalogv1.GetStoreCredentialsResponse, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return proto.Clone(f.stores[storeID]).(*catalogv1.GetStoreCredentialsResponse), f.saves[storeID]
}

// Add connects a store of user u1 and returns its id.
func (f *Catalog) Add(m catalogv1.Marketplace, shopID string, c *catalogv1.StoreCredentials) string {
	id := uuid.NewString()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stores[id] = &catalogv1.GetStoreCredentialsResponse{
		Store: &catalogv1.Store{Id: id, OwnerId: "u1", Marketplace: m, ShopId: shopID, Name: "test store", PaymentMethod: "card",
			CreatedAt: timestamppb.Now()},
		Credentials: c,
	}
	f.order = append(f.order, id)
	return id
}

// Lookups counts the GetStoreCredentials calls for storeID.
func (f *Catalog) Lookups(storeID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[storeID]
}

// StartCatalog serves f on a loopback port and returns a client connection
// signing with secret.
func StartCatalog(t testing.TB, f *Catalog, secret string) (*grpc.ClientConn, func()) {
	t.Helper()
	return serveGRPC(t, secret, func(srv *grpcserver.Server) { catalogv1.RegisterCatalogServiceServer(srv, f) })
}

// serveGRPC serves what register registers on a loopback port behind the
// real server chain and returns a client connection signing with secret.
func serveGRPC(t testing.TB, secret string, register func(*grpcserver.Server)) (*grpc.ClientConn, func()) {
	t.Helper()
	signer, err := principal.NewSigner(Secret)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := grpcserver.New(grpcserver.Options{Log: Discard, Signer: signer, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	register(srv)
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

// ---------------------------------------------------------------- orders

// Orders serves ImportOrder with one order per (store, external order id),
// behind the real grpcserver chain; it keeps every request.
type Orders struct {
	ordersv1.UnimplementedOrderServiceServer
	mu       sync.Mutex
	requests []*ordersv1.ImportOrderRequest
	orders   map[string]bool // store/external id -> not cancelled
	fail     []error         // answers of the next calls
}

// NewOrders returns an orders service without orders.
func NewOrders() *Orders { return &Orders{orders: map[string]bool{}} }

// ImportOrder admits the marketplace worker only, and answers as the orders
// service does: IMPORTED, then DUPLICATE; a cancellation CANCELLED (IGNORED
// without an order).
func (f *Orders) ImportOrder(ctx context.Context, r *ordersv1.ImportOrderRequest) (*ordersv1.ImportOrderResponse, error) {
	if p := principal.From(ctx); !p.Has(principal.RoleService) || p.Subject != principal.SubjectMarketplaceWorker {
		return nil, errs.E(errs.PermissionDenied, "the marketplace worker only")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, proto.Clone(r).(*ordersv1.ImportOrderRequest))
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return nil, err
	}
	key := r.GetStoreId() + "/" + r.GetExternalOrderId()
	live, exists := f.orders[key]
	out := &ordersv1.ImportOrderResponse{Order: &ordersv1.Order{Id: uuid.NewSHA1(uuid.NameSpaceURL, []byte(key)).String()}}
	switch {
	case r.GetCancelled() && exists && live:
		f.orders[key] = false
		out.Outcome = ordersv1.ImportOutcome_IMPORT_OUTCOME_CANCELLED
	case r.GetCancelled() && !exists:
		out.Outcome = ordersv1.ImportOutcome_IMPORT_OUTCOME_IGNORED
	case exists:
		out.Outcome = ordersv1.ImportOutcome_IMPORT_OUTCOME_DUPLICATE
	default:
		f.orders[key] = true
		out.Outcome = ordersv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED
	}
	return out, nil
}

// Fail makes the next calls fail with errs, in order.
func (f *Orders) Fail(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, errs...)
}

// Requests returns the ImportOrder requests so far.
func (f *Orders) Requests() []*ordersv1.ImportOrderRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Count is how many distinct orders exist.
func (f *Orders) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.orders)
}

// StartOrders serves f on a loopback port and returns a client connection
// signing with secret.
func StartOrders(t testing.TB, f *Orders, secret string) (*grpc.ClientConn, func()) {
	t.Helper()
	return serveGRPC(t, secret, func(srv *grpcserver.Server) { ordersv1.RegisterOrderServiceServer(srv, f) })
}

// ---------------------------------------------------------------- Redis

// Redis returns a client on the test Redis (PRINTFLEET_TEST_REDIS_ADDR,
// default 127.0.0.1:6379) and a key prefix unique to t; keys under the
// prefix are deleted when t ends.
func Redis(t testing.TB) (goredis.UniversalClient, string) { return redistest.New(t) }

// ---------------------------------------------------------------- S3

// S3 is a bucket of its own on the local S3.
type S3 struct {
	Client *minio.Client
	Bucket string
}

// NewS3 makes a bucket for t (dropped when t ends).
func NewS3(t testing.TB) *S3 {
	t.Helper()
	c, names := s3test.Buckets(t, "receipts")
	return &S3{Client: c, Bucket: names[0]}
}

// Get returns the object's bytes, or nil when there is none.
func (e *S3) Get(t testing.TB, key string) []byte {
	t.Helper()
	o, err := e.Client.GetObject(context.Background(), e.Bucket, key, minio.GetObjectOptions{})
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

// Receipt reads and decodes the receipt at key; it fails t if there is none.
func (e *S3) Receipt(t testing.TB, key string) (domain.Receipt, []byte) {
	t.Helper()
	b := e.Get(t, key)
	if b == nil {
		t.Fatalf("no receipt at %s", key)
	}
	var r domain.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("receipt %s: %v", key, err)
	}
	return r, b
}

// ---------------------------------------------------------------- fakes

// Receipts keeps receipts in memory; PutReceipt fails with Err when it is set.
type Receipts struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
	err  error
}

// PutReceipt implements app.Receipts.
func (r *Receipts) PutReceipt(_ context.Context, key string, body []byte) error {
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

// Fail makes every PutReceipt fail with err (nil heals).
func (r *Receipts) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Get returns the receipt at key, nil when there is none.
func (r *Receipts) Get(key string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

// Puts counts the receipts written.
func (r *Receipts) Puts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.puts
}

// Keys counts the distinct keys written.
func (r *Receipts) Keys() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// Publisher records published messages; Publish fails while Fail has set an
// error.
type Publisher struct {
	mu   sync.Mutex
	msgs []amqp.Message
	err  error
}

// Publish implements events.Publisher.
func (p *Publisher) Publish(_ context.Context, msgs ...amqp.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

// Fail makes every Publish fail with err (nil heals).
func (p *Publisher) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// All returns the messages published so far.
func (p *Publisher) All() []amqp.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]amqp.Message(nil), p.msgs...)
}

// Pushed decodes a published MarketplacePushed; it fails t for any other
// message.
func Pushed(t testing.TB, m amqp.Message) *eventsv1.MarketplacePushed {
	t.Helper()
	if m.Type != eventsv1.KeyMarketplacePushed {
		t.Fatalf("published %s", m.Type)
	}
	var ev eventsv1.MarketplacePushed
	if err := proto.Unmarshal(m.Body, &ev); err != nil {
		t.Fatal(err)
	}
	return &ev
}

// ---------------------------------------------------------------- fixtures

// Seller is a store connected in the fake catalog with the secrets it was
// given, so tests can scan receipts for them.
type Seller struct {
	ID      string
	Market  marketplace.Name
	Secrets []string
	// RefreshedPrefix matches tokens the sandbox issues to this seller on
	// refresh.
	RefreshedPrefix string
	// ShopID and sb: an Etsy seller's shop in the sandbox that issued it,
	// where Shipped places a receipt to ship.
	ShopID string
	sb     *marketplace.Server
}

// sandbox is the marketplace stand-in that issues the catalog's shops: its
// Marketplaces, or a sandbox of its own for tests that never call one.
func (f *Catalog) sandbox() *marketplace.Server {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Marketplaces == nil {
		f.Marketplaces = marketplace.New(marketplace.Options{})
	}
	return f.Marketplaces
}

// AddShopify connects a Shopify shop the catalog's sandbox issues, with the
// expiring admin token, refresh token and app credentials it issued (the
// Shopify stand-in accepts only those).
func AddShopify(f *Catalog) Seller {
	sb := f.sandbox()
	shop, err := sb.IssueShopifyShop("acme-" + RandHex(3))
	if err != nil {
		panic(err)
	}
	c := shop.Store.Credentials
	id := f.Add(catalogv1.Marketplace_MARKETPLACE_SHOPIFY, shop.ShopID, &catalogv1.StoreCredentials{AccessToken: c.AccessToken,
		RefreshToken: c.RefreshToken, ClientId: c.ClientID, ClientSecret: c.ClientSecret})
	return Seller{ID: id, Market: marketplace.Shopify, Secrets: []string{c.AccessToken, c.RefreshToken, c.ClientSecret}, ShopID: shop.ShopID}
}

// AddEtsy connects an Etsy shop the catalog's sandbox issues, with the API
// key and tokens it issued.
func AddEtsy(f *Catalog) Seller {
	sb := f.sandbox()
	shop, err := sb.EtsyShop("")
	if err != nil {
		panic(err)
	}
	c := shop.Store.Credentials
	id := f.Add(catalogv1.Marketplace_MARKETPLACE_ETSY, shop.ShopID, &catalogv1.StoreCredentials{
		ApiKey: c.APIKey, AccessToken: c.AccessToken, RefreshToken: c.RefreshToken})
	_, shared, _ := strings.Cut(c.APIKey, ":")
	user, _, _ := strings.Cut(c.AccessToken, ".")
	return Seller{ID: id, Market: marketplace.Etsy, Secrets: []string{c.APIKey, shared, c.AccessToken, c.RefreshToken},
		RefreshedPrefix: user + ".", ShopID: shop.ShopID, sb: sb}
}

// AddAmazon connects an Amazon seller with fresh LWA credentials.
func AddAmazon(f *Catalog) Seller {
	acct := "seller" + RandHex(3)
	access, refresh, secret := "Atza|"+acct+"."+RandHex(12), "Atzr|"+acct+"."+RandHex(12), "amzn-secret-"+RandHex(8)
	id := f.Add(catalogv1.Marketplace_MARKETPLACE_AMAZON, "ATVPDKIKX0DER", &catalogv1.StoreCredentials{
		AccessToken: access, RefreshToken: refresh, ClientId: "amzn1.application-oa2-client." + RandHex(4), ClientSecret: secret})
	return Seller{ID: id, Market: marketplace.Amazon, Secrets: []string{access, refresh, secret}, RefreshedPrefix: "Atza|" + acct + "."}
}

// Sellers are the three marketplaces' fixtures, by name.
var Sellers = []struct {
	Name string
	Add  func(*Catalog) Seller
}{{"shopify", AddShopify}, {"etsy", AddEtsy}, {"amazon", AddAmazon}}

// Shipped builds an OrderShipped for seller s; n makes the order, shipment,
// marketplace order and tracking number unique within a test.
func Shipped(s Seller, n int) *eventsv1.OrderShipped {
	ev := &eventsv1.OrderShipped{
		OrderId: uuid.NewString(), UserId: "u1", ShipmentId: uuid.NewString(), StoreId: s.ID,
		ShippedAt: timestamppb.New(time.Now().Add(-time.Hour)),
		Items: []*eventsv1.OrderPlacedItem{{ItemId: fmt.Sprintf("%014d", 40000000000000+n), VariantId: uuid.NewString(),
			Quantity: 2, Sku: "TEE-M"}},
	}
	switch s.Market {
	case marketplace.Shopify:
		ev.ExternalOrderId, ev.Carrier = fmt.Sprint(5000+n), "UPS"
		ev.TrackingNumber, ev.TrackingUrl = fmt.Sprintf("1Z999AA1012345%04d", n), "https://www.ups.com/track?tracknum=1Z"
	case marketplace.Etsy:
		ev.ExternalOrderId, ev.Carrier, ev.TrackingNumber = fmt.Sprint(3_000_000+n), "USPS", fmt.Sprintf("94001118992230%04d", n)
		if s.sb != nil {
			placed, err := s.sb.EtsyOrder(s.ShopID, marketplace.EtsyOrderRequest{Lines: []marketplace.EtsyOrderLine{
				{SKU: "TEE-M", Quantity: 2}}})
			if err != nil {
				panic(err)
			}
			ev.ExternalOrderId, ev.Items[0].ExternalItemId = placed.OrderID, placed.ItemIDs[0]
		}
	case marketplace.Amazon:
		ev.ExternalOrderId, ev.Carrier, ev.TrackingNumber = fmt.Sprintf("902-3159896-%07d", n), "FedEx", fmt.Sprintf("7712345678%04d", n)
	}
	return ev
}

// MarketOrder is how the sandbox names the event's marketplace order.
func MarketOrder(s Seller, ev *eventsv1.OrderShipped) string {
	if s.Market == marketplace.Shopify {
		return "gid://shopify/Order/" + ev.GetExternalOrderId()
	}
	return ev.GetExternalOrderId()
}

// Delivery is m as a first delivery of type typ with a new message id.
func Delivery(t testing.TB, typ string, m proto.Message) amqp.Delivery {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return amqp.Delivery{ID: uuid.NewString(), Type: typ, Body: b, Attempt: 1}
}

// AssertNoSecrets fails if b holds any of s's secrets or a token the
// sandbox issued to s on refresh.
func AssertNoSecrets(t testing.TB, what string, b []byte, s Seller) {
	t.Helper()
	for _, secret := range s.Secrets {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s carries the secret %q", what, secret)
		}
		if js, _ := json.Marshal(secret); strings.Contains(string(b), string(js[1:len(js)-1])) {
			t.Errorf("%s carries the secret %q (JSON-escaped)", what, secret)
		}
	}
	if s.RefreshedPrefix != "" {
		for _, p := range []string{s.RefreshedPrefix, strings.ReplaceAll(s.RefreshedPrefix, "|", `\u007c`)} {
			if i := strings.Index(string(b), p); i >= 0 {
				t.Errorf("%s carries a refreshed token: %.40s…", what, string(b[i:]))
			}
		}
	}
}

// ErrBoom is a failure injected by tests.
var ErrBoom = errors.New("boom")

// WaitFor polls cond until it holds; it fails t after timeout.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Counter is the value of the counter name{labels} in the default registry
// (0 before it was first incremented); labels are name, value pairs.
func Counter(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m.GetLabel(), labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func matches(have []*dto.LabelPair, want []string) bool {
	if len(have)*2 != len(want) {
		return false
	}
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range have {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
