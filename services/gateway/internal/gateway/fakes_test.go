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
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
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
	// aliceWebhook is alice's webhook subscription, aliceDelivery a delivery
	// of it.
	aliceWebhook  = "0190a000-0000-7000-8000-000000000007"
	aliceDelivery = "0190a000-0000-7000-8000-000000000008"
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
	// carrier holds the carrier updates applied, by event id (orders
	// answers a repeat as the first).
	carrierMu sync.Mutex
	carrier   map[string]*ordersv1.RecordCarrierUpdateResponse
	// carrierReqs are the carrier updates received, in order.
	carrierReqs []*ordersv1.RecordCarrierUpdateRequest
}

// Package aliceShipment, tracking number "1Z999", is in transit until an
// update moves it.
const aliceShipment = "0190a000-0000-7000-8000-000000000009"

func (f *fakeOrders) RecordCarrierUpdate(ctx context.Context, r *ordersv1.RecordCarrierUpdateRequest) (*ordersv1.RecordCarrierUpdateResponse, error) {
	p := f.record(ctx, "RecordCarrierUpdate")
	if p.Subject != principal.SubjectGateway || !p.Has(principal.RoleService) {
		return nil, errs.E(errs.PermissionDenied, "only the gateway records carrier updates")
	}
	f.carrierMu.Lock()
	defer f.carrierMu.Unlock()
	f.carrierReqs = append(f.carrierReqs, r)
	if a, ok := f.carrier[r.GetEventId()]; ok {
		return a, nil
	}
	if r.GetTrackingNumber() != "1Z999" {
		return nil, errs.E(errs.NotFound, "no package has this carrier and tracking number")
	}
	if f.carrier == nil {
		f.carrier = map[string]*ordersv1.RecordCarrierUpdateResponse{}
	}
	a := &ordersv1.RecordCarrierUpdateResponse{OrderId: aliceOrder, ShipmentId: aliceShipment, Status: r.GetStatus()}
	f.carrier[r.GetEventId()] = a
	return a, nil
}

