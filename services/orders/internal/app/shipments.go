package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/events"
)

// ShipmentInput is a package to record.
type ShipmentInput struct {
	Carrier, TrackingNumber, TrackingURL string
	// Items are the order items in the package; empty: every item (and
	// quantity) not yet shipped.
	Items []domain.ShipmentItem
}

// fulfillmentCall checks that caller may change shipments (fulfillment or
// admin). A caller without the role learns nothing about orders that are
// not theirs (NOT_FOUND) and is refused with PERMISSION_DENIED on their own.
func (s *Service) fulfillmentCall(ctx context.Context, caller principal.Principal, orderID string) error {
	denied := caller.Require(principal.RoleFulfillment, principal.RoleAdmin)
	if errs.Is(denied, errs.Unauthenticated) {
		return denied
	}
	if !domain.IsUUID(orderID) {
		return errs.Field("order_id", "must be a UUID")
	}
	if denied != nil {
		if _, err := s.store.GetOrder(ctx, orderID, caller.Subject); err != nil {
			return err
		}
		return denied
	}
	return nil
}

// CreateShipment records one package of the order: its carrier, tracking
// number and items. The order is PARTIALLY_SHIPPED while anything is left
// to ship, SHIPPED once nothing is. The order row's compare-and-set makes
// concurrent packages of one order queue, so they cannot ship more than
// was ordered.
func (s *Service) CreateShipment(ctx context.Context, caller principal.Principal, orderID string, in ShipmentInput) (domain.Shipment, *domain.Order, error) {
	if err := s.fulfillmentCall(ctx, caller, orderID); err != nil {
		return domain.Shipment{}, nil, err
	}
	now := s.now()
	id := s.newID()
	sh, err := domain.NewShipment(domain.ShipmentFields{
		ID: id, Carrier: in.Carrier, TrackingNumber: in.TrackingNumber, TrackingURL: in.TrackingURL,
		CreatedAt: now, Items: in.Items,
	})
	if err != nil {
		return domain.Shipment{}, nil, err
	}
	o, err := s.update(ctx, orderID, UpdateOptions{}, func(o *domain.Order) (Change, error) {
		from := o.Status()
		if err := o.Ship(sh, now); err != nil {
			return Change{}, err
		}
		shipped, _ := o.Shipment(id)
		f := shipped.Fields()
		c := Change{
			Timeline: []domain.TimelineEntry{s.shipmentEntry(o, domain.EventShipmentCreated,
				"package handed to "+f.Carrier, map[string]string{
					"shipment_id": f.ID, "carrier": f.Carrier, "tracking_number": f.TrackingNumber,
					"items": itemsAttribute(f.Items),
				})},
			Events: []outboxEvent{events.OrderShipped(o, shipped), events.ShipmentNotice(o, shipped, events.NoticeShipped)},
		}
		s.moved(&c, o, from, shipped)
		c.Events = withIDs(s.newID, c.Events...)
		return c, nil
	})
	if err != nil {
		return domain.Shipment{}, nil, err
	}
	sh, _ = o.Shipment(id)
	s.log.InfoContext(ctx, "package shipped", "order_id", o.ID(), "shipment_id", id,
		"carrier", in.Carrier, "status", o.Status().String())
	return sh, o, nil
}

// moved adds the timeline entry and events of the order's status move
// from → o.Status(), if it moved; sh is the package that moved it.
func (s *Service) moved(c *Change, o *domain.Order, from domain.Status, sh domain.Shipment) {
	to := o.Status()
	if to == from {
		return
	}
	typ, msg := domain.EventShipped, "every item shipped"
	switch to {
	case domain.StatusPartiallyShipped:
		typ, msg = domain.EventPartiallyShipped, "some items shipped"
	case domain.StatusDelivered:
		typ, msg = domain.EventDelivered, "every package delivered"
		c.Events = append(c.Events, events.ShipmentNotice(o, sh, events.NoticeDelivered))
	}
	f := sh.Fields()
	c.Timeline = append(c.Timeline, transitionEntry(s.newID, o, from, typ, msg,
		map[string]string{"shipment_id": f.ID, "carrier": f.Carrier, "tracking_number": f.TrackingNumber}))
	c.Events = append(c.Events, events.StatusChanged(o, from))
}

// shipmentEntry is a timeline entry about a package (not a status move).
func (s *Service) shipmentEntry(o *domain.Order, typ, msg string, attrs map[string]string) domain.TimelineEntry {
	return domain.TimelineEntry{ID: s.newID(), OrderID: o.ID(), Type: typ, Message: msg, Attributes: attrs, CreatedAt: o.UpdatedAt()}
}

// itemsAttribute lists a package's items as "item_id:quantity,...".
func itemsAttribute(items []domain.ShipmentItem) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = fmt.Sprintf("%s:%d", it.ItemID, it.Quantity)
	}
	return strings.Join(parts, ",")
}

// ListShipments returns the order's packages, oldest first, to its owner,
// fulfillment, admins and support; to anyone else the order does not exist.
func (s *Service) ListShipments(ctx context.Context, caller principal.Principal, orderID string) (*domain.Order, error) {
	owner, err := readScope(caller)
	if err != nil {
		return nil, err
	}
	if caller.Has(principal.RoleFulfillment) {
		owner = "" // the people who pack and ship see every order's packages
	}
	return s.getOrder(ctx, owner, orderID)
}

