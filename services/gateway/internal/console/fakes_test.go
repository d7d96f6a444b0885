package console_test

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	opsv1 "github.com/printfleet/printfleet/proto/printfleet/ops/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
)

// Objects the fake services know.
const (
	orderID    = "0190b000-0000-7000-8000-000000000001"
	designID   = "0190b000-0000-7000-8000-000000000002"
	storeID    = "0190b000-0000-7000-8000-000000000003"
	letterID   = "0190b000-0000-7000-8000-000000000004"
	webhookID  = "0190b000-0000-7000-8000-000000000005"
	externalID = "EXT-4711"
	queueName  = "images.renders"
	traceID    = "4bf92f3577b34da6a3ce929d0e0e4736"
	// s3Origin is where the fake's presigned links point.
	s3Origin = "http://127.0.0.1:7070"
)

// call is one upstream call the fakes served: the method and the caller
// the console forwarded.
type call struct {
	Method string
	Caller principal.Principal
	Req    any
}

// fakes stand in for orders, catalog, webhooks and ops, and enforce the
// roles as the real services do: reads need admin or support, actions
// admin.
type fakes struct {
	mu    sync.Mutex
	calls []call
	// state of the one dead letter
	state opsv1.DeadLetterState
}

func newFakes() *fakes { return &fakes{state: opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED} }

func (f *fakes) record(ctx context.Context, method string, req any) principal.Principal {
	p := principal.From(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{Method: method, Caller: p, Req: req})
	return p
}

func (f *fakes) seen() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakes) calledWith(method string) []call {
	var out []call
	for _, c := range f.seen() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakes) read(ctx context.Context, method string, req any) error {
	p := f.record(ctx, method, req)
	if !p.ReadsAll() {
		return status.Error(codes.PermissionDenied, "operators only")
	}
	return nil
}

func (f *fakes) write(ctx context.Context, method string, req any) error {
	p := f.record(ctx, method, req)
	if !p.IsAdmin() {
		return status.Error(codes.PermissionDenied, "admins only")
	}
	return nil
}

func money(minor int64) *typesv1.Money { return &typesv1.Money{Currency: "EUR", AmountMinor: minor} }

func theOrder() *ordersv1.Order {
	return &ordersv1.Order{
		Id: orderID, UserId: "alice", Status: ordersv1.OrderStatus_ORDER_STATUS_IN_PRODUCTION, StoreId: storeID,
		ExternalOrderId: externalID, PaymentId: "pay_123", Total: money(2599), Subtotal: money(1999), Shipping: money(600),
		TraceId: traceID, CreatedAt: timestamppb.Now(),
		Shipments: []*ordersv1.Shipment{{Id: "ship-1", OrderId: orderID, Carrier: "dhl",
			TrackingNumber: "TRK-555", Status: ordersv1.ShipmentStatus_SHIPMENT_STATUS_IN_TRANSIT}},
		Items: []*ordersv1.OrderItem{{Id: "item-1", Title: "Tee", Sku: "TEE-M", Quantity: 1, DesignId: designID,
			PrintFileKey: "renders/print/item-1.png", MockupKey: "renders/mockup/item-1.png"}},
	}
}

func (f *fakes) GetOrder(ctx context.Context, in *ordersv1.GetOrderRequest, _ ...grpc.CallOption) (*ordersv1.Order, error) {
	if err := f.read(ctx, "GetOrder", in); err != nil {
		return nil, err
	}
	if in.GetOrderId() != orderID {
		return nil, status.Error(codes.NotFound, "order not found")
	}
	return theOrder(), nil
}

func (f *fakes) ListOrders(ctx context.Context, in *ordersv1.ListOrdersRequest, _ ...grpc.CallOption) (*ordersv1.ListOrdersResponse, error) {
	if err := f.read(ctx, "ListOrders", in); err != nil {
		return nil, err
	}
	// As the real service: one owner's orders (the caller's when no user
	// is named), or every owner's with all_owners.
	user := in.GetUserId()
	switch {
	case in.GetAllOwners() && user != "":
		return nil, status.Error(codes.InvalidArgument, "user_id: must be empty when all_owners is set")
	case in.GetAllOwners():
		user = "alice" // the one owner there is
	case user == "":
		user = principal.From(ctx).Subject
	}
	if user != "alice" || (in.GetExternalOrderId() != "" && in.GetExternalOrderId() != externalID) ||
		(in.GetStoreId() != "" && in.GetStoreId() != storeID) {
		return &ordersv1.ListOrdersResponse{}, nil
	}
	o := theOrder()
	next := ""
	if in.GetStatus() == ordersv1.OrderStatus_ORDER_STATUS_ON_HOLD {
		o.Status, o.HoldReason = ordersv1.OrderStatus_ORDER_STATUS_ON_HOLD, "unknown listing 991"
		next = "more-held" // as if a page of held orders followed
	}
	return &ordersv1.ListOrdersResponse{Orders: []*ordersv1.Order{o}, NextPageToken: next}, nil
}