// carrierUpdates is how many carrier updates reached orders.
func (f *fakeOrders) carrierUpdates() []*ordersv1.RecordCarrierUpdateRequest {
	f.carrierMu.Lock()
	defer f.carrierMu.Unlock()
	return append([]*ordersv1.RecordCarrierUpdateRequest(nil), f.carrierReqs...)
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

func (f *fakeOrders) UpdateOrder(ctx context.Context, r *ordersv1.UpdateOrderRequest) (*ordersv1.Order, error) {
	p := f.record(ctx, "UpdateOrder")
	if !owns(p, r.GetOrderId(), aliceOrder) {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return f.order(aliceOrder, "alice", ordersv1.OrderStatus_ORDER_STATUS_DRAFT), nil
}

func (f *fakeOrders) ConfirmOrder(ctx context.Context, r *ordersv1.ConfirmOrderRequest) (*ordersv1.Order, error) {
	p := f.record(ctx, "ConfirmOrder")
	if !owns(p, r.GetOrderId(), aliceOrder) {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return f.order(aliceOrder, "alice", ordersv1.OrderStatus_ORDER_STATUS_PENDING), nil
}

func (f *fakeOrders) ListShipments(ctx context.Context, r *ordersv1.ListShipmentsRequest) (*ordersv1.ListShipmentsResponse, error) {
	p := f.record(ctx, "ListShipments")
	if !p.Has(principal.RoleFulfillment) && !owns(p, r.GetOrderId(), aliceOrder) {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return &ordersv1.ListShipmentsResponse{}, nil
}

func (f *fakeOrders) DeliverShipment(ctx context.Context, r *ordersv1.DeliverShipmentRequest) (*ordersv1.Shipment, error) {
	p := f.record(ctx, "DeliverShipment")
	if !p.Has(principal.RoleFulfillment) && !p.IsAdmin() {
		return nil, errs.E(errs.PermissionDenied, "fulfillment only")
	}
	if r.GetOrderId() != aliceOrder {
		return nil, errs.E(errs.NotFound, "order not found")
	}
	return &ordersv1.Shipment{Id: r.GetShipmentId(), OrderId: aliceOrder, Status: ordersv1.ShipmentStatus_SHIPMENT_STATUS_DELIVERED}, nil
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

func (f *fakePricing) SetVariantPrices(ctx context.Context, r *pricingv1.SetVariantPricesRequest) (*pricingv1.SetVariantPricesResponse, error) {
	f.record(ctx, "SetVariantPrices")
	return &pricingv1.SetVariantPricesResponse{Upserted: int32(len(r.GetPrices()))}, nil
}

func (f *fakePricing) ListVariantPrices(ctx context.Context, _ *pricingv1.ListVariantPricesRequest) (*pricingv1.ListVariantPricesResponse, error) {
	f.record(ctx, "ListVariantPrices")
	return &pricingv1.ListVariantPricesResponse{}, nil
}

func (f *fakePricing) GetVariantPrices(ctx context.Context, r *pricingv1.GetVariantPricesRequest) (*pricingv1.VariantPrices, error) {
	f.record(ctx, "GetVariantPrices")
	return &pricingv1.VariantPrices{VariantId: r.GetVariantId()}, nil
}

func (f *fakePricing) DeleteVariantPrices(ctx context.Context, _ *pricingv1.DeleteVariantPricesRequest) (*pricingv1.DeleteVariantPricesResponse, error) {
	f.record(ctx, "DeleteVariantPrices")
	return &pricingv1.DeleteVariantPricesResponse{Deleted: 1}, nil
}

func (f *fakePricing) CreateCoupon(ctx context.Context, r *pricingv1.CreateCouponRequest) (*pricingv1.Coupon, error) {
	f.record(ctx, "CreateCoupon")
	return r.GetCoupon(), nil
}

func (f *fakePricing) ListCoupons(ctx context.Context, _ *pricingv1.ListCouponsRequest) (*pricingv1.ListCouponsResponse, error) {
	f.record(ctx, "ListCoupons")
	return &pricingv1.ListCouponsResponse{}, nil
}

func (f *fakePricing) GetCoupon(ctx context.Context, _ *pricingv1.GetCouponRequest) (*pricingv1.ListCouponsResponse, error) {
	f.record(ctx, "GetCoupon")
	return &pricingv1.ListCouponsResponse{}, nil
}

func (f *fakePricing) DeleteCoupon(ctx context.Context, _ *pricingv1.DeleteCouponRequest) (*pricingv1.DeleteCouponResponse, error) {
	f.record(ctx, "DeleteCoupon")
	return &pricingv1.DeleteCouponResponse{Deactivated: 1}, nil
}

func (f *fakePricing) SetFxRates(ctx context.Context, r *pricingv1.SetFxRatesRequest) (*pricingv1.SetFxRatesResponse, error) {
	f.record(ctx, "SetFxRates")
	return &pricingv1.SetFxRatesResponse{Upserted: int32(len(r.GetRates()))}, nil
}

func (f *fakePricing) SetShippingRates(ctx context.Context, r *pricingv1.SetShippingRatesRequest) (*pricingv1.SetShippingRatesResponse, error) {
	f.record(ctx, "SetShippingRates")
	return &pricingv1.SetShippingRatesResponse{Upserted: int32(len(r.GetRates()))}, nil
}

func (f *fakePricing) ListShippingRates(ctx context.Context, _ *pricingv1.ListShippingRatesRequest) (*pricingv1.ListShippingRatesResponse, error) {
	f.record(ctx, "ListShippingRates")
	return &pricingv1.ListShippingRatesResponse{}, nil
}

func (f *fakePricing) DeleteShippingRate(ctx context.Context, _ *pricingv1.DeleteShippingRateRequest) (*pricingv1.DeleteShippingRateResponse, error) {
	f.record(ctx, "DeleteShippingRate")
	return &pricingv1.DeleteShippingRateResponse{}, nil
}

func (f *fakePricing) SetTaxRates(ctx context.Context, r *pricingv1.SetTaxRatesRequest) (*pricingv1.SetTaxRatesResponse, error) {
	f.record(ctx, "SetTaxRates")
	return &pricingv1.SetTaxRatesResponse{Upserted: int32(len(r.GetRates()))}, nil
}

func (f *fakePricing) ListTaxRates(ctx context.Context, _ *pricingv1.ListTaxRatesRequest) (*pricingv1.ListTaxRatesResponse, error) {
	f.record(ctx, "ListTaxRates")
	return &pricingv1.ListTaxRatesResponse{}, nil
}

func (f *fakePricing) DeleteTaxRate(ctx context.Context, _ *pricingv1.DeleteTaxRateRequest) (*pricingv1.DeleteTaxRateResponse, error) {
	f.record(ctx, "DeleteTaxRate")
	return &pricingv1.DeleteTaxRateResponse{}, nil
}

func (f *fakePricing) ListFxRates(ctx context.Context, _ *pricingv1.ListFxRatesRequest) (*pricingv1.ListFxRatesResponse, error) {
	f.record(ctx, "ListFxRates")
	return &pricingv1.ListFxRatesResponse{}, nil
}

type fakeWebhooks struct {
	webhooksv1.UnimplementedWebhookServiceServer
	recorder
}

func (f *fakeWebhooks) webhook(id, owner string) *webhooksv1.Webhook {
	return &webhooksv1.Webhook{Id: id, OwnerId: owner, Url: "https://alice.example/hooks", EventTypes: []string{"*"},
		Status: webhooksv1.WebhookStatus_WEBHOOK_STATUS_ACTIVE, CreatedAt: timestamppb.Now(), UpdatedAt: timestamppb.Now()}
}

func (f *fakeWebhooks) delivery() *webhooksv1.Delivery {
	return &webhooksv1.Delivery{Id: aliceDelivery, WebhookId: aliceWebhook}
}

func (f *fakeWebhooks) CreateWebhook(ctx context.Context, _ *webhooksv1.CreateWebhookRequest) (*webhooksv1.Webhook, error) {
	p := f.record(ctx, "CreateWebhook")
	w := f.webhook(newID, p.Subject)
	w.Secret = "whsec_fake"
	return w, nil
}

func (f *fakeWebhooks) ListWebhooks(ctx context.Context, _ *webhooksv1.ListWebhooksRequest) (*webhooksv1.ListWebhooksResponse, error) {
	f.record(ctx, "ListWebhooks")
	return &webhooksv1.ListWebhooksResponse{}, nil
}

func (f *fakeWebhooks) GetWebhook(ctx context.Context, r *webhooksv1.GetWebhookRequest) (*webhooksv1.Webhook, error) {
	if p := f.record(ctx, "GetWebhook"); !owns(p, r.GetWebhookId(), aliceWebhook) {
		return nil, errs.E(errs.NotFound, "webhook not found")
	}
	return f.webhook(aliceWebhook, "alice"), nil
}

func (f *fakeWebhooks) DeleteWebhook(ctx context.Context, r *webhooksv1.DeleteWebhookRequest) (*emptypb.Empty, error) {
	if p := f.record(ctx, "DeleteWebhook"); !owns(p, r.GetWebhookId(), aliceWebhook) {
		return nil, errs.E(errs.NotFound, "webhook not found")
	}
	return &emptypb.Empty{}, nil
}

func (f *fakeWebhooks) RotateWebhookSecret(ctx context.Context, r *webhooksv1.RotateWebhookSecretRequest) (*webhooksv1.Webhook, error) {
	if p := f.record(ctx, "RotateWebhookSecret"); !owns(p, r.GetWebhookId(), aliceWebhook) {
		return nil, errs.E(errs.NotFound, "webhook not found")
	}
	w := f.webhook(aliceWebhook, "alice")
	w.Secret = "whsec_fake2"
	return w, nil
}

func (f *fakeWebhooks) EnableWebhook(ctx context.Context, r *webhooksv1.EnableWebhookRequest) (*webhooksv1.Webhook, error) {
	if p := f.record(ctx, "EnableWebhook"); !owns(p, r.GetWebhookId(), aliceWebhook) {
		return nil, errs.E(errs.NotFound, "webhook not found")
	}
	return f.webhook(aliceWebhook, "alice"), nil
}

func (f *fakeWebhooks) ListDeliveries(ctx context.Context, r *webhooksv1.ListDeliveriesRequest) (*webhooksv1.ListDeliveriesResponse, error) {
	if p := f.record(ctx, "ListDeliveries"); !owns(p, r.GetWebhookId(), aliceWebhook) {
		return nil, errs.E(errs.NotFound, "webhook not found")
	}
	return &webhooksv1.ListDeliveriesResponse{Deliveries: []*webhooksv1.Delivery{f.delivery()}}, nil
}

func (f *fakeWebhooks) Redeliver(ctx context.Context, r *webhooksv1.RedeliverRequest) (*webhooksv1.Delivery, error) {
	if p := f.record(ctx, "Redeliver"); !owns(p, r.GetWebhookId(), aliceWebhook) || r.GetDeliveryId() != aliceDelivery {
		return nil, errs.E(errs.NotFound, "delivery not found")
	}
	return f.delivery(), nil
}

// fakes are the four upstream services, served in-process by platform
// grpcserver on 127.0.0.1:0.
type fakes struct {
	orders    *fakeOrders
	catalog   *fakeCatalog
	pricing   *fakePricing
	webhooks  *fakeWebhooks
	upstreams gateway.Upstreams
	servers   []*grpcserver.Server
}

// calls counts the calls every upstream served.
func (f *fakes) calls() int {
	return f.orders.count() + f.catalog.count() + f.pricing.count() + f.webhooks.count()
}

func startFakes(t testing.TB, signer *principal.Signer) *fakes {
	t.Helper()
	f := &fakes{orders: &fakeOrders{}, catalog: &fakeCatalog{}, pricing: &fakePricing{}, webhooks: &fakeWebhooks{}}
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
	f.upstreams.Webhooks = serve(func(s *grpcserver.Server) { webhooksv1.RegisterWebhookServiceServer(s, f.webhooks) })
	return f
}
