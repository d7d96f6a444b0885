package gateway_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
)

// Objects the fakes know. alice owns the order and the design; everyone else
// gets NOT_FOUND for them, as the real services answer.
const (
	aliceOrder  = "0190a000-0000-7000-8000-000000000001"
	aliceDesign = "0190a000-0000-7000-8000-000000000002"
	productID   = "0190a000-0000-7000-8000-000000000003"
	variantID   = "0190a000-0000-7000-8000-000000000004"
	newID       = "0190a000-0000-7000-8000-0000000000ff"
	// aliceStore is alice's store, aliceListing a listing of it.
	aliceStore   = "0190a000-0000-7000-8000-000000000005"
	aliceListing = "0190a000-0000-7000-8000-000000000006"
)

// call is what a fake saw of one request.
type call struct {
	Method    string
	Principal principal.Principal
	MD        metadata.MD
	Deadline  time.Duration // remaining at handler entry; 0 = none
}

// recorder remembers the calls a fake served.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) record(ctx context.Context, method string) principal.Principal {
	p := principal.From(ctx)
	md, _ := metadata.FromIncomingContext(ctx)
	c := call{Method: method, Principal: p, MD: md.Copy()}
	if dl, ok := ctx.Deadline(); ok {
		c.Deadline = time.Until(dl)
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return p
}

