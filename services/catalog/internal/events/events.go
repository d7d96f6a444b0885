// Package events turns catalog changes into the fleet's event messages
// (proto/printfleet/events/v1) as outbox rows. The use cases call it inside
// the transaction that makes the change; the routing keys are eventsv1's.
package events

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/outbox"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/designpb"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// ProductChanged announces a product's new version; the projector reads the
// product back from PostgreSQL, so the event carries no more than that.
func ProductChanged(productID string, version int64) outbox.Event {
	return outbox.Event{Type: eventsv1.KeyProductChanged, Payload: &eventsv1.ProductChanged{ProductId: productID, Version: version}}
}

// VariantPricesChanged announces the catalog price of every variant of p at
// its version, for pricing to keep as their default list prices.
func VariantPricesChanged(p domain.Product) outbox.Event {
	ev := &eventsv1.VariantPricesChanged{ProductId: p.ID, Version: p.Version}
	for _, v := range p.Variants {
		ev.Variants = append(ev.Variants, &eventsv1.VariantPrice{VariantId: v.ID, Sku: v.SKU,
			Price: &typesv1.Money{Currency: v.Price.Currency, AmountMinor: v.Price.AmountMinor}})
	}
	return outbox.Event{Type: eventsv1.KeyVariantPricesChanged, Payload: ev}
}

// PricesChanged reports whether next has a variant cur did not have or a
// variant whose price differs: then pricing must hear of it.
func PricesChanged(cur, next domain.Product) bool {
	old := make(map[string]domain.Money, len(cur.Variants))
	for _, v := range cur.Variants {
		old[v.ID] = v.Price
	}
	for _, v := range next.Variants {
		if p, ok := old[v.ID]; !ok || p != v.Price {
			return true
		}
	}
	return false
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

// The webhook event types of design notices.
const (
	NoticeDesignReady    = "design.ready"
	NoticeDesignRejected = "design.rejected"
)

// DesignNotice announces a design's verdict to its owner's webhooks: the
// design as GetDesign shows it, less the presigned URLs (they expire).
// Written for every design; verdicts are rare.
func DesignNotice(d domain.Design) outbox.Event {
	typ := NoticeDesignRejected
	if d.Status == domain.DesignReady {
		typ = NoticeDesignReady
	}
	return outbox.Event{Type: eventsv1.KeyDesignNotice, Payload: &eventsv1.DesignNotice{
		Type: typ, Design: designpb.Design(&d, "", ""), OccurredAt: timestamppb.New(d.UpdatedAt),
	}}
}
