// Package events turns order changes into the fleet's event messages
// (proto/printfleet/events/v1) as outbox rows, each under its routing key
// from eventsv1, so that the use cases in app publish events without
// importing proto.
package events

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/outbox"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

func money(m domain.Money) *typesv1.Money {
	return &typesv1.Money{Currency: m.Currency(), AmountMinor: m.Amount()}
}

func placedItems(o *domain.Order) []*eventsv1.OrderPlacedItem {
	var out []*eventsv1.OrderPlacedItem
	for _, it := range o.Items() {
		f := it.Fields()
		out = append(out, &eventsv1.OrderPlacedItem{
			ItemId: f.ID, VariantId: f.VariantID, ProductId: f.ProductID, Quantity: f.Quantity,
			DesignId: f.DesignID, PlacementId: f.PlacementID, Sku: f.SKU, ExternalItemId: f.ExternalItemID,
		})
	}
	return out
}

// OrderPlaced announces a new order (catalog reserves stock on it). An
// order with a coupon goes under its own routing key, the only one pricing
// binds to count the coupon's uses.
func OrderPlaced(o *domain.Order) outbox.Event {
	key := eventsv1.KeyOrderPlaced
	if o.CouponCode() != "" {
		key = eventsv1.KeyOrderPlacedCoupon
	}
	return outbox.Event{Type: key, Payload: &eventsv1.OrderPlaced{
		OrderId: o.ID(), UserId: o.UserID(), Items: placedItems(o), Total: money(o.Total()),
		StoreId: o.StoreID(), PlacedAt: timestamppb.New(o.CreatedAt()), CouponCode: o.CouponCode(),
	}}
}

// StatusChanged announces a transition of an order with a marketplace
// store; for any other order it is the zero Event, which app leaves out (the
// marketplace worker, its only consumer, has nothing to do without a store).
// It is built inside a store update, before the compare-and-set bumps the
// version by one: Version is the version the change commits as.
func StatusChanged(o *domain.Order, from domain.Status) outbox.Event {
	if o.StoreID() == "" {
		return outbox.Event{}
	}
	return outbox.Event{Type: eventsv1.KeyOrderStatusChanged, Payload: &eventsv1.OrderStatusChanged{
		OrderId: o.ID(), FromStatus: StatusName(from), ToStatus: StatusName(o.Status()),
		StoreId: o.StoreID(), ExternalOrderId: o.ExternalOrderID(), Version: o.Version() + 1,
	}}
}

// StatusName is the proto enum name of s (ORDER_STATUS_PAID, ...).
func StatusName(s domain.Status) string { return ordersv1.OrderStatus(s).String() }

// OrderPaid asks the image worker to render the print files. It is
// published only for an order with something to render (NeedsRender).
func OrderPaid(o *domain.Order) outbox.Event {
	var render []*eventsv1.RenderItem
	for _, it := range o.Items() {
		f := it.Fields()
		if f.DesignID == "" || f.Placement == nil {
			continue
		}
		p := f.Placement
		render = append(render, &eventsv1.RenderItem{
			ItemId: f.ID, DesignId: f.DesignID, DesignKey: f.DesignKey, ProductId: f.ProductID,
			Placement: &eventsv1.PlacementSpec{
				PlacementId: p.PlacementID, Name: p.Name, WidthIn: p.WidthIn, HeightIn: p.HeightIn,
				MinDpi: p.MinDPI, RecommendedDpi: p.RecommendedDPI, Technique: p.Technique,
			},
		})
	}
	return outbox.Event{Type: eventsv1.KeyOrderPaid, Payload: &eventsv1.OrderPaid{
		OrderId: o.ID(), UserId: o.UserID(), PaymentId: o.PaymentID(), Amount: money(o.Total()),
		RenderItems: render,
	}}
}

// NeedsRender reports whether a paid order waits for print files (OrderPaid
// → images → PrintFilesReady); an order of blanks goes to production at once.
func NeedsRender(o *domain.Order) bool { return o.HasDesigns() }

// PaymentFailed makes the catalog release the reservation.
func PaymentFailed(o *domain.Order, reason string) outbox.Event {
	return outbox.Event{Type: eventsv1.KeyPaymentFailed, Payload: &eventsv1.PaymentFailed{OrderId: o.ID(), Reason: reason}}
}

// OrderCancelled makes the catalog release the reservation and the orders
// worker refund a paid order.
func OrderCancelled(o *domain.Order, reason string, wasPaid, stockReserved bool) outbox.Event {
	return outbox.Event{Type: eventsv1.KeyOrderCancelled, Payload: &eventsv1.OrderCancelled{
		OrderId: o.ID(), Reason: reason, WasPaid: wasPaid, StockReserved: stockReserved,
	}}
}

// OrderShipped lets the marketplace worker push one package's tracking to
// the store: it carries only that package's items, each with the quantity
// in the package.
func OrderShipped(o *domain.Order, s domain.Shipment) outbox.Event {
	f := s.Fields()
	in := make(map[string]int32, len(f.Items))
	for _, si := range f.Items {
		in[si.ItemID] = si.Quantity
	}
	var items []*eventsv1.OrderPlacedItem
	for _, it := range placedItems(o) {
		if q, ok := in[it.GetItemId()]; ok {
			it.Quantity = q
			items = append(items, it)
		}
	}
	return outbox.Event{Type: eventsv1.KeyOrderShipped, Payload: &eventsv1.OrderShipped{
		OrderId: o.ID(), UserId: o.UserID(), ShipmentId: f.ID, Carrier: f.Carrier,
		TrackingNumber: f.TrackingNumber, TrackingUrl: f.TrackingURL, StoreId: o.StoreID(),
		ExternalOrderId: o.ExternalOrderID(), ShippedAt: timestamppb.New(f.CreatedAt), Items: items,
	}}
}
