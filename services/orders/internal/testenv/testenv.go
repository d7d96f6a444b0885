// Package testenv builds what the orders tests share: a migrated database
// per test, a Redis client with a unique key prefix, hand-written catalog
// and pricing fakes, and an OrderService served over real gRPC with signed
// principals. Only tests import it.
package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/log"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/redis/redistest"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/cache"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/grpcapi"
	pgstore "github.com/printfleet/printfleet/services/orders/internal/store/postgres"
)

// Secret is the internal secret the test servers and clients share.
const Secret = "orders-test-internal-secret-0123456789"

// Log is a quiet logger for tests.
func Log() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// DB returns a fresh migrated database and a store on it.
func DB(t testing.TB, opts ...postgres.Option) (*pgxpool.Pool, *pgstore.Store) {
	t.Helper()
	pool, _ := pgtest.NewDB(t, pgstore.Migrations, opts...)
	return pool, pgstore.New(pool, nil)
}

// RedisAddr is the test Redis.
func RedisAddr() string { return redistest.Addr() }

// Redis returns a client on the test Redis and a key prefix unique to t;
// keys under the prefix are deleted when t ends.
func Redis(t testing.TB) (goredis.UniversalClient, string) { return redistest.New(t) }

// Catalog is a hand-written app.Catalog.
type Catalog struct {
	mu       sync.Mutex
	Variants map[string]app.CatalogVariant
	Designs  map[string]app.CatalogDesign
	// Stores maps a store id to its owner.
	Stores map[string]string
	// Listings maps store id → a line's sku (or external variant, then
	// product id) → its listing.
	Listings map[string]map[string]app.Listing
	Calls    atomic.Int64
	// ResolveCalls counts ResolveListing calls; ResolveErr fails them.
	ResolveCalls atomic.Int64
	ResolveErr   error
	Err          error
}

var _ app.ListingResolver = (*Catalog)(nil)

// ResolveListing implements app.ListingResolver.
func (c *Catalog) ResolveListing(_ context.Context, storeID string, line app.ImportLine) (app.Listing, error) {
	c.ResolveCalls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ResolveErr != nil {
		return app.Listing{}, c.ResolveErr
	}
	for _, k := range []string{line.SKU, line.ExternalVariantID, line.ExternalProductID} {
		if l, ok := c.Listings[storeID][k]; ok && k != "" {
			return l, nil
		}
	}
	return app.Listing{}, errs.E(errs.NotFound, "listing not found")
}

// MapListing maps key (a sku, external variant or product id) of store to l.
func (c *Catalog) MapListing(storeID, key string, l app.Listing) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Listings == nil {
		c.Listings = map[string]map[string]app.Listing{}
	}
	if c.Listings[storeID] == nil {
		c.Listings[storeID] = map[string]app.Listing{}
	}
	c.Listings[storeID][key] = l
}

// SetDesignReady makes design id ready or not.
func (c *Catalog) SetDesignReady(id string, ready bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.Designs[id]
	d.Ready = ready
	c.Designs[id] = d
}

var _ app.Catalog = (*Catalog)(nil)

// GetVariants implements app.Catalog.
func (c *Catalog) GetVariants(_ context.Context, variantIDs, designIDs []string, storeID string) (app.CatalogLookup, error) {
	c.Calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Err != nil {
		return app.CatalogLookup{}, c.Err
	}
	out := app.CatalogLookup{Variants: map[string]app.CatalogVariant{}, Designs: map[string]app.CatalogDesign{}}
	for _, id := range variantIDs {
		if v, ok := c.Variants[id]; ok {
			out.Variants[id] = v
		}
	}
	for _, id := range designIDs {
		if d, ok := c.Designs[id]; ok {
			out.Designs[id] = d
		}
	}
	if owner, ok := c.Stores[storeID]; ok {
		out.Store = &app.CatalogStore{ID: storeID, OwnerID: owner}
	}
	return out, nil
}

// Pricing is a hand-written app.Pricing: every unit costs UnitPrice, an item
// with a placement adds Surcharge per unit, shipping is Shipping, coupon
// "TENOFF" takes 10% off the subtotal; currency XYZ is unsupported. The
// shipping method is "standard" unless "express" (ExpressShipping, when
// set) is asked; Tax is added to the total unless TaxIncluded.
type Pricing struct {
	UnitPrice, Surcharge, Shipping int64
	ExpressShipping, Tax           int64
	TaxIncluded                    bool
	Calls                          atomic.Int64
	Err                            error
	// Last is the last request asked.
	Last atomic.Pointer[app.QuoteRequest]
}

var _ app.Pricing = (*Pricing)(nil)

