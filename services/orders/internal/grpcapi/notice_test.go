package grpcapi_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/events"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

func webhooksCtx(s *testenv.Server) context.Context {
	return s.As(principal.SubjectWebhooks, []string{principal.RoleService}, "")
}

func subscribe(t *testing.T, s *testenv.Server, user string, on bool) {
	t.Helper()
	if _, err := s.Client.SetWebhookSubscriber(webhooksCtx(s), &ordersv1.SetWebhookSubscriberRequest{UserId: user, Subscribed: on}); err != nil {
		t.Fatal(err)
	}
}

// notices reads the order notices the outbox holds for orderID, oldest
// first.
func notices(t *testing.T, s *testenv.Server, orderID string) []*eventsv1.OrderNotice {
	t.Helper()
	rows, err := s.Pool.Query(context.Background(), `SELECT payload FROM outbox WHERE type = $1 ORDER BY seq`, eventsv1.KeyOrderNotice)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*eventsv1.OrderNotice
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		n := &eventsv1.OrderNotice{}
		if err := proto.Unmarshal(b, n); err != nil {
			t.Fatal(err)
		}
		if n.GetOrder().GetId() == orderID {
			out = append(out, n)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// expectNotices checks that orderID's notices since the first `seen` are
// of types want, and that the last one shows the order exactly as GetOrder
// answers now; it returns the new notices.
func expectNotices(t *testing.T, s *testenv.Server, orderID string, seen int, want ...string) []*eventsv1.OrderNotice {
	t.Helper()
	all := notices(t, s, orderID)
	if len(all) != seen+len(want) {
		t.Fatalf("order %s: %d notices, want %d then %v", orderID, len(all), seen, want)
	}
	got := all[seen:]
	for i, n := range got {
		if n.GetType() != want[i] {
			t.Fatalf("notice %d is %s, want %s", seen+i, n.GetType(), want[i])
		}
		if !n.GetOccurredAt().AsTime().Equal(n.GetOrder().GetUpdatedAt().AsTime()) {
			t.Errorf("%s: occurred_at %v, the order's updated_at %v", n.GetType(), n.GetOccurredAt().AsTime(), n.GetOrder().GetUpdatedAt().AsTime())
		}
	}
	if len(got) > 0 {
		now, err := s.Client.GetOrder(s.As("root", []string{principal.RoleAdmin}, ""), &ordersv1.GetOrderRequest{OrderId: orderID})
		if err != nil {
			t.Fatal(err)
		}
		if last := got[len(got)-1]; !proto.Equal(last.GetOrder(), now) {
			t.Fatalf("%s: the notice shows\n%v\nGetOrder answers\n%v", last.GetType(), last.GetOrder(), now)
		}
	}
	return got
}

// Every change of a subscriber's order writes its notice, in the change's
// transaction, showing the order as GetOrder does right after it; a
// non-subscriber's orders write none.
func TestOrderNoticesFollowEveryTransition(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "bob")
	s := testenv.Serve(t, f, testenv.Options{})
	ctx := context.Background()
	subscribe(t, s, "alice", true)
	subscribe(t, s, "alice", true) // idempotent
	w := testenv.NewWorker(t, s.Store, nil)
	fulfillment := s.As("warehouse-1", []string{principal.RoleFulfillment}, "")

	// An order with a design: created, paid, in production, shipped.
	o, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if n := expectNotices(t, s, o.Id, 0, events.NoticeCreated); n[0].GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING {
		t.Fatalf("created: %v", n[0].GetOrder().GetStatus())
	}
	if err := w.StockReserved(ctx, uuid.NewString(), o.Id); err != nil {
		t.Fatal(err)
	}
	if n := expectNotices(t, s, o.Id, 1, events.NoticePaid); n[0].GetOrder().GetPaymentId() == "" {
		t.Fatal("paid notice without the payment")
	}
	if err := w.PrintFilesReady(ctx, uuid.NewString(), o.Id, map[string]domain.PrintFile{o.Items[0].Id: {Key: "renders/x.png"}}); err != nil {
		t.Fatal(err)
	}
	expectNotices(t, s, o.Id, 2, events.NoticeInProduction)
	sh, err := s.Client.CreateShipment(fulfillment, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "UPS", TrackingNumber: "1Z1"})
	if err != nil {
		t.Fatal(err)
	}
	shipped := expectNotices(t, s, o.Id, 3, events.NoticeShipped)[0]
	if len(sh.GetItems()) != 2 || !proto.Equal(shipped.GetShipment(), sh) || !proto.Equal(shipped.GetOrder().GetShipments()[0], sh) {
		t.Fatalf("shipment %v; notice's %v", sh, shipped.GetShipment())
	}
	for i, it := range o.Items {
		if got := sh.GetItems()[i]; got.GetItemId() != it.Id || got.GetQuantity() != it.Quantity {
			t.Fatalf("shipment item %d: %v, want %s × %d", i, got, it.Id, it.Quantity)
		}
	}
	// Delivering the only package delivers the order: its notice carries
	// the package.
	if _, err := s.Client.DeliverShipment(fulfillment, &ordersv1.DeliverShipmentRequest{OrderId: o.Id, ShipmentId: sh.GetId()}); err != nil {
		t.Fatal(err)
	}
	delivered := expectNotices(t, s, o.Id, 4, events.NoticeDelivered)[0]
	if delivered.GetShipment().GetId() != sh.GetId() || delivered.GetShipment().GetStatus() != ordersv1.ShipmentStatus_SHIPMENT_STATUS_DELIVERED ||
		delivered.GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_DELIVERED {
		t.Fatalf("delivered notice %v", delivered)
	}

	// A blank order goes from PENDING to IN_PRODUCTION in one transaction:
	// the paid notice shows it PAID, the next IN_PRODUCTION.
	blank := f.Request("alice")
	blank.Items = blank.Items[1:]
	b, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), blank)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.StockReserved(ctx, uuid.NewString(), b.Id); err != nil {
		t.Fatal(err)
	}
	if n := expectNotices(t, s, b.Id, 1, events.NoticePaid, events.NoticeInProduction); n[0].GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PAID ||
		n[0].GetOrder().GetVersion() != n[1].GetOrder().GetVersion() {
		t.Fatalf("paid notice shows %v (version %d), the next version %d", n[0].GetOrder().GetStatus(), n[0].GetOrder().GetVersion(), n[1].GetOrder().GetVersion())
	}

	// Paid, cancelled, refunded: the refund carries the amount.
	c, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.StockReserved(ctx, uuid.NewString(), c.Id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: c.Id}); err != nil {
		t.Fatal(err)
	}
	expectNotices(t, s, c.Id, 2, events.NoticeCancelled)
	if err := w.OrderCancelled(ctx, uuid.NewString(), c.Id, true); err != nil {
		t.Fatal(err)
	}
	refund := expectNotices(t, s, c.Id, 3, events.NoticeRefunded)[0]
	if !proto.Equal(refund.GetRefund(), c.GetTotal()) || refund.GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Fatalf("refund %v, want %v", refund.GetRefund(), c.GetTotal())
	}

	// Declined, and rejected for stock.
	declined, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.NewWorker(t, s.Store, &testenv.Payments{Decline: true}).StockReserved(ctx, uuid.NewString(), declined.Id); err != nil {
		t.Fatal(err)
	}
	expectNotices(t, s, declined.Id, 1, events.NoticePaymentFailed)
	rejected, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.StockRejected(ctx, uuid.NewString(), rejected.Id, "out of stock", f.VariantA); err != nil {
		t.Fatal(err)
	}
	expectNotices(t, s, rejected.Id, 1, events.NoticeRejected)

	// An import held at once: created, then on hold.
	held := mustImport(t, s, importReq(f.StoreOf("alice"), "9001"), ordersv1.ImportOutcome_IMPORT_OUTCOME_HELD)
	if n := notices(t, s, held.Id); len(n) != 2 || n[0].GetType() != events.NoticeCreated || n[1].GetType() != events.NoticeOnHold ||
		n[1].GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_ON_HOLD || n[1].GetOrder().GetHoldReason() == "" {
		t.Fatalf("held import: %v", n)
	}

	// bob has no subscription; alice no longer has one.
	before := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderNotice)
	bobs, err := s.Client.CreateOrder(s.User("bob", uuid.NewString()), f.Request("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.StockReserved(ctx, uuid.NewString(), bobs.Id); err != nil {
		t.Fatal(err)
	}
	subscribe(t, s, "alice", false)
	subscribe(t, s, "alice", false) // idempotent
	if _, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice")); err != nil {
		t.Fatal(err)
	}
	if n := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderNotice); n != before {
		t.Fatalf("%d notices written for owners without a subscription", n-before)
	}
	if n := testenv.Count(t, s.Pool, "webhook_subscribers", ""); n != 0 {
		t.Fatalf("%d subscribers left", n)
	}
}

