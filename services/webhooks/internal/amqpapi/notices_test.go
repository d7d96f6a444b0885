package amqpapi

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/amqp"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
)

type recorder struct{ got []app.Notice }

func (r *recorder) Fanout(_ context.Context, n app.Notice) (int, error) {
	r.got = append(r.got, n)
	return 1, nil
}

func render(t *testing.T, typ string, m proto.Message) map[string]any {
	t.Helper()
	var r recorder
	body, _ := proto.Marshal(m)
	if err := Handler(&r)(context.Background(), amqp.Delivery{ID: uuid.NewString(), Type: typ, Body: body}); err != nil {
		t.Fatal(err)
	}
	b, err := r.got[0].Render()
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return out
}

func TestRender(t *testing.T) {
	t.Parallel()
	at := timestamppb.New(time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC))
	refund := render(t, eventsv1.KeyOrderNotice, &eventsv1.OrderNotice{Type: "order.refunded", OccurredAt: at,
		Order: &ordersv1.Order{Id: "o", UserId: "u"}, Refund: &typesv1.Money{Currency: "EUR", AmountMinor: 500},
		Shipment: &ordersv1.Shipment{Id: "s"}})
	data := refund["data"].(map[string]any)
	if refund["created_at"] != "2026-12-03T09:30:00Z" || data["refund"].(map[string]any)["amount_minor"] != float64(500) || data["shipment"] != nil {
		t.Fatalf("refunded: %v", refund)
	}
	design := render(t, eventsv1.KeyDesignNotice, &eventsv1.DesignNotice{Type: "design.ready", OccurredAt: at,
		Design: &catalogv1.Design{Id: "d", OwnerId: "u"}})
	if design["data"].(map[string]any)["design"].(map[string]any)["id"] != "d" || design["type"] != "design.ready" {
		t.Fatalf("design: %v", design)
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	var r recorder
	h := Handler(&r)
	noOwner, _ := proto.Marshal(&eventsv1.OrderNotice{Type: "order.paid", Order: &ordersv1.Order{Id: "o"}})
	badType, _ := proto.Marshal(&eventsv1.OrderNotice{Type: "order.nope", Order: &ordersv1.Order{Id: "o", UserId: "u"}})
	for name, d := range map[string]amqp.Delivery{
		"garbage":  {ID: uuid.NewString(), Type: eventsv1.KeyOrderNotice, Body: []byte{0xff, 0xff}},
		"no owner": {ID: uuid.NewString(), Type: eventsv1.KeyOrderNotice, Body: noOwner},
		"bad type": {ID: uuid.NewString(), Type: eventsv1.KeyOrderNotice, Body: badType},
		"no uuid":  {ID: "x", Type: eventsv1.KeyOrderNotice, Body: noOwner},
		"unknown":  {ID: uuid.NewString(), Type: "orders.other.v1"},
	} {
		if err := h(context.Background(), d); !amqp.IsPermanent(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
