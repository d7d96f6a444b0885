// Package amqpapi is the marketplace worker's message side: it decodes the
// deliveries of the marketplace.push queue (OrderShipped, OrderStatusChanged)
// and hands them to the use case. A body that does not decode, ids that
// cannot name a receipt and unexpected message types are dead-lettered at
// once; everything else that fails is retried by the broker (with backoff)
// and dead-lettered after the queue's delivery limit.
package amqpapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// RoutingKeys are bound to the worker's queue (eventsv1.QueueMarketplacePush).
var RoutingKeys = []string{eventsv1.KeyOrderShipped, eventsv1.KeyOrderStatusChanged}

// Handler returns the consumer's handler: nil acks, an error retries with
// backoff (then dead-letters), amqp.Permanent dead-letters at once.
func Handler(s *app.Service) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error { return handle(ctx, s, d) }
}

func decode(d amqp.Delivery, m proto.Message) error {
	if err := proto.Unmarshal(d.Body, m); err != nil {
		return amqp.Permanent(fmt.Errorf("decode %s %s: %w", d.Type, d.ID, err))
	}
	return nil
}

func handle(ctx context.Context, s *app.Service, d amqp.Delivery) error {
	switch d.Type {
	case eventsv1.KeyOrderShipped:
		var m eventsv1.OrderShipped
		if err := decode(d, &m); err != nil {
			return err
		}
		err := s.PushShipment(ctx, toDomainPush(d, &m))
		if errors.Is(err, domain.ErrInvalidRequest) {
			// A producer bug, not something a retry fixes: park it in the .dlq.
			return amqp.Permanent(fmt.Errorf("OrderShipped %s: %w", d.ID, err))
		}
		return err
	case eventsv1.KeyOrderStatusChanged:
		var m eventsv1.OrderStatusChanged
		if err := decode(d, &m); err != nil {
			return err
		}
		return s.StatusChanged(ctx, app.StatusChange{OrderID: m.GetOrderId(), StoreID: m.GetStoreId(),
			Cancelled: m.GetToStatus() == ordersv1.OrderStatus_ORDER_STATUS_CANCELLED.String()})
	}
	return amqp.Permanent(fmt.Errorf("unexpected message type %q", d.Type))
}

func toDomainPush(d amqp.Delivery, m *eventsv1.OrderShipped) domain.PushRequest {
	return domain.PushRequest{StoreID: m.GetStoreId(), UserID: m.GetUserId(), Shipment: toDomainShipment(m),
		MessageID: d.ID, DeliveryAttempt: d.Attempt}
}

// toDomainShipment maps the event to what the adapters push. The
// marketplace's own order id is the order's external_order_id.
func toDomainShipment(ev *eventsv1.OrderShipped) domain.Shipment {
	s := domain.Shipment{
		ShipmentID:      ev.GetShipmentId(),
		OrderID:         ev.GetOrderId(),
		ExternalOrderID: ev.GetExternalOrderId(),
		Carrier:         ev.GetCarrier(),
		TrackingNumber:  ev.GetTrackingNumber(),
		TrackingURL:     ev.GetTrackingUrl(),
	}
	if ts := ev.GetShippedAt(); ts != nil && ts.IsValid() {
		s.ShippedAt = ts.AsTime()
	}
	for _, it := range ev.GetItems() {
		// The marketplace's own line item id when the order was imported;
		// ours otherwise (marketplaces that need theirs then refuse the push
		// as a permanent validation error, recorded on the timeline).
		external := it.GetExternalItemId()
		if external == "" {
			external = it.GetItemId()
		}
		s.Items = append(s.Items, domain.Item{ExternalID: external, SKU: it.GetSku(), Quantity: int(it.GetQuantity())})
	}
	return s
}