// CreateQuote implements app.Pricing.
func (p *Pricing) CreateQuote(_ context.Context, r app.QuoteRequest) (app.Quote, error) {
	p.Calls.Add(1)
	p.Last.Store(&r)
	if p.Err != nil {
		return app.Quote{}, p.Err
	}
	if r.Currency == "XYZ" {
		return app.Quote{}, errs.Field("currency", `unsupported currency "XYZ"`)
	}
	if r.CouponCode != "" && r.CouponCode != "TENOFF" {
		return app.Quote{}, errs.Field("coupon_code", "unknown coupon")
	}
	m := func(n int64) domain.Money { return domain.MustMoney(n, r.Currency) }
	q := app.Quote{ID: "q_" + uuid.NewString()[:8]}
	var sub int64
	for _, it := range r.Items {
		unit := p.UnitPrice
		if len(it.PlacementIDs) > 0 {
			unit += p.Surcharge
		}
		line := unit * int64(it.Quantity)
		sub += line
		q.Lines = append(q.Lines, app.QuoteLine{VariantID: it.VariantID, Quantity: it.Quantity, UnitPrice: m(unit), LineTotal: m(line)})
	}
	var disc int64
	if r.CouponCode == "TENOFF" {
		disc = sub / 10
	}
	ship, method := p.Shipping, "standard"
	q.DeliveryEstimate = domain.DeliveryEstimate{MinDays: 3, MaxDays: 5, EarliestDate: "2026-12-08", LatestDate: "2026-12-10"}
	if r.ShippingMethod == "express" && p.ExpressShipping > 0 {
		ship, method = p.ExpressShipping, "express"
		q.DeliveryEstimate = domain.DeliveryEstimate{MinDays: 1, MaxDays: 2, EarliestDate: "2026-12-04", LatestDate: "2026-12-07"}
	}
	total := sub + ship - disc
	if !p.TaxIncluded {
		total += p.Tax
	}
	q.Subtotal, q.Shipping, q.Discount, q.Total = m(sub), m(ship), m(disc), m(total)
	q.ShippingMethod, q.Tax, q.TaxIncluded = method, m(p.Tax), p.TaxIncluded
	return q, nil
}

// Fixture is a catalog with one product of two variants and a ready design
// per user.
type Fixture struct {
	Catalog                       *Catalog
	Pricing                       *Pricing
	ProductID, VariantA, VariantB string
	InactiveVariant               string
	PlacementFront, PlacementBack string
	// Designs maps a user to their ready design; LowResDesign is REJECT on
	// the back placement.
	Designs       map[string]string
	PendingDesign string
}

// NewFixture builds the catalog and pricing fakes for users.
func NewFixture(users ...string) *Fixture {
	f := &Fixture{
		ProductID: uuid.NewString(), VariantA: uuid.NewString(), VariantB: uuid.NewString(),
		InactiveVariant: uuid.NewString(), PlacementFront: uuid.NewString(), PlacementBack: uuid.NewString(),
		Designs: map[string]string{}, PendingDesign: uuid.NewString(),
		Pricing: &Pricing{UnitPrice: 1500, Surcharge: 300, Shipping: 499},
	}
	placements := []domain.PlacementSpec{
		{PlacementID: f.PlacementFront, Name: "front", WidthIn: 12, HeightIn: 16, MinDPI: 150, RecommendedDPI: 300, Technique: "dtg"},
		{PlacementID: f.PlacementBack, Name: "back", WidthIn: 12, HeightIn: 16, MinDPI: 150, RecommendedDPI: 300, Technique: "dtg"},
	}
	v := func(id, sku string, active bool) app.CatalogVariant {
		return app.CatalogVariant{ID: id, ProductID: f.ProductID, SKU: sku, Title: sku, ProductTitle: "Tee",
			Active: active, ProductActive: true, Placements: placements}
	}
	f.Catalog = &Catalog{
		Variants: map[string]app.CatalogVariant{
			f.VariantA: v(f.VariantA, "TEE-S", true), f.VariantB: v(f.VariantB, "TEE-M", true),
			f.InactiveVariant: v(f.InactiveVariant, "TEE-OLD", false),
		},
		Designs: map[string]app.CatalogDesign{},
	}
	for _, u := range users {
		id := uuid.NewString()
		f.Designs[u] = id
		f.Catalog.Designs[id] = app.CatalogDesign{ID: id, OwnerID: u, Ready: true, Key: "designs/" + id + "/master.png",
			RejectedPlacements: map[string]bool{f.PlacementBack: true}}
	}
	if len(users) > 0 {
		f.Catalog.Designs[f.PendingDesign] = app.CatalogDesign{ID: f.PendingDesign, OwnerID: users[0]}
	}
	return f
}

// StoreOf is user's marketplace store in the fake catalog.
func (f *Fixture) StoreOf(user string) string {
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte("store/"+user)).String()
	f.Catalog.mu.Lock()
	defer f.Catalog.mu.Unlock()
	if f.Catalog.Stores == nil {
		f.Catalog.Stores = map[string]string{}
	}
	f.Catalog.Stores[id] = user
	return id
}

