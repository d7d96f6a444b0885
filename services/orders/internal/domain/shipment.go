package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/printfleet/printfleet/platform/errs"
)

// ShipmentStatus is where a package is, as its carrier reports it; the
// values match the proto enum.
type ShipmentStatus int16

// The shipment statuses.
const (
	ShipmentUnspecified    ShipmentStatus = 0
	ShipmentInTransit      ShipmentStatus = 1
	ShipmentOutForDelivery ShipmentStatus = 2
	ShipmentDelivered      ShipmentStatus = 3
	// ShipmentException: the carrier reports a problem; not terminal.
	ShipmentException ShipmentStatus = 4
)

var shipmentStatusNames = map[ShipmentStatus]string{
	ShipmentInTransit: "IN_TRANSIT", ShipmentOutForDelivery: "OUT_FOR_DELIVERY",
	ShipmentDelivered: "DELIVERED", ShipmentException: "EXCEPTION",
}

func (s ShipmentStatus) String() string {
	if n, ok := shipmentStatusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("ShipmentStatus(%d)", int16(s))
}

// Valid reports whether s is one of the package statuses.
func (s ShipmentStatus) Valid() bool { _, ok := shipmentStatusNames[s]; return ok }

// ShipmentItem is an order item (or part of its quantity) in a package.
type ShipmentItem struct {
	ItemID   string
	Quantity int32
}

// Shipment is a parcel handed to a carrier: some items of the order and
// where the parcel is.
type Shipment struct {
	id, carrier, trackingNumber, trackingURL string
	createdAt                                time.Time
	items                                    []ShipmentItem
	status                                   ShipmentStatus
	deliveredAt                              time.Time
	// statusAt is when the last carrier update or delivery applied
	// happened (zero before any): an update older than it changes nothing.
	statusAt time.Time
}

// ShipmentFields are a shipment's parts.
type ShipmentFields struct {
	ID, Carrier, TrackingNumber, TrackingURL string
	CreatedAt                                time.Time
	// Items are the order items in the package; NewShipment takes the
	// ones requested (empty: every item not yet shipped, decided by
	// Order.Ship).
	Items []ShipmentItem
	// Status, DeliveredAt and StatusAt are ignored by NewShipment (a new
	// package is IN_TRANSIT).
	Status      ShipmentStatus
	DeliveredAt time.Time
	StatusAt    time.Time
}

// NewShipment validates a new package, IN_TRANSIT since f.CreatedAt. Its
// items are checked against the order by Order.Ship.
func NewShipment(f ShipmentFields) (Shipment, error) {
	switch {
	case !IsUUID(f.ID):
		return Shipment{}, fmt.Errorf("shipment id %q is not a uuid", f.ID)
	case f.Carrier == "" || utf8.RuneCountInString(f.Carrier) > MaxCarrierLen:
		return Shipment{}, errs.Field("carrier", fmt.Sprintf("must be 1 to %d characters", MaxCarrierLen))
	case len(f.TrackingNumber) > MaxTrackingLen || !trackingRE.MatchString(f.TrackingNumber):
		return Shipment{}, errs.Field("tracking_number", "must be 1 to 64 letters, digits or dashes")
	case len(f.TrackingURL) > MaxURLLen:
		return Shipment{}, errs.Field("tracking_url", "is longer than 500 characters")
	case f.TrackingURL != "" && !webURL(f.TrackingURL):
		return Shipment{}, errs.Field("tracking_url", "must be an http or https URL")
	case len(f.Items) > MaxItems:
		return Shipment{}, errs.Field("items", fmt.Sprintf("at most %d items are allowed", MaxItems))
	}
	return Shipment{
		id: f.ID, carrier: f.Carrier, trackingNumber: f.TrackingNumber, trackingURL: f.TrackingURL,
		createdAt: f.CreatedAt.UTC(), items: slices.Clone(f.Items), status: ShipmentInTransit,
	}, nil
}

