package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
)

// ListOrderDeliveries shows an admin or support operator every delivery
// of the notices about an order, across the owner's subscriptions, newest
// first, paged; users and anonymous callers are refused.
func TestListOrderDeliveries(t *testing.T) {
	t.Parallel()
	f := start(t)
	s := newSink(t)
	for range 2 {
		if _, err := f.client.CreateWebhook(as("user-a"), &webhooksv1.CreateWebhookRequest{Url: s.URL + "/hook",
			EventTypes: []string{"order.paid", "order.shipped"}}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := amqp.Dial(context.Background(), f.amqp.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pub := amqp.NewPublisher(conn)
	defer pub.Close()
	order, other := uuid.NewString(), uuid.NewString()
	for _, n := range []*eventsv1.OrderNotice{
		{Type: "order.paid", Order: &ordersv1.Order{Id: order, UserId: "user-a"}},
		{Type: "order.paid", Order: &ordersv1.Order{Id: other, UserId: "user-a"}},
		{Type: "order.shipped", Order: &ordersv1.Order{Id: order, UserId: "user-a"}, Shipment: &ordersv1.Shipment{Id: "s-1"}},
	} {
		body, _ := proto.Marshal(n)
		if err := pub.Publish(context.Background(), amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyOrderNotice, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	support := as("sam", principal.RoleSupport)
	var ds []*webhooksv1.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := f.client.ListOrderDeliveries(support, &webhooksv1.ListOrderDeliveriesRequest{OrderId: order})
		if err != nil {
			t.Fatal(err)
		}
		ds = res.GetDeliveries()
		if len(ds) >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(ds) != 4 {
		t.Fatalf("%d deliveries about the order, want 4 (two notices to two subscriptions)", len(ds))
	}
	for i := 1; i < len(ds); i++ {
		if ds[i].GetCreatedAt().AsTime().After(ds[i-1].GetCreatedAt().AsTime()) {
			t.Fatalf("not newest first: %v", ds)
		}
	}
	// Paged: two pages of 3 and 1, the same deliveries.
	p1, err := f.client.ListOrderDeliveries(as("ada", principal.RoleAdmin), &webhooksv1.ListOrderDeliveriesRequest{OrderId: order, PageSize: 3})
	if err != nil || len(p1.GetDeliveries()) != 3 || p1.GetNextPageToken() == "" {
		t.Fatalf("page 1: %v %v", p1, err)
	}
	p2, err := f.client.ListOrderDeliveries(as("ada", principal.RoleAdmin), &webhooksv1.ListOrderDeliveriesRequest{OrderId: order, PageSize: 3, PageToken: p1.GetNextPageToken()})
	if err != nil || len(p2.GetDeliveries()) != 1 || p2.GetNextPageToken() != "" || p2.Deliveries[0].GetId() != ds[3].GetId() {
		t.Fatalf("page 2: %v %v", p2, err)
	}
	for _, c := range []struct {
		who  string
		ctx  context.Context
		want codes.Code
	}{
		{"the owner", as("user-a"), codes.PermissionDenied},
		{"fulfillment", as("fred", principal.RoleFulfillment), codes.PermissionDenied},
		{"anonymous", context.Background(), codes.Unauthenticated},
	} {
		if _, err := f.client.ListOrderDeliveries(c.ctx, &webhooksv1.ListOrderDeliveriesRequest{OrderId: order}); status.Code(err) != c.want {
			t.Errorf("%s: %v, want %s", c.who, err, c.want)
		}
	}
}
