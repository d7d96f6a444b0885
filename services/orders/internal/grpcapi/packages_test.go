package grpcapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// inProduction places alice's order (2 designed units of item 0, 1 blank
// unit of item 1) and takes it to IN_PRODUCTION.
func inProduction(t *testing.T, s *testenv.Server, f *testenv.Fixture) *ordersv1.Order {
	t.Helper()
	ctx := context.Background()
	o, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	w := testenv.NewWorker(t, s.Store, nil)
	if err := w.StockReserved(ctx, uuid.NewString(), o.Id); err != nil {
		t.Fatal(err)
	}
	if err := w.PrintFilesReady(ctx, uuid.NewString(), o.Id, map[string]domain.PrintFile{o.Items[0].Id: {Key: "renders/x.png"}}); err != nil {
		t.Fatal(err)
	}
	return o
}

func code(err error) codes.Code { return status.Code(err) }

// Two packages: PARTIALLY_SHIPPED after the first, SHIPPED after the
// second; the order and ListShipments show each package's items, and each
// package's OrderShipped carries only its own items.
func TestTwoPackages(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "bob")
	s := testenv.Serve(t, f, testenv.Options{})
	o := inProduction(t, s, f)
	warehouse := s.As("warehouse-1", []string{principal.RoleFulfillment}, "")
	a, b := o.Items[0].Id, o.Items[1].Id

	p1, err := s.Client.CreateShipment(warehouse, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "UPS", TrackingNumber: "1ZA",
		Items: []*ordersv1.ShipmentItem{{ItemId: a, Quantity: 1}, {ItemId: b, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != ordersv1.OrderStatus_ORDER_STATUS_PARTIALLY_SHIPPED || got.Items[0].ShippedQuantity != 1 || got.Items[1].ShippedQuantity != 1 ||
		p1.Status != ordersv1.ShipmentStatus_SHIPMENT_STATUS_IN_TRANSIT || len(p1.Items) != 2 {
		t.Fatalf("after the first package: %s, shipped %d/%d, package %v", got.Status, got.Items[0].ShippedQuantity, got.Items[1].ShippedQuantity, p1)
	}
	// Over-shipping and an item shipped in full are refused, nothing stored.
	for _, items := range [][]*ordersv1.ShipmentItem{{{ItemId: a, Quantity: 2}}, {{ItemId: b, Quantity: 1}}, {{ItemId: uuid.NewString(), Quantity: 1}}} {
		if _, err := s.Client.CreateShipment(warehouse, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "UPS", TrackingNumber: "1ZX", Items: items}); code(err) != codes.InvalidArgument {
			t.Fatalf("ship %v: %v, want INVALID_ARGUMENT", items, err)
		}
	}
	p2, err := s.Client.CreateShipment(warehouse, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "DHL", TrackingNumber: "JD1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Items) != 1 || p2.Items[0].ItemId != a || p2.Items[0].Quantity != 1 {
		t.Fatalf("the second package takes what is left: %v", p2.Items)
	}
	list, err := s.Client.ListShipments(s.User("alice", ""), &ordersv1.ListShipmentsRequest{OrderId: o.Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Shipments) != 2 || list.Shipments[0].Id != p1.Id || list.Shipments[1].Id != p2.Id || len(list.Shipments[0].Items) != 2 {
		t.Fatalf("shipments %v", list.Shipments)
	}
	if _, err := s.Client.ListShipments(warehouse, &ordersv1.ListShipmentsRequest{OrderId: o.Id}); err != nil {
		t.Fatalf("fulfillment lists: %v", err)
	}
	if _, err := s.Client.ListShipments(s.User("bob", ""), &ordersv1.ListShipmentsRequest{OrderId: o.Id}); code(err) != codes.NotFound {
		t.Fatalf("another user lists: %v", err)
	}
	got, _ = s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id})
	if got.Status != ordersv1.OrderStatus_ORDER_STATUS_SHIPPED || got.Items[0].ShippedQuantity != 2 {
		t.Fatalf("after the second package: %s", got.Status)
	}
	if n := testenv.Count(t, s.Pool, "shipment_items", "shipment_id = $1", p1.Id); n != 2 {
		t.Fatalf("%d items stored for the first package", n)
	}
	// One OrderShipped per package, each with its own items only.
	rows, err := s.Pool.Query(context.Background(), `SELECT payload FROM outbox WHERE type = $1 ORDER BY seq`, eventsv1.KeyOrderShipped)
	if err != nil {
		t.Fatal(err)
	}
	var shipped []*eventsv1.OrderShipped
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		ev := &eventsv1.OrderShipped{}
		if err := proto.Unmarshal(b, ev); err != nil {
			t.Fatal(err)
		}
		shipped = append(shipped, ev)
	}
	if rows.Err() != nil || len(shipped) != 2 || shipped[0].ShipmentId != p1.Id || shipped[1].ShipmentId != p2.Id ||
		len(shipped[0].Items) != 2 || shipped[0].Items[0].Quantity != 1 || shipped[0].Items[1].Quantity != 1 ||
		len(shipped[1].Items) != 1 || shipped[1].Items[0].ItemId != a || shipped[1].Items[0].Quantity != 1 {
		t.Fatalf("OrderShipped events %v (%v)", shipped, rows.Err())
	}

	// A user cannot deliver; fulfillment can, once or twice alike.
	if _, err := s.Client.DeliverShipment(s.User("alice", ""), &ordersv1.DeliverShipmentRequest{OrderId: o.Id, ShipmentId: p2.Id}); code(err) != codes.PermissionDenied {
		t.Fatalf("owner delivers: %v", err)
	}
	d1, err := s.Client.DeliverShipment(warehouse, &ordersv1.DeliverShipmentRequest{OrderId: o.Id, ShipmentId: p2.Id})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.Client.DeliverShipment(warehouse, &ordersv1.DeliverShipmentRequest{OrderId: o.Id, ShipmentId: p2.Id})
	if err != nil || !d2.DeliveredAt.AsTime().Equal(d1.DeliveredAt.AsTime()) {
		t.Fatalf("deliver again: %v %v", d2, err)
	}
	if got, _ := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id}); got.Status != ordersv1.OrderStatus_ORDER_STATUS_SHIPPED {
		t.Fatalf("one of two delivered: %s", got.Status)
	}
	if _, err := s.Client.DeliverShipment(warehouse, &ordersv1.DeliverShipmentRequest{OrderId: o.Id, ShipmentId: p1.Id}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id}); got.Status != ordersv1.OrderStatus_ORDER_STATUS_DELIVERED {
		t.Fatalf("both delivered: %s", got.Status)
	}
}