func shipmentFromFields(f ShipmentFields) Shipment {
	return Shipment{
		id: f.ID, carrier: f.Carrier, trackingNumber: f.TrackingNumber, trackingURL: f.TrackingURL,
		createdAt: f.CreatedAt.UTC(), items: slices.Clone(f.Items), status: f.Status,
		deliveredAt: utc(f.DeliveredAt), statusAt: utc(f.StatusAt),
	}
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// Fields returns the shipment's parts.
func (s Shipment) Fields() ShipmentFields {
	return ShipmentFields{
		ID: s.id, Carrier: s.carrier, TrackingNumber: s.trackingNumber, TrackingURL: s.trackingURL,
		CreatedAt: s.createdAt, Items: slices.Clone(s.items), Status: s.status,
		DeliveredAt: s.deliveredAt, StatusAt: s.statusAt,
	}
}

// ID is the package's id.
func (s Shipment) ID() string { return s.id }

// Status is where the package is.
func (s Shipment) Status() ShipmentStatus { return s.status }

// Items are the order items in the package.
func (s Shipment) Items() []ShipmentItem { return slices.Clone(s.items) }

// Delivered reports whether the package arrived (final).
func (s Shipment) Delivered() bool { return s.status == ShipmentDelivered }

// ShippedQuantity is how many of item itemID have shipped, over every
// package.
func (o *Order) ShippedQuantity(itemID string) int32 {
	var n int32
	for _, s := range o.shipments {
		for _, si := range s.items {
			if si.ItemID == itemID {
				n += si.Quantity
			}
		}
	}
	return n
}

// left is how much of each item is still to ship, in item order.
func (o *Order) left() []ShipmentItem {
	var out []ShipmentItem
	for _, it := range o.items {
		if n := it.quantity - o.ShippedQuantity(it.id); n > 0 {
			out = append(out, ShipmentItem{ItemID: it.id, Quantity: n})
		}
	}
	return out
}

// Ship hands a package to a carrier. It is allowed from IN_PRODUCTION,
// from PAID for an order of blanks only (there is nothing to render), and
// from PARTIALLY_SHIPPED. Each item of the package must be an item of the
// order, named once, with a quantity of at least one and at most what is
// left of it; a package without items takes everything not yet shipped.
// The order is PARTIALLY_SHIPPED while anything is left, SHIPPED once
// nothing is.
func (o *Order) Ship(s Shipment, now time.Time) error {
	switch {
	case o.status == StatusInProduction, o.status == StatusPartiallyShipped:
	case o.status == StatusPaid && !o.HasDesigns():
	default:
		return o.refuse("ship")
	}
	left := o.left()
	if len(s.items) == 0 {
		s.items = left
	}
	if len(s.items) == 0 {
		return errs.E(errs.FailedPrecondition, "nothing is left to ship")
	}
	seen := make(map[string]bool, len(s.items))
	for i, si := range s.items {
		field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		j := slices.IndexFunc(left, func(l ShipmentItem) bool { return l.ItemID == si.ItemID })
		switch {
		case seen[si.ItemID]:
			return errs.Field(field("item_id"), "names an item already in this package")
		case !slices.ContainsFunc(o.items, func(it Item) bool { return it.id == si.ItemID }):
			return errs.Field(field("item_id"), "is not an item of the order")
		case si.Quantity <= 0:
			return errs.Field(field("quantity"), "must be greater than 0")
		case j < 0:
			return errs.Field(field("quantity"), "the item has shipped in full")
		case si.Quantity > left[j].Quantity:
			return errs.Field(field("quantity"), fmt.Sprintf("is more than is left to ship (%d)", left[j].Quantity))
		}
		seen[si.ItemID] = true
	}
	s.status, s.statusAt, s.deliveredAt = ShipmentInTransit, time.Time{}, time.Time{}
	o.shipments = append(o.shipments, s)
	if len(o.left()) > 0 {
		o.move(StatusPartiallyShipped, now)
	} else {
		o.move(StatusShipped, now)
	}
	return nil
}

// Shipment returns the package with that id.
func (o *Order) Shipment(id string) (Shipment, bool) {
	i := slices.IndexFunc(o.shipments, func(s Shipment) bool { return s.id == id })
	if i < 0 {
		return Shipment{}, false
	}
	return o.shipments[i], true
}

func (o *Order) shipmentIndex(id string) (int, error) {
	i := slices.IndexFunc(o.shipments, func(s Shipment) bool { return s.id == id })
	if i < 0 {
		return -1, errs.E(errs.NotFound, "shipment not found")
	}
	return i, nil
}

// DeliverShipment records that package id arrived at at. The order becomes
// DELIVERED when nothing is left to ship (it is SHIPPED) and every package
// is delivered; a PARTIALLY_SHIPPED order stays so. Delivering a delivered
// package changes nothing (changed is false).
func (o *Order) DeliverShipment(id string, at, now time.Time) (changed bool, err error) {
	i, err := o.shipmentIndex(id)
	if err != nil {
		return false, err
	}
	s := &o.shipments[i]
	if s.status == ShipmentDelivered {
		return false, nil
	}
	s.status, s.deliveredAt = ShipmentDelivered, at.UTC()
	if at.After(s.statusAt) {
		s.statusAt = at.UTC()
	}
	if o.status == StatusShipped && !slices.ContainsFunc(o.shipments, func(s Shipment) bool { return !s.Delivered() }) {
		o.move(StatusDelivered, now)
	} else {
		o.updatedAt = now.UTC()
	}
	return true, nil
}

// TrackShipment applies a carrier's status of package id that happened at
// at. DELIVERED delivers it (DeliverShipment); any other status is taken
// unless the package is delivered (final) or the update is older than the
// last one applied. changed says whether anything moved.
func (o *Order) TrackShipment(id string, status ShipmentStatus, at, now time.Time) (changed bool, err error) {
	if !status.Valid() {
		return false, errs.Field("status", "must be IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED or EXCEPTION")
	}
	if status == ShipmentDelivered {
		return o.DeliverShipment(id, at, now)
	}
	i, err := o.shipmentIndex(id)
	if err != nil {
		return false, err
	}
	s := &o.shipments[i]
	if s.status == ShipmentDelivered || at.Before(s.statusAt) || (s.status == status && at.Equal(s.statusAt)) {
		return false, nil
	}
	s.status, s.statusAt = status, at.UTC()
	o.updatedAt = now.UTC()
	return true, nil
}

// NormalizeCarrier is the form carriers are compared in: trimmed, lower
// case ("UPS " and "ups" are one carrier).
func NormalizeCarrier(c string) string { return strings.ToLower(strings.TrimSpace(c)) }
