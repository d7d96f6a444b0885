package events

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/outbox"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/orderpb"
	"github.com/printfleet/printfleet/services/orders/sqlstmt"
)

// The webhook event types of order notices.
const (
	NoticeCreated       = "order.created"
	NoticeOnHold        = "order.on_hold"
	NoticePaid          = "order.paid"
	NoticePaymentFailed = "order.payment_failed"
	NoticeRejected      = "order.rejected"
	NoticeInProduction  = "order.in_production"
	NoticeShipped       = "order.shipped"
	NoticeDelivered     = "order.delivered"
	NoticeCancelled     = "order.cancelled"
	NoticeRefunded      = "order.refunded"
)

// statusNotices maps a status an order enters to the notice announcing it;
// a status without one (CONFIRMED, PENDING after a hold) announces nothing.
var statusNotices = map[domain.Status]string{
	domain.StatusOnHold:        NoticeOnHold,
	domain.StatusPaid:          NoticePaid,
	domain.StatusPaymentFailed: NoticePaymentFailed,
	domain.StatusRejected:      NoticeRejected,
	domain.StatusInProduction:  NoticeInProduction,
	domain.StatusCancelled:     NoticeCancelled,
}

// StatusNotice is the notice of a transition from → o.Status(), built in
// the store update that commits it (the order shows the version the update
// commits as); the zero Event when the status entered has no notice or
// nothing moved. Packages announce shipping and delivery (ShipmentNotice).
func StatusNotice(o *domain.Order, from domain.Status) outbox.Event {
	typ, ok := statusNotices[o.Status()]
	if !ok || from == o.Status() {
		return outbox.Event{}
	}
	return gated(o, notice(o, typ, o.UpdatedAt(), o.Version()+1))
}

// ShipmentNotice announces a package, built in the store update that
// commits it: order.shipped for each package handed to a carrier,
// order.delivered with the package whose delivery made the order
// DELIVERED.
func ShipmentNotice(o *domain.Order, sh domain.Shipment, typ string) outbox.Event {
	n := notice(o, typ, o.UpdatedAt(), o.Version()+1)
	n.Shipment = orderpb.Shipment(o, sh)
	return gated(o, n)
}

// CreatedNotice announces a new order (placed, imported, or imported and
// held), as the create commits it.
func CreatedNotice(o *domain.Order) outbox.Event {
	return gated(o, notice(o, NoticeCreated, o.CreatedAt(), o.Version()))
}

// PlacedDraftNotice announces a draft just confirmed, in the store update
// that places it: subscribers hear of an order when it is placed, never of
// the draft before.
func PlacedDraftNotice(o *domain.Order) outbox.Event {
	return gated(o, notice(o, NoticeCreated, o.UpdatedAt(), o.Version()+1))
}

// HeldNotice announces a new order that is ON_HOLD from its creation.
func HeldNotice(o *domain.Order) outbox.Event {
	return gated(o, notice(o, NoticeOnHold, o.CreatedAt(), o.Version()))
}

// RefundedNotice announces a refund recorded in the store update that
// commits it, with the amount given back.
func RefundedNotice(o *domain.Order, amount domain.Money) outbox.Event {
	n := notice(o, NoticeRefunded, o.UpdatedAt(), o.Version()+1)
	n.Refund = money(amount)
	return gated(o, n)
}

// notice is o as GetOrder answers it once the change is committed as
// version.
func notice(o *domain.Order, typ string, at time.Time, version int64) *eventsv1.OrderNotice {
	po := orderpb.Order(o)
	po.Version = version
	return &eventsv1.OrderNotice{Type: typ, Order: po, OccurredAt: timestamppb.New(at)}
}

// gated writes the notice only for an owner who subscribed to webhooks
// (sqlstmt.SubscriberGate): the outbox's INSERT decides it in the change's
// own batch.
func gated(o *domain.Order, n *eventsv1.OrderNotice) outbox.Event {
	return outbox.Event{Type: eventsv1.KeyOrderNotice, Payload: n, Gate: sqlstmt.SubscriberGate(o.UserID())}
}