// DeliverShipment records that a package arrived (now). The order is
// DELIVERED once nothing is left to ship and every package arrived.
// Delivering a delivered package answers it as it is.
func (s *Service) DeliverShipment(ctx context.Context, caller principal.Principal, orderID, shipmentID string) (domain.Shipment, *domain.Order, error) {
	if err := s.fulfillmentCall(ctx, caller, orderID); err != nil {
		return domain.Shipment{}, nil, err
	}
	if !domain.IsUUID(shipmentID) {
		return domain.Shipment{}, nil, errs.Field("shipment_id", "must be a UUID")
	}
	now := s.now()
	o, err := s.update(ctx, orderID, UpdateOptions{}, func(o *domain.Order) (Change, error) {
		return s.deliver(o, shipmentID, now, now, "package delivered, as recorded by fulfillment")
	})
	if err != nil {
		return domain.Shipment{}, nil, err
	}
	sh, _ := o.Shipment(shipmentID)
	return sh, o, nil
}

// deliver delivers package id of o at at, with its timeline and events.
func (s *Service) deliver(o *domain.Order, id string, at, now time.Time, msg string) (Change, error) {
	from := o.Status()
	changed, err := o.DeliverShipment(id, at, now)
	if err != nil || !changed {
		return Change{}, err
	}
	sh, _ := o.Shipment(id)
	c := Change{Timeline: []domain.TimelineEntry{s.shipmentEntry(o, domain.EventShipmentDelivered, msg,
		map[string]string{"shipment_id": id, "delivered_at": at.UTC().Format(time.RFC3339Nano)})}}
	s.moved(&c, o, from, sh)
	c.Events = withIDs(s.newID, c.Events...)
	return c, nil
}

// CarrierUpdateInput is one tracking update from a carrier.
type CarrierUpdateInput struct {
	EventID, Carrier, TrackingNumber string
	Status                           domain.ShipmentStatus
	OccurredAt                       time.Time
}

// RecordCarrierUpdate applies a carrier's tracking update to its package
// (the gateway's call for a signed carrier update). An update is applied
// once per event id; a repeat answers what the first answered. An update
// older than the last one applied, or for a delivered package, changes
// nothing; DELIVERED delivers the package.
func (s *Service) RecordCarrierUpdate(ctx context.Context, caller principal.Principal, in CarrierUpdateInput) (AppliedCarrierUpdate, error) {
	if err := caller.Require(principal.RoleService); err != nil {
		return AppliedCarrierUpdate{}, err
	}
	if caller.Subject != principal.SubjectGateway {
		return AppliedCarrierUpdate{}, errs.E(errs.PermissionDenied, "only the gateway records carrier updates")
	}
	switch {
	case in.EventID == "" || len(in.EventID) > 128:
		return AppliedCarrierUpdate{}, errs.Field("event_id", "must be 1 to 128 characters")
	case !in.Status.Valid():
		return AppliedCarrierUpdate{}, errs.Field("status", "must be IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED or EXCEPTION")
	case in.OccurredAt.IsZero():
		return AppliedCarrierUpdate{}, errs.Field("occurred_at", "is required")
	}
	if u, ok, err := s.store.CarrierUpdate(ctx, in.EventID); err != nil || ok {
		return u, err
	}
	orderID, shipmentID, err := s.store.FindShipment(ctx, in.Carrier, in.TrackingNumber)
	if err != nil {
		return AppliedCarrierUpdate{}, err
	}
	now := s.now()
	var applied AppliedCarrierUpdate
	o, err := s.update(ctx, orderID, UpdateOptions{}, func(o *domain.Order) (Change, error) {
		before, ok := o.Shipment(shipmentID)
		if !ok {
			return Change{}, errs.E(errs.NotFound, "shipment not found")
		}
		var c Change
		if in.Status == domain.ShipmentDelivered {
			var err error
			if c, err = s.deliver(o, shipmentID, in.OccurredAt, now, "delivered, as the carrier reports"); err != nil {
				return Change{}, err
			}
		} else if changed, err := o.TrackShipment(shipmentID, in.Status, in.OccurredAt, now); err != nil {
			return Change{}, err
		} else if changed {
			c.Timeline = []domain.TimelineEntry{s.shipmentEntry(o, domain.EventShipmentStatusChanged,
				"the carrier reports "+in.Status.String(), map[string]string{
					"shipment_id": shipmentID, "from": before.Status().String(), "to": in.Status.String(),
					"event_id": in.EventID, "occurred_at": in.OccurredAt.UTC().Format(time.RFC3339Nano),
				})}
		}
		after, _ := o.Shipment(shipmentID)
		applied = AppliedCarrierUpdate{EventID: in.EventID, OrderID: o.ID(), ShipmentID: shipmentID,
			Status: after.Status(), OccurredAt: in.OccurredAt}
		c.CarrierUpdate = &applied
		return c, nil
	})
	if errors.Is(err, ErrAlreadyProcessed) {
		u, ok, err := s.store.CarrierUpdate(ctx, in.EventID)
		if err == nil && !ok {
			err = errs.E(errs.Conflict, "the carrier update is being applied; retry")
		}
		return u, err
	}
	if err != nil {
		return AppliedCarrierUpdate{}, err
	}
	s.log.InfoContext(ctx, "carrier update", "order_id", o.ID(), "shipment_id", shipmentID,
		"event_id", in.EventID, "status", applied.Status.String())
	return applied, nil
}