func (r *recorder) last(t *testing.T) call {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		t.Fatal("the upstream saw no call")
	}
	return r.calls[len(r.calls)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func owns(p principal.Principal, id, owned string) bool {
	return id == owned && (p.Subject == "alice" || p.IsAdmin())
}

func money(n int64) *typesv1.Money { return &typesv1.Money{Currency: "USD", AmountMinor: n} }

type fakeOrders struct {
	ordersv1.UnimplementedOrderServiceServer
	recorder
}

func (f *fakeOrders) order(id, user string, st ordersv1.OrderStatus) *ordersv1.Order {
	return &ordersv1.Order{Id: id, UserId: user, Status: st, Currency: "USD", Subtotal: money(2499), Shipping: money(0),
		Discount: money(0), Total: money(2499), CreatedAt: timestamppb.Now(), UpdatedAt: timestamppb.Now()}
}

func (f *fakeOrders) CreateOrder(ctx context.Context, _ *ordersv1.CreateOrderRequest) (*ordersv1.Order, error) {
	p := f.record(ctx, "CreateOrder")
	md, _ := metadata.FromIncomingContext(ctx)
	key := ""
	if v := md.Get(principal.MDIdempotencyKey); len(v) > 0 {
		key = v[0]
	}
	switch key {
	case "":
		return nil, errs.Field("Idempotency-Key", "required")
	case "reused":
		return nil, errs.E(errs.IdempotencyMismatch, "idempotency key reused with another body")
	case "inflight":
		return nil, errs.E(errs.Conflict, "a request with this key is in flight")
	case "boom":
		return nil, errors.New(`pq: relation "secret_orders" does not exist`)
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.order(newID, p.Subject, ordersv1.OrderStatus_ORDER_STATUS_PENDING), nil
}

func (f *fakeOrders) GetOrder(ctx context.Context, r *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	p := f.record(ctx, "GetOrder")
	if !owns(p, r.GetOrderId(), aliceOrder) {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return f.order(aliceOrder, "alice", ordersv1.OrderStatus_ORDER_STATUS_PAID), nil
}

func (f *fakeOrders) ListOrders(ctx context.Context, _ *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	f.record(ctx, "ListOrders")
	return &ordersv1.ListOrdersResponse{}, nil
}

func (f *fakeOrders) CancelOrder(ctx context.Context, r *ordersv1.CancelOrderRequest) (*ordersv1.Order, error) {
	p := f.record(ctx, "CancelOrder")
	if !owns(p, r.GetOrderId(), aliceOrder) {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return f.order(aliceOrder, "alice", ordersv1.OrderStatus_ORDER_STATUS_CANCELLED), nil
}

func (f *fakeOrders) ListOrderEvents(ctx context.Context, r *ordersv1.ListOrderEventsRequest) (*ordersv1.ListOrderEventsResponse, error) {
	p := f.record(ctx, "ListOrderEvents")
	if !owns(p, r.GetOrderId(), aliceOrder) {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return &ordersv1.ListOrderEventsResponse{}, nil
}

func (f *fakeOrders) CreateShipment(ctx context.Context, r *ordersv1.CreateShipmentRequest) (*ordersv1.Shipment, error) {
	p := f.record(ctx, "CreateShipment")
	if !p.Has(principal.RoleFulfillment) && !p.IsAdmin() {
		return nil, errs.E(errs.PermissionDenied, "fulfillment only")
	}
	if r.GetOrderId() != aliceOrder {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return &ordersv1.Shipment{Id: newID, OrderId: aliceOrder, Carrier: r.GetCarrier(), TrackingNumber: r.GetTrackingNumber()}, nil
}

func (f *fakeOrders) RetryImport(ctx context.Context, r *ordersv1.RetryImportRequest) (*ordersv1.Order, error) {
	p := f.record(ctx, "RetryImport")
	if !owns(p, r.GetOrderId(), aliceOrder) {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return f.order(aliceOrder, "alice", ordersv1.OrderStatus_ORDER_STATUS_PENDING), nil
}

type fakeCatalog struct {
	catalogv1.UnimplementedCatalogServiceServer
	recorder

	// webhooks are the webhook deliveries received; webhookErr, when set,
	// is the answer to the next ones.
	webhookMu  sync.Mutex
	webhooks   []*catalogv1.ReceiveMarketplaceWebhookRequest
	webhookErr error
}

func (f *fakeCatalog) ReceiveMarketplaceWebhook(ctx context.Context, r *catalogv1.ReceiveMarketplaceWebhookRequest) (*catalogv1.ReceiveMarketplaceWebhookResponse, error) {
	f.record(ctx, "ReceiveMarketplaceWebhook")
	f.webhookMu.Lock()
	defer f.webhookMu.Unlock()
	if f.webhookErr != nil {
		return nil, f.webhookErr
	}
	dup := false
	for _, w := range f.webhooks {
		dup = dup || (w.GetStoreId() == r.GetStoreId() && w.GetWebhookId() == r.GetWebhookId())
	}
	f.webhooks = append(f.webhooks, r)
	return &catalogv1.ReceiveMarketplaceWebhookResponse{Duplicate: dup}, nil
}

// failWebhooks makes the next deliveries answer err (nil: accept again).
func (f *fakeCatalog) failWebhooks(err error) {
	f.webhookMu.Lock()
	f.webhookErr = err
	f.webhookMu.Unlock()
}

// lastWebhook is the last delivery the catalog took.
func (f *fakeCatalog) lastWebhook(t testing.TB) *catalogv1.ReceiveMarketplaceWebhookRequest {
	t.Helper()
	f.webhookMu.Lock()
	defer f.webhookMu.Unlock()
	if len(f.webhooks) == 0 {
		t.Fatal("the catalog took no webhook")
	}
	return f.webhooks[len(f.webhooks)-1]
}

func product() *catalogv1.Product {
	return &catalogv1.Product{Id: productID, Title: "Tee", Active: true,
		Variants: []*catalogv1.Variant{{Id: variantID, Sku: "TEE-M", Title: "M", Price: money(1999), InStock: true}}}
}

func (f *fakeCatalog) ListProducts(ctx context.Context, _ *catalogv1.ListProductsRequest) (*catalogv1.ListProductsResponse, error) {
	f.record(ctx, "ListProducts")
	return &catalogv1.ListProductsResponse{Products: []*catalogv1.Product{product()}}, nil
}

func (f *fakeCatalog) GetProduct(ctx context.Context, r *catalogv1.GetProductRequest) (*catalogv1.Product, error) {
	f.record(ctx, "GetProduct")
	if r.GetProductId() != productID {
		return nil, errs.E(errs.NotFound, "product not found")
	}
	return product(), nil
}

func (f *fakeCatalog) CreateProduct(ctx context.Context, r *catalogv1.CreateProductRequest) (*catalogv1.Product, error) {
	f.record(ctx, "CreateProduct")
	p := r.GetProduct()
	p.Id = newID
	return p, nil
}

func (f *fakeCatalog) UpdateProduct(ctx context.Context, r *catalogv1.UpdateProductRequest) (*catalogv1.Product, error) {
	f.record(ctx, "UpdateProduct")
	if r.GetProductId() != productID {
		return nil, errs.E(errs.NotFound, "product not found")
	}
	p := r.GetProduct()
	p.Id = productID
	return p, nil
}

func (f *fakeCatalog) design(owner string) *catalogv1.Design {
	return &catalogv1.Design{Id: aliceDesign, OwnerId: owner, Status: catalogv1.DesignStatus_DESIGN_STATUS_PROCESSING}
}

func (f *fakeCatalog) CreateDesign(ctx context.Context, _ *catalogv1.CreateDesignRequest) (*catalogv1.CreateDesignResponse, error) {
	p := f.record(ctx, "CreateDesign")
	return &catalogv1.CreateDesignResponse{Design: f.design(p.Subject), UploadUrl: "http://127.0.0.1:7070/upload", UploadMethod: "PUT"}, nil
}

func (f *fakeCatalog) ProcessDesign(ctx context.Context, r *catalogv1.ProcessDesignRequest) (*catalogv1.Design, error) {
	p := f.record(ctx, "ProcessDesign")
	if !owns(p, r.GetDesignId(), aliceDesign) {
		return nil, errs.E(errs.NotFound, "design not found")
	}
	return f.design("alice"), nil
}

func (f *fakeCatalog) GetDesign(ctx context.Context, r *catalogv1.GetDesignRequest) (*catalogv1.Design, error) {
	p := f.record(ctx, "GetDesign")
	if !owns(p, r.GetDesignId(), aliceDesign) {
		return nil, errs.E(errs.NotFound, "design not found")
	}
	return f.design("alice"), nil
}

func (f *fakeCatalog) CreateStore(ctx context.Context, r *catalogv1.CreateStoreRequest) (*catalogv1.Store, error) {
	p := f.record(ctx, "CreateStore")
	return &catalogv1.Store{Id: newID, OwnerId: p.Subject, Marketplace: r.GetMarketplace(), ShopId: r.GetShopId(), Name: r.GetName()}, nil
}

func (f *fakeCatalog) listing(storeID, id string) *catalogv1.Listing {
	return &catalogv1.Listing{Id: id, StoreId: storeID, Sku: "TEE-M", VariantId: variantID}
}

func (f *fakeCatalog) CreateListing(ctx context.Context, r *catalogv1.CreateListingRequest) (*catalogv1.Listing, error) {
	if p := f.record(ctx, "CreateListing"); !owns(p, r.GetStoreId(), aliceStore) {
		return nil, errs.E(errs.NotFound, "store not found")
	}
	return f.listing(r.GetStoreId(), newID), nil
}

func (f *fakeCatalog) ListListings(ctx context.Context, r *catalogv1.ListListingsRequest) (*catalogv1.ListListingsResponse, error) {
	if p := f.record(ctx, "ListListings"); !owns(p, r.GetStoreId(), aliceStore) {
		return nil, errs.E(errs.NotFound, "store not found")
	}
	return &catalogv1.ListListingsResponse{Listings: []*catalogv1.Listing{f.listing(aliceStore, aliceListing)}}, nil
}

func (f *fakeCatalog) GetListing(ctx context.Context, r *catalogv1.GetListingRequest) (*catalogv1.Listing, error) {
	if p := f.record(ctx, "GetListing"); !owns(p, r.GetStoreId(), aliceStore) || r.GetListingId() != aliceListing {
		return nil, errs.E(errs.NotFound, "listing not found")
	}
	return f.listing(aliceStore, aliceListing), nil
}

func (f *fakeCatalog) UpdateListing(ctx context.Context, r *catalogv1.UpdateListingRequest) (*catalogv1.Listing, error) {
	if p := f.record(ctx, "UpdateListing"); !owns(p, r.GetStoreId(), aliceStore) || r.GetListingId() != aliceListing {
		return nil, errs.E(errs.NotFound, "listing not found")
	}
	return f.listing(aliceStore, aliceListing), nil
}

func (f *fakeCatalog) DeleteListing(ctx context.Context, r *catalogv1.DeleteListingRequest) (*emptypb.Empty, error) {
	if p := f.record(ctx, "DeleteListing"); !owns(p, r.GetStoreId(), aliceStore) || r.GetListingId() != aliceListing {
		return nil, errs.E(errs.NotFound, "listing not found")
	}
	return &emptypb.Empty{}, nil
}

func (f *fakeCatalog) ListStores(ctx context.Context, _ *catalogv1.ListStoresRequest) (*catalogv1.ListStoresResponse, error) {
	f.record(ctx, "ListStores")
	return &catalogv1.ListStoresResponse{}, nil
}

type fakePricing struct {
	pricingv1.UnimplementedPricingServiceServer
	recorder
}

func (f *fakePricing) CreateQuote(ctx context.Context, r *pricingv1.CreateQuoteRequest) (*pricingv1.Quote, error) {
	f.record(ctx, "CreateQuote")
	return &pricingv1.Quote{QuoteId: newID, Currency: r.GetCurrency(), Subtotal: money(1999), Shipping: money(499), Discount: money(0), Total: money(2498)}, nil
}

// fakes are the three upstream services, served in-process by platform
// grpcserver on 127.0.0.1:0.
type fakes struct {
	orders    *fakeOrders
	catalog   *fakeCatalog
	pricing   *fakePricing
	upstreams gateway.Upstreams
	servers   []*grpcserver.Server
}

func startFakes(t testing.TB, signer *principal.Signer) *fakes {
	t.Helper()
	f := &fakes{orders: &fakeOrders{}, catalog: &fakeCatalog{}, pricing: &fakePricing{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	serve := func(register func(*grpcserver.Server)) string {
		srv, err := grpcserver.New(grpcserver.Options{Log: discardLogger(), Signer: signer, Grace: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		register(srv)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f.servers = append(f.servers, srv)
		wg.Go(func() { _ = srv.ServeOn(ctx, ln) })
		return ln.Addr().String()
	}
	f.upstreams.Orders = serve(func(s *grpcserver.Server) { ordersv1.RegisterOrderServiceServer(s, f.orders) })
	f.upstreams.Catalog = serve(func(s *grpcserver.Server) { catalogv1.RegisterCatalogServiceServer(s, f.catalog) })
	f.upstreams.Pricing = serve(func(s *grpcserver.Server) { pricingv1.RegisterPricingServiceServer(s, f.pricing) })
	return f
}