func (f *fakes) ListOrderEvents(ctx context.Context, in *ordersv1.ListOrderEventsRequest, _ ...grpc.CallOption) (*ordersv1.ListOrderEventsResponse, error) {
	if err := f.read(ctx, "ListOrderEvents", in); err != nil {
		return nil, err
	}
	now := timestamppb.Now()
	return &ordersv1.ListOrderEventsResponse{Events: []*ordersv1.OrderEvent{
		{Id: "e1", OrderId: orderID, Type: "order.placed", ToStatus: ordersv1.OrderStatus_ORDER_STATUS_PENDING, CreatedAt: now},
		{Id: "e2", OrderId: orderID, Type: "stock.reserved", Message: "reserved 1 unit", CreatedAt: now},
		{Id: "e3", OrderId: orderID, Type: "payment.captured", Attributes: map[string]string{"payment_id": "pay_123"}, CreatedAt: now},
		{Id: "e4", OrderId: orderID, Type: "marketplace.push_succeeded", Attributes: map[string]string{"receipt_key": "receipts/r-77.json", "http_status": "200"}, CreatedAt: now},
	}}, nil
}

func (f *fakes) ListStuckOrders(ctx context.Context, in *ordersv1.ListStuckOrdersRequest, _ ...grpc.CallOption) (*ordersv1.ListStuckOrdersResponse, error) {
	if err := f.read(ctx, "ListStuckOrders", in); err != nil {
		return nil, err
	}
	return &ordersv1.ListStuckOrdersResponse{StuckAfterSeconds: 600, Orders: []*ordersv1.StuckOrder{
		{Order: theOrder(), Step: "print_files", WaitingSince: timestamppb.Now(), Redriven: 2}}}, nil
}

func (f *fakes) ListStoreActivity(ctx context.Context, in *ordersv1.ListStoreActivityRequest, _ ...grpc.CallOption) (*ordersv1.ListStoreActivityResponse, error) {
	if err := f.read(ctx, "ListStoreActivity", in); err != nil {
		return nil, err
	}
	return &ordersv1.ListStoreActivityResponse{Stores: []*ordersv1.StoreActivity{{StoreId: storeID, PushFailures_24H: 3, OrdersOnHold: 1,
		LastPushAt: timestamppb.Now(), LastPushError: "HTTP 429"}}}, nil
}

func (f *fakes) ListStores(ctx context.Context, in *catalogv1.ListStoresRequest, _ ...grpc.CallOption) (*catalogv1.ListStoresResponse, error) {
	if err := f.read(ctx, "ListStores", in); err != nil {
		return nil, err
	}
	return &catalogv1.ListStoresResponse{Stores: []*catalogv1.Store{{Id: storeID, OwnerId: "alice", Name: "Alice Tees",
		Marketplace: catalogv1.Marketplace_MARKETPLACE_SHOPIFY, ShopId: "alice-tees", NeedsReconnection: true,
		ReconnectionReason: "token revoked"}}}, nil
}

func (f *fakes) GetDesign(ctx context.Context, in *catalogv1.GetDesignRequest, _ ...grpc.CallOption) (*catalogv1.Design, error) {
	if err := f.read(ctx, "GetDesign", in); err != nil {
		return nil, err
	}
	return &catalogv1.Design{Id: designID, Filename: "cat.png", Status: catalogv1.DesignStatus_DESIGN_STATUS_READY,
		ThumbnailUrl: s3Origin + "/designs/thumb.png?X-Amz-Signature=abc", PreviewUrl: s3Origin + "/designs/preview.png?X-Amz-Signature=def"}, nil
}

func (f *fakes) SignRenderLinks(ctx context.Context, in *catalogv1.SignRenderLinksRequest, _ ...grpc.CallOption) (*catalogv1.SignRenderLinksResponse, error) {
	if err := f.read(ctx, "SignRenderLinks", in); err != nil {
		return nil, err
	}
	var urls []string
	for _, k := range in.GetKeys() {
		urls = append(urls, s3Origin+"/"+k+"?X-Amz-Signature=sig")
	}
	return &catalogv1.SignRenderLinksResponse{Urls: urls}, nil
}

