package amqpapi

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

func TestToDomainShipment(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	got := toDomainShipment(&eventsv1.OrderShipped{OrderId: "o", ShipmentId: "sh", ExternalOrderId: "902-1", Carrier: "UPS",
		TrackingNumber: "1Z", TrackingUrl: "https://t", ShippedAt: timestamppb.New(at),
		Items: []*eventsv1.OrderPlacedItem{{ItemId: "11", Sku: "A", Quantity: 2}, {ItemId: "12", Sku: "B", Quantity: 1}}})
	want := domain.Shipment{ShipmentID: "sh", OrderID: "o", ExternalOrderID: "902-1", Carrier: "UPS", TrackingNumber: "1Z",
		TrackingURL: "https://t", ShippedAt: at, Items: []domain.Item{{ExternalID: "11", SKU: "A", Quantity: 2}, {ExternalID: "12", SKU: "B", Quantity: 1}}}
	if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
		t.Fatalf("got %s\nwant %s", g, w)
	}
	if s := toDomainShipment(&eventsv1.OrderShipped{}); !s.ShippedAt.IsZero() {
		t.Fatal("no shipped_at must stay zero (the adapter uses now)")
	}
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