// Carrier updates: found by carrier (case and spaces ignored) and tracking
// number; applied once per event id (a repeat answers the first); an older
// update than the last applied changes nothing; only the gateway records
// them; an unknown tracking number is NOT_FOUND.
func TestCarrierUpdates(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	o := inProduction(t, s, f)
	warehouse := s.As("warehouse-1", []string{principal.RoleFulfillment}, "")
	sh, err := s.Client.CreateShipment(warehouse, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "UPS", TrackingNumber: "1ZC"})
	if err != nil {
		t.Fatal(err)
	}
	gateway := s.As(principal.SubjectGateway, []string{principal.RoleService}, "")
	base := time.Now().Add(-time.Hour).UTC()
	update := func(ctx context.Context, event, carrier string, st ordersv1.ShipmentStatus, at time.Time) (*ordersv1.RecordCarrierUpdateResponse, error) {
		return s.Client.RecordCarrierUpdate(ctx, &ordersv1.RecordCarrierUpdateRequest{EventId: event, Carrier: carrier,
			TrackingNumber: "1ZC", Status: st, OccurredAt: timestamppb.New(at)})
	}
	for _, caller := range []context.Context{s.User("alice", ""), warehouse, s.As("service:orders-worker", []string{principal.RoleService}, "")} {
		if _, err := update(caller, "e0", "UPS", ordersv1.ShipmentStatus_SHIPMENT_STATUS_DELIVERED, base); code(err) != codes.PermissionDenied {
			t.Fatalf("not the gateway: %v", err)
		}
	}
	r, err := update(gateway, "e1", " ups ", ordersv1.ShipmentStatus_SHIPMENT_STATUS_OUT_FOR_DELIVERY, base.Add(2*time.Minute))
	if err != nil || r.ShipmentId != sh.Id || r.OrderId != o.Id || r.Status != ordersv1.ShipmentStatus_SHIPMENT_STATUS_OUT_FOR_DELIVERY {
		t.Fatalf("e1: %v %v", r, err)
	}
	// The same event again, even with another status: the first answer.
	r, err = update(gateway, "e1", "UPS", ordersv1.ShipmentStatus_SHIPMENT_STATUS_EXCEPTION, base.Add(3*time.Minute))
	if err != nil || r.Status != ordersv1.ShipmentStatus_SHIPMENT_STATUS_OUT_FOR_DELIVERY {
		t.Fatalf("e1 again: %v %v", r, err)
	}
	// Older than the last applied: ignored, recorded, answered as is.
	r, err = update(gateway, "e2", "UPS", ordersv1.ShipmentStatus_SHIPMENT_STATUS_IN_TRANSIT, base.Add(time.Minute))
	if err != nil || r.Status != ordersv1.ShipmentStatus_SHIPMENT_STATUS_OUT_FOR_DELIVERY {
		t.Fatalf("older update: %v %v", r, err)
	}
	if n := testenv.Count(t, s.Pool, "carrier_updates", ""); n != 2 {
		t.Fatalf("%d carrier updates recorded, want 2", n)
	}
	if _, err := s.Client.RecordCarrierUpdate(gateway, &ordersv1.RecordCarrierUpdateRequest{EventId: "e3", Carrier: "UPS",
		TrackingNumber: "NOPE", Status: ordersv1.ShipmentStatus_SHIPMENT_STATUS_DELIVERED, OccurredAt: timestamppb.Now()}); code(err) != codes.NotFound {
		t.Fatalf("unknown tracking number: %v", err)
	}
	if _, err := update(gateway, "e4", "FedEx", ordersv1.ShipmentStatus_SHIPMENT_STATUS_DELIVERED, base); code(err) != codes.NotFound {
		t.Fatalf("another carrier's tracking number: %v", err)
	}
	// Concurrent repeats of one DELIVERED event: applied once.
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := update(gateway, "e5", "UPS", ordersv1.ShipmentStatus_SHIPMENT_STATUS_DELIVERED, base.Add(5*time.Minute)); err != nil && code(err) != codes.Aborted {
				t.Errorf("e5: %v %v", r, err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id})
	if got.Status != ordersv1.OrderStatus_ORDER_STATUS_DELIVERED || !got.Shipments[0].DeliveredAt.AsTime().Equal(base.Add(5*time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("order %s, package %v", got.Status, got.Shipments[0])
	}
	if n := testenv.Count(t, s.Pool, "order_events", "order_id = $1 AND type = 'shipment.delivered'", o.Id); n != 1 {
		t.Fatalf("%d deliveries on the timeline", n)
	}
	// DELIVERED is final: a later status changes nothing.
	if r, err := update(gateway, "e6", "UPS", ordersv1.ShipmentStatus_SHIPMENT_STATUS_EXCEPTION, base.Add(10*time.Minute)); err != nil || r.Status != ordersv1.ShipmentStatus_SHIPMENT_STATUS_DELIVERED {
		t.Fatalf("after delivery: %v %v", r, err)
	}
}

// Concurrent packages of one order cannot ship more than was ordered: the
// order row's compare-and-set queues them.
func TestConcurrentShipmentsCannotOverShip(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	o := inProduction(t, s, f)
	warehouse := s.As("warehouse-1", []string{principal.RoleFulfillment}, "")
	a := o.Items[0].Id // 2 units
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Client.CreateShipment(warehouse, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "UPS",
				TrackingNumber: "1ZP" + string(rune('A'+i)), Items: []*ordersv1.ShipmentItem{{ItemId: a, Quantity: 1}}})
			switch code(err) {
			case codes.OK:
				mu.Lock()
				ok++
				mu.Unlock()
			case codes.InvalidArgument:
			default:
				t.Errorf("ship: %v", err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id})
	if ok != 2 || got.Items[0].ShippedQuantity != 2 || len(got.Shipments) != 2 {
		t.Fatalf("%d packages accepted, %d units shipped of 2", ok, got.Items[0].ShippedQuantity)
	}
	if n := testenv.Count(t, s.Pool, "shipment_items", "item_id = $1", a); n != 2 {
		t.Fatalf("%d package items stored", n)
	}
}