func (f *fakes) ListOrderDeliveries(ctx context.Context, in *webhooksv1.ListOrderDeliveriesRequest, _ ...grpc.CallOption) (*webhooksv1.ListDeliveriesResponse, error) {
	if err := f.read(ctx, "ListOrderDeliveries", in); err != nil {
		return nil, err
	}
	return &webhooksv1.ListDeliveriesResponse{Deliveries: []*webhooksv1.Delivery{{Id: "d1", WebhookId: webhookID,
		EventType: "order.shipped", Status: webhooksv1.DeliveryStatus_DELIVERY_STATUS_SUCCEEDED, Attempts: 1, ResponseStatus: 200}}}, nil
}

func (f *fakes) ListQueues(ctx context.Context, in *opsv1.ListQueuesRequest, _ ...grpc.CallOption) (*opsv1.ListQueuesResponse, error) {
	if err := f.read(ctx, "ListQueues", in); err != nil {
		return nil, err
	}
	return &opsv1.ListQueuesResponse{Queues: []*opsv1.QueueStats{{Queue: queueName, Depth: 0, DlqDepth: 0, Parked: 1}}}, nil
}

func (f *fakes) letter() *opsv1.DeadLetter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &opsv1.DeadLetter{Id: letterID, Queue: queueName, MessageId: "m-1", Type: "orders.order_paid.v1",
		BodyJson: `{"orderId":"` + orderID + `","items":[{"designId":"` + designID + `"}]}`,
		Reason:   "design master designs/master/x.png is missing", Attempts: 3, State: f.state, OrderId: orderID,
		DeadLetteredAt: timestamppb.Now()}
}

func (f *fakes) ListDeadLetters(ctx context.Context, in *opsv1.ListDeadLettersRequest, _ ...grpc.CallOption) (*opsv1.ListDeadLettersResponse, error) {
	if err := f.read(ctx, "ListDeadLetters", in); err != nil {
		return nil, err
	}
	want := in.GetState()
	if want == opsv1.DeadLetterState_DEAD_LETTER_STATE_UNSPECIFIED {
		want = opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED
	}
	if l := f.letter(); l.GetState() == want {
		return &opsv1.ListDeadLettersResponse{DeadLetters: []*opsv1.DeadLetter{l}}, nil
	}
	return &opsv1.ListDeadLettersResponse{}, nil
}

func (f *fakes) GetDeadLetter(ctx context.Context, in *opsv1.GetDeadLetterRequest, _ ...grpc.CallOption) (*opsv1.DeadLetter, error) {
	if err := f.read(ctx, "GetDeadLetter", in); err != nil {
		return nil, err
	}
	if in.GetId() != letterID {
		return nil, status.Error(codes.NotFound, "dead letter not found")
	}
	return f.letter(), nil
}

func (f *fakes) ReplayDeadLetter(ctx context.Context, in *opsv1.ReplayDeadLetterRequest, _ ...grpc.CallOption) (*opsv1.ActionResult, error) {
	if err := f.write(ctx, "ReplayDeadLetter", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.state = opsv1.DeadLetterState_DEAD_LETTER_STATE_REPLAYED
	f.mu.Unlock()
	return &opsv1.ActionResult{Affected: 1}, nil
}

func (f *fakes) ReplayQueue(ctx context.Context, in *opsv1.ReplayQueueRequest, _ ...grpc.CallOption) (*opsv1.ActionResult, error) {
	if err := f.write(ctx, "ReplayQueue", in); err != nil {
		return nil, err
	}
	return &opsv1.ActionResult{Affected: 1}, nil
}

func (f *fakes) DiscardDeadLetter(ctx context.Context, in *opsv1.DiscardDeadLetterRequest, _ ...grpc.CallOption) (*opsv1.ActionResult, error) {
	if err := f.write(ctx, "DiscardDeadLetter", in); err != nil {
		return nil, err
	}
	if len(in.GetReason()) < 3 {
		return nil, status.Error(codes.InvalidArgument, "reason: is required")
	}
	f.mu.Lock()
	f.state = opsv1.DeadLetterState_DEAD_LETTER_STATE_DISCARDED
	f.mu.Unlock()
	return &opsv1.ActionResult{Affected: 1}, nil
}

func (f *fakes) ListAudit(ctx context.Context, in *opsv1.ListAuditRequest, _ ...grpc.CallOption) (*opsv1.ListAuditResponse, error) {
	if err := f.read(ctx, "ListAudit", in); err != nil {
		return nil, err
	}
	return &opsv1.ListAuditResponse{Entries: []*opsv1.AuditEntry{{Id: "a1", ActionId: "x", Actor: "root", Action: "dead_letter.discard",
		Target: letterID, Reason: "garbage body", Affected: 1, CreatedAt: timestamppb.Now()}}}, nil
}
