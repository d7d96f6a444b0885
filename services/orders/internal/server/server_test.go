package server_test

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/platform/run/runtest"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/sandbox/payment"
	"github.com/printfleet/printfleet/services/orders/internal/server"
	pgstore "github.com/printfleet/printfleet/services/orders/internal/store/postgres"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// fakeCatalog serves GetVariants over real gRPC, so the client adapter's
// conversions are exercised too.
type fakeCatalog struct {
	catalogv1.UnimplementedCatalogServiceServer
	variant, product, placement, design, owner string
	seen                                       chan principal.Principal
	// resolved receives the caller of each ResolveListing.
	resolved chan principal.Principal
}

// ResolveListing maps sku "MUG-11" of any store to the variant; anything
// else is unmapped.
func (c *fakeCatalog) ResolveListing(ctx context.Context, req *catalogv1.ResolveListingRequest) (*catalogv1.Listing, error) {
	select {
	case c.resolved <- principal.From(ctx):
	default:
	}
	if req.Sku != "MUG-11" {
		return nil, status.Error(codes.NotFound, "no listing maps the line")
	}
	return &catalogv1.Listing{StoreId: req.StoreId, Sku: req.Sku, VariantId: c.variant}, nil
}

// GetVariants reports every store as the owner's.

func (c *fakeCatalog) GetVariants(ctx context.Context, req *catalogv1.GetVariantsRequest) (*catalogv1.GetVariantsResponse, error) {
	select {
	case c.seen <- principal.From(ctx):
	default:
	}
	resp := &catalogv1.GetVariantsResponse{}
	for _, id := range req.VariantIds {
		if id == c.variant {
			resp.Variants = append(resp.Variants, &catalogv1.ResolvedVariant{
				Variant:      &catalogv1.Variant{Id: id, Sku: "MUG-11", Title: "11 oz", Active: true, ProductId: c.product},
				ProductTitle: "Mug", ProductActive: true,
				Placements: []*catalogv1.Placement{{Id: c.placement, Name: "wrap", WidthIn: 8.5, HeightIn: 3.5, MinDpi: 150, RecommendedDpi: 300, Technique: "sublimation"}},
			})
		}
	}
	if req.StoreId != "" {
		resp.Store = &catalogv1.Store{Id: req.StoreId, OwnerId: c.owner}
	}
	for _, id := range req.DesignIds {
		if id == c.design {
			resp.Designs = append(resp.Designs, &catalogv1.Design{Id: id, OwnerId: c.owner, Status: catalogv1.DesignStatus_DESIGN_STATUS_READY,
				ObjectKey: "designs/" + id + ".png", Report: &catalogv1.DesignReport{Placements: []*catalogv1.PlacementCheck{
					{PlacementId: c.placement, Verdict: catalogv1.DpiVerdict_DPI_VERDICT_WARN}}}})
		}
	}
	return resp, nil
}

type fakePricing struct {
	pricingv1.UnimplementedPricingServiceServer
}

func (fakePricing) CreateQuote(_ context.Context, req *pricingv1.CreateQuoteRequest) (*pricingv1.Quote, error) {
	m := func(n int64) *typesv1.Money { return &typesv1.Money{Currency: req.Currency, AmountMinor: n} }
	q := &pricingv1.Quote{QuoteId: "q1", Currency: req.Currency}
	var sub int64
	for _, it := range req.Items {
		line := 1200 * int64(it.Quantity)
		sub += line
		q.Lines = append(q.Lines, &pricingv1.QuoteLine{VariantId: it.VariantId, Quantity: it.Quantity, UnitPrice: m(1200), LineTotal: m(line), PlacementIds: it.PlacementIds})
	}
	q.Subtotal, q.Shipping, q.Discount, q.Total = m(sub), m(350), m(0), m(sub+350)
	return q, nil
}