// Request is a valid create request for user: two items, one with a design,
// from user's own marketplace store, with an external order id of its own.
func (f *Fixture) Request(user string) *ordersv1.CreateOrderRequest {
	return &ordersv1.CreateOrderRequest{
		Items: []*ordersv1.CreateOrderItem{
			{VariantId: f.VariantA, Quantity: 2, DesignId: f.Designs[user], PlacementId: f.PlacementFront},
			{VariantId: f.VariantB, Quantity: 1},
		},
		ShippingAddress: &typesv1.Address{Name: "Ada Lovelace", Line1: "12 St James's Square", City: "London",
			PostalCode: "SW1Y 4JH", CountryCode: "GB"},
		Currency: "USD", PaymentMethod: ordersv1.PaymentMethod_PAYMENT_METHOD_CARD,
		StoreId: f.StoreOf(user), ExternalOrderId: "shop-" + uuid.NewString()[:13],
	}
}

// Server is an OrderService on real gRPC.
type Server struct {
	Pool *pgxpool.Pool
	// Replica is the database on the streaming replica (Options.Replica).
	Replica *pgxpool.Pool
	Store   *pgstore.Store
	Svc     *app.Service
	Cache   *cache.Orders
	Client  ordersv1.OrderServiceClient
	Signer  *principal.Signer
	Addr    string
}

// Options adjust a Server.
type Options struct {
	// Redis, when set, backs the cache; otherwise there is none.
	Redis       goredis.UniversalClient
	RedisPrefix string
	DBOptions   []postgres.Option
	// Replica, when set, makes lists read the test database on the
	// streaming replica, with read-your-writes marks in Redis kept for
	// this long.
	Replica time.Duration
}

// Serve starts an OrderService for f on 127.0.0.1:0.
func Serve(t testing.TB, f *Fixture, o Options) *Server {
	t.Helper()
	var (
		pool    *pgxpool.Pool
		store   *pgstore.Store
		replica *pgxpool.Pool
		recent  app.RecentWrites
	)
	if o.Replica <= 0 {
		pool, store = DB(t, o.DBOptions...)
	} else {
		var url string
		pool, url = pgtest.NewDB(t, pgstore.Migrations, o.DBOptions...)
		r, err := pgxpool.New(context.Background(), pgtest.Replica(t, url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		replica = r
		store = pgstore.New(pool, func() *pgxpool.Pool { return r })
		recent = cache.NewRecentWrites(o.Redis, o.RedisPrefix, o.Replica, Log())
	}
	signer, err := principal.NewSigner(Secret)
	if err != nil {
		t.Fatal(err)
	}
	var c app.Cache = app.NoCache{}
	var oc *cache.Orders
	if o.Redis != nil {
		oc = cache.New(o.Redis, cache.Config{Prefix: o.RedisPrefix, Wire: grpcapi.MarshalOrder}, Log())
		c = oc
	}
	svc := app.NewService(app.Deps{Store: store, Cache: c, RecentWrites: recent, Catalog: f.Catalog, Pricing: f.Pricing,
		CheckAddress: grpcapi.CheckAddress, TokenKey: []byte("test-token-key-0123456789"), Log: Log()})
	srv, err := grpcserver.New(grpcserver.Options{Log: Log(), Signer: signer, Registerer: prometheus.NewRegistry(), Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ordersv1.RegisterOrderServiceServer(srv, grpcapi.New(svc))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeOn(ctx, ln) }()
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(grpcclient.ForwardPrincipal(signer)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close(); cancel(); <-done })
	return &Server{Pool: pool, Replica: replica, Store: store, Svc: svc, Cache: oc, Client: ordersv1.NewOrderServiceClient(cc), Signer: signer, Addr: ln.Addr().String()}
}

// As returns a context that calls as user with roles (and an
// Idempotency-Key when key is not empty); the client signs it for each call's
// method.
func (s *Server) As(user string, roles []string, key string) context.Context {
	ctx := log.WithRequestID(context.Background(), "req-"+uuid.NewString()[:8])
	ctx = principal.With(ctx, principal.Principal{Subject: user, Roles: roles})
	if key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, principal.MDIdempotencyKey, key)
	}
	return ctx
}

// User is a caller with the user role.
func (s *Server) User(user, key string) context.Context {
	return s.As(user, []string{principal.RoleUser}, key)
}

// Count returns the number of rows of table matching where.
func Count(t testing.TB, pool *pgxpool.Pool, table, where string, args ...any) int {
	t.Helper()
	var n int
	q := fmt.Sprintf(`SELECT count(*) FROM %s`, table)
	if strings.TrimSpace(where) != "" {
		q += " WHERE " + where
	}
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
