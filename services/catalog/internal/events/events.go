// Package events turns catalog changes into the fleet's event messages
// (proto/printfleet/events/v1) as outbox rows. The use cases call it inside
// the transaction that makes the change; the routing keys are eventsv1's.
package events

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/outbox"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// ProductChanged announces a product's new version; the projector reads the
// product back from PostgreSQL, so the event carries no more than that.
func ProductChanged(productID string, version int64) outbox.Event {
	return outbox.Event{Type: eventsv1.KeyProductChanged, Payload: &eventsv1.ProductChanged{ProductId: productID, Version: version}}
}

// StockReserved tells orders that every item of the order is held.
func StockReserved(orderID, reservationID string) outbox.Event {
	return outbox.Event{Type: eventsv1.KeyStockReserved, Payload: &eventsv1.StockReserved{OrderId: orderID, ReservationId: reservationID}}
}

// StockRejected tells orders why nothing was reserved.
func StockRejected(orderID string, r domain.Rejection) outbox.Event {
	return outbox.Event{Type: eventsv1.KeyStockRejected, Payload: &eventsv1.StockRejected{
		OrderId: orderID, Reason: r.Reason, VariantId: r.VariantID}}
}

// DesignUploaded asks the image worker to validate an uploaded design
// against every placement it may be printed on.
func DesignUploaded(d domain.Design, bucket string, placements []domain.Placement) outbox.Event {
	ev := &eventsv1.DesignUploaded{DesignId: d.ID, OwnerId: d.OwnerID, Bucket: bucket, ObjectKey: d.ObjectKey,
		ContentType: d.ContentType, SizeBytes: d.SizeBytes}
	for _, p := range placements {
		ev.Placements = append(ev.Placements, &eventsv1.PlacementSpec{PlacementId: p.ID, Name: p.Name, WidthIn: p.WidthIn,
			HeightIn: p.HeightIn, MinDpi: p.MinDPI, RecommendedDpi: p.RecommendedDPI, Technique: p.Technique})
	}
	return outbox.Event{Type: eventsv1.KeyDesignUploaded, Payload: ev}
}

// MarketplaceWebhookReceived hands a verified, first-seen webhook delivery
// of a store to the importer, with the marketplace's raw body.
func MarketplaceWebhookReceived(w domain.Webhook) outbox.Event {
	ev := &eventsv1.MarketplaceWebhookReceived{StoreId: w.StoreID, Marketplace: string(w.Marketplace), Topic: w.Topic,
		WebhookId: w.ID, Body: w.Body, ReceivedAt: timestamppb.New(w.ReceivedAt)}
	if !w.TriggeredAt.IsZero() {
		ev.TriggeredAt = timestamppb.New(w.TriggeredAt)
	}
	return outbox.Event{Type: eventsv1.KeyMarketplaceWebhookReceived, Payload: ev}
}