func serveGRPC(t *testing.T, signer *principal.Signer, register func(*grpcserver.Server)) string {
	t.Helper()
	srv, err := grpcserver.New(grpcserver.Options{Log: testenv.Log(), Signer: signer, Registerer: prometheus.NewRegistry(), Grace: time.Second})
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
	go func() { defer close(done); _ = srv.ServeOn(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// TestProcessesServeAnOrderToPaid runs both binaries' serve functions as
// main does, wired to fake catalog and pricing gRPC servers, the payment
// sandbox and the real datastores, and takes an order from CreateOrder to
// PAID. It also checks that both drain and stop on cancellation.
func TestProcessesServeAnOrderToPaid(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	signer, err := principal.NewSigner(testenv.Secret)
	if err != nil {
		t.Fatal(err)
	}
	cat := &fakeCatalog{variant: uuid.NewString(), product: uuid.NewString(), placement: uuid.NewString(), design: uuid.NewString(),
		owner: "carol", seen: make(chan principal.Principal, 1), resolved: make(chan principal.Principal, 1)}
	catAddr := serveGRPC(t, signer, func(s *grpcserver.Server) { catalogv1.RegisterCatalogServiceServer(s, cat) })
	priceAddr := serveGRPC(t, signer, func(s *grpcserver.Server) { pricingv1.RegisterPricingServiceServer(s, fakePricing{}) })
	sb := payment.New(payment.Options{})
	hs := httptest.NewServer(sb)
	defer hs.Close()
	_, pgURL := pgtest.NewDB(t, pgstore.Migrations)
	env := amqptest.New(t)
	grpcAddr := runtest.FreeAddr(t)

	for k, v := range map[string]string{
		"PRINTFLEET_INTERNAL_SECRET": testenv.Secret, "PRINTFLEET_PG_URL": pgURL,
		"PRINTFLEET_REDIS_ADDRS": testenv.RedisAddr(), "PRINTFLEET_AMQP_URL": amqptest.URL(),
		"PRINTFLEET_AMQP_EXCHANGE": env.Config.Exchange, "PRINTFLEET_AMQP_DEAD_LETTER_EXCHANGE": env.Config.DeadLetterExchange,
		"PRINTFLEET_ORDERS_WORKER_QUEUE": env.Queue(eventsv1.QueueOrdersWorker), "PRINTFLEET_GRPC_ADDR": grpcAddr,
		"PRINTFLEET_ADMIN_ADDR": "127.0.0.1:0", "PRINTFLEET_CATALOG_ADDR": catAddr, "PRINTFLEET_PRICING_ADDR": priceAddr,
		"PRINTFLEET_PAYMENT_URL": hs.URL, "PRINTFLEET_PAYMENT_API_KEY": "sk_test_smoke",
		"PRINTFLEET_ORDERS_RELAY_POLL": "20ms", "PRINTFLEET_LOG_LEVEL": "error",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	apiDone, workerDone := make(chan error, 1), make(chan error, 1)
	go func() { apiDone <- run.Run(ctx, "orders", server.Serve) }()
	go func() { workerDone <- run.Run(ctx, "orders-worker", server.ServeWorker) }()
	defer func() {
		cancel()
		for name, ch := range map[string]chan error{"orders": apiDone, "orders-worker": workerDone} {
			select {
			case err := <-ch:
				if err != nil {
					t.Errorf("%s stopped with %v", name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop", name)
			}
		}
	}()

	// Something must consume OrderPlaced & co. for the relay's mandatory
	// publishes; a sink stands in for the rest of the fleet.
	conn, err := amqp.Dial(ctx, env.Config, testenv.Log())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.DeclareQueue(ctx, env.Queue("sink"), "#"); err != nil {
		t.Fatal(err)
	}

	cc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(grpcclient.ForwardPrincipal(signer)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := ordersv1.NewOrderServiceClient(cc)
	as := func(key string) context.Context {
		c := principal.With(context.Background(), principal.Principal{Subject: "carol", Roles: []string{principal.RoleUser}})
		if key != "" {
			c = metadataWithKey(c, key)
		}
		return c
	}
	req := &ordersv1.CreateOrderRequest{
		Items:           []*ordersv1.CreateOrderItem{{VariantId: cat.variant, Quantity: 3, DesignId: cat.design, PlacementId: cat.placement}},
		ShippingAddress: &typesv1.Address{Name: "Carol", Line1: "5 Rue X", City: "Paris", PostalCode: "75001", CountryCode: "FR"},
		Currency:        "EUR", PaymentMethod: ordersv1.PaymentMethod_PAYMENT_METHOD_CARD,
	}
	var o *ordersv1.Order
	deadline := time.Now().Add(60 * time.Second)
	for o == nil {
		o, err = client.CreateOrder(as("smoke-1"), req)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("create: %v", err)
			}
			o = nil
			time.Sleep(100 * time.Millisecond)
		}
	}
	if o.Total.AmountMinor != 3*1200+350 || o.Items[0].Sku != "MUG-11" || o.Items[0].Title != "Mug — 11 oz" {
		t.Fatalf("order %v", o)
	}
	// The variant lookup is an internal call: catalog serves it to services
	// only, so orders asks as itself (ownership of designs is checked here).
	if p := <-cat.seen; p.Subject != "service:orders" || !p.Has(principal.RoleService) {
		t.Fatalf("catalog saw %v, want the orders service principal", p)
	}
	// The worker starts beside the API and may not have bound its queue
	// yet: StockReserved is published again, under the same message id,
	// until the order moves; the worker's inbox takes it once (the ledger
	// below says one charge).
	body, _ := proto.Marshal(&eventsv1.StockReserved{OrderId: o.Id})
	reserved := amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyStockReserved, Body: body}
	pub := amqp.NewPublisher(conn)
	defer pub.Close() //nolint:errcheck // the test is over
	var published time.Time
	for {
		if time.Since(published) > 2*time.Second {
			if err := pub.Publish(ctx, reserved); err != nil {
				t.Fatal(err)
			}
			published = time.Now()
		}
		got, err := client.GetOrder(as(""), &ordersv1.GetOrderRequest{OrderId: o.Id})
		if err == nil && got.Status == ordersv1.OrderStatus_ORDER_STATUS_PAID {
			if got.PaymentId == "" {
				t.Fatal("paid without a payment id")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order not PAID: %v %v", got.GetStatus(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := sb.Payments().Orders[o.Id]; s.SuccessfulCharges != 1 || s.AmountCharged != 3950 {
		t.Fatalf("ledger %+v", s)
	}

	// The marketplace worker imports an order: its lines resolve through
	// the catalog's ResolveListing, asked as the orders service.
	worker := principal.With(context.Background(), principal.Principal{Subject: principal.SubjectMarketplaceWorker, Roles: []string{principal.RoleService}})
	imp := &ordersv1.ImportOrderRequest{
		StoreId: uuid.NewString(), OwnerId: "carol", Marketplace: "shopify", ExternalOrderId: "9001",
		Lines:           []*ordersv1.ImportLine{{ExternalItemId: "li-9", Sku: "MUG-11", Title: "Mug", Quantity: 1}},
		ShippingAddress: &ordersv1.ImportAddress{Name: "Carol", Line1: "5 Rue X", City: "Paris", PostalCode: "75001", CountryCode: "FR"},
		Currency:        "EUR", PaymentMethod: ordersv1.PaymentMethod_PAYMENT_METHOD_INVOICE,
	}
	res, err := client.ImportOrder(worker, imp)
	if err != nil || res.Outcome != ordersv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED || res.Order.Items[0].ExternalItemId != "li-9" {
		t.Fatalf("import: %v %v", res, err)
	}
	if p := <-cat.resolved; p.Subject != principal.SubjectOrders || !p.Has(principal.RoleService) {
		t.Fatalf("ResolveListing saw %v, want the orders service principal", p)
	}
	imp.ExternalOrderId, imp.Lines[0].Sku = "9002", "UNMAPPED"
	if res, err := client.ImportOrder(worker, imp); err != nil || res.Outcome != ordersv1.ImportOutcome_IMPORT_OUTCOME_HELD ||
		!strings.Contains(res.Order.HoldReason, `sku "UNMAPPED"`) {
		t.Fatalf("unmapped import: %v %v", res, err)
	}
}

func metadataWithKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, principal.MDIdempotencyKey, key)
}