// Only the webhooks service marks subscribers.
func TestSetWebhookSubscriberIsTheWebhooksServicesAlone(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	req := &ordersv1.SetWebhookSubscriberRequest{UserId: "alice", Subscribed: true}
	for name, ctx := range map[string]context.Context{
		"the user":           s.User("alice", ""),
		"admin":              s.As("root", []string{principal.RoleAdmin}, ""),
		"another service":    s.As(principal.SubjectMarketplaceWorker, []string{principal.RoleService}, ""),
		"webhooks, not role": s.As(principal.SubjectWebhooks, []string{principal.RoleUser}, ""),
	} {
		if _, err := s.Client.SetWebhookSubscriber(ctx, req); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: %v, want PERMISSION_DENIED", name, err)
		}
	}
	if _, err := s.Client.SetWebhookSubscriber(s.As("", nil, ""), req); status.Code(err) != codes.Unauthenticated {
		t.Errorf("anonymous: %v, want UNAUTHENTICATED", err)
	}
	if n := testenv.Count(t, s.Pool, "webhook_subscribers", ""); n != 0 {
		t.Fatalf("a refused call marked %d subscribers", n)
	}
	if _, err := s.Client.SetWebhookSubscriber(webhooksCtx(s), &ordersv1.SetWebhookSubscriberRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no user: %v, want INVALID_ARGUMENT", err)
	}
	subscribe(t, s, "alice", true)
	if n := testenv.Count(t, s.Pool, "webhook_subscribers", "user_id = 'alice'"); n != 1 {
		t.Fatalf("%d subscriber rows, want 1", n)
	}
}

// A charge captured after the order was cancelled is refunded, and the
// refund announced with its amount.
func TestALateCapturesRefundIsAnnounced(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	subscribe(t, s, "alice", true)
	o, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	pay := &testenv.CancellingPayments{Cancel: func(id string) {
		if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: id}); err != nil {
			t.Error(err)
		}
	}}
	if err := testenv.NewWorker(t, s.Store, pay).StockReserved(context.Background(), uuid.NewString(), o.Id); err != nil {
		t.Fatal(err)
	}
	n := expectNotices(t, s, o.Id, 0, events.NoticeCreated, events.NoticeCancelled, events.NoticeRefunded)
	if !proto.Equal(n[2].GetRefund(), o.GetTotal()) || n[2].GetOrder().GetPaymentId() == "" {
		t.Fatalf("refund notice %v", n[2])
	}
}
