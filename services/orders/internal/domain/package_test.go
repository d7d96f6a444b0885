package domain_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

func pkg(t *testing.T, items ...domain.ShipmentItem) domain.Shipment {
	t.Helper()
	s, err := domain.NewShipment(domain.ShipmentFields{ID: uuid.NewString(), Carrier: "UPS", TrackingNumber: "1Z9", CreatedAt: now, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// partlyShipped is an order in production with one of item 0's two units
// shipped.
func partlyShipped(t *testing.T) *domain.Order {
	t.Helper()
	o := at(t, domain.StatusInProduction, true)
	if err := o.Ship(pkg(t, domain.ShipmentItem{ItemID: o.Items()[0].ID(), Quantity: 1}), now); err != nil {
		t.Fatal(err)
	}
	return o
}

// stateOf reaches every state an order can be in when a package is shipped
// or delivered.
func stateOf(t *testing.T, s domain.Status, designs bool) *domain.Order {
	t.Helper()
	if s == domain.StatusPartiallyShipped {
		return partlyShipped(t)
	}
	return at(t, s, designs)
}

// Shipping a package, from every state: allowed from IN_PRODUCTION, from
// PAID for blanks only, and from PARTIALLY_SHIPPED; everything else is
// FAILED_PRECONDITION and changes nothing.
func TestShipFromEveryState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from    domain.Status
		designs bool
		want    domain.Status // 0: refused
	}{
		{domain.StatusPending, true, 0},
		{domain.StatusConfirmed, true, 0},
		{domain.StatusPaid, true, 0},
		{domain.StatusPaid, false, domain.StatusShipped},
		{domain.StatusInProduction, true, domain.StatusShipped},
		{domain.StatusPartiallyShipped, true, domain.StatusShipped},
		{domain.StatusShipped, true, 0},
		{domain.StatusDelivered, true, 0},
		{domain.StatusRejected, true, 0},
		{domain.StatusPaymentFailed, true, 0},
		{domain.StatusCancelled, true, 0},
	} {
		o := stateOf(t, tc.from, tc.designs)
		before := len(o.Shipments())
		err := o.Ship(pkg(t), now) // everything left
		switch {
		case tc.want != 0 && (err != nil || o.Status() != tc.want):
			t.Errorf("ship from %s (designs %v): %v, now %s, want %s", tc.from, tc.designs, err, o.Status(), tc.want)
		case tc.want == 0 && (!errs.Is(err, errs.FailedPrecondition) || o.Status() != tc.from || len(o.Shipments()) != before):
			t.Errorf("ship from %s (designs %v): %v, now %s with %d packages, want refused", tc.from, tc.designs, err, o.Status(), len(o.Shipments()))
		}
	}
}

// Delivering a package, from every state that has one; the order is
// DELIVERED only once nothing is left to ship and every package arrived.
func TestDeliverFromEveryState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from domain.Status
		want domain.Status
	}{
		{domain.StatusPartiallyShipped, domain.StatusPartiallyShipped},
		{domain.StatusShipped, domain.StatusDelivered},
		{domain.StatusDelivered, domain.StatusDelivered},
	} {
		o := stateOf(t, tc.from, true)
		sh := o.Shipments()[0]
		if _, err := o.DeliverShipment(sh.ID(), now, now); err != nil || o.Status() != tc.want {
			t.Errorf("deliver from %s: %v, now %s, want %s", tc.from, err, o.Status(), tc.want)
		}
		if got, _ := o.Shipment(sh.ID()); got.Status() != domain.ShipmentDelivered {
			t.Errorf("deliver from %s: package %s", tc.from, got.Status())
		}
	}
	// States without packages know none.
	for _, s := range []domain.Status{domain.StatusPending, domain.StatusConfirmed, domain.StatusPaid, domain.StatusInProduction,
		domain.StatusRejected, domain.StatusPaymentFailed, domain.StatusCancelled} {
		o := at(t, s, true)
		if _, err := o.DeliverShipment(uuid.NewString(), now, now); !errs.Is(err, errs.NotFound) || o.Status() != s {
			t.Errorf("deliver from %s: %v, now %s", s, err, o.Status())
		}
	}
}

// Packages take parts of items; each must be an item of the order, named
// once, with 1..left units; the last unit shipped makes the order SHIPPED.
func TestShipPartialQuantities(t *testing.T) {
	t.Parallel()
	o := at(t, domain.StatusInProduction, true)
	a, b := o.Items()[0].ID(), o.Items()[1].ID() // 2 and 1 units
	for name, items := range map[string][]domain.ShipmentItem{
		"unknown item":   {{ItemID: uuid.NewString(), Quantity: 1}},
		"zero":           {{ItemID: a, Quantity: 0}},
		"negative":       {{ItemID: a, Quantity: -1}},
		"over-shipping":  {{ItemID: a, Quantity: 3}},
		"duplicate item": {{ItemID: a, Quantity: 1}, {ItemID: a, Quantity: 1}},
	} {
		if err := o.Ship(pkg(t, items...), now); !errs.Is(err, errs.Invalid) || o.Status() != domain.StatusInProduction || len(o.Shipments()) != 0 {
			t.Errorf("%s: %v, now %s", name, err, o.Status())
		}
	}
	if err := o.Ship(pkg(t, domain.ShipmentItem{ItemID: a, Quantity: 1}, domain.ShipmentItem{ItemID: b, Quantity: 1}), now); err != nil {
		t.Fatal(err)
	}
	if o.Status() != domain.StatusPartiallyShipped || o.ShippedQuantity(a) != 1 || o.ShippedQuantity(b) != 1 {
		t.Fatalf("after the first package: %s, shipped %d and %d", o.Status(), o.ShippedQuantity(a), o.ShippedQuantity(b))
	}
	// b shipped in full; a has one left.
	for name, items := range map[string][]domain.ShipmentItem{
		"b again":     {{ItemID: b, Quantity: 1}},
		"two of a":    {{ItemID: a, Quantity: 2}},
		"a and b":     {{ItemID: a, Quantity: 1}, {ItemID: b, Quantity: 1}},
		"unknown too": {{ItemID: a, Quantity: 1}, {ItemID: uuid.NewString(), Quantity: 1}},
	} {
		if err := o.Ship(pkg(t, items...), now); !errs.Is(err, errs.Invalid) || len(o.Shipments()) != 1 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := o.Ship(pkg(t), now); err != nil {
		t.Fatal(err)
	}
	last := o.Shipments()[1].Items()
	if o.Status() != domain.StatusShipped || len(last) != 1 || last[0] != (domain.ShipmentItem{ItemID: a, Quantity: 1}) {
		t.Fatalf("the last package (everything left): %s, %v", o.Status(), last)
	}
	// Nothing left: no status ships another.
	if err := o.Ship(pkg(t), now); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("ship after everything shipped: %v", err)
	}
	// Production started: no cancellation, partly shipped or not.
	if err := partlyShipped(t).Cancel("x", now); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("cancel a partly shipped order: %v", err)
	}
}

// Whatever order packages are shipped and delivered in, the order is
// DELIVERED exactly when the last unit shipped and every package arrived.
func TestDeliveryOrderIndependence(t *testing.T) {
	t.Parallel()
	type step struct {
		ship    int // package index to ship (-1: none)
		deliver int // package index to deliver (-1: none)
	}
	for name, steps := range map[string][]step{
		"ship all, deliver in order":   {{0, -1}, {1, -1}, {-1, 0}, {-1, 1}},
		"ship all, deliver backwards":  {{0, -1}, {1, -1}, {-1, 1}, {-1, 0}},
		"first delivered before last":  {{0, -1}, {-1, 0}, {1, -1}, {-1, 1}},
		"delivered twice in between":   {{0, -1}, {-1, 0}, {-1, 0}, {1, -1}, {-1, 1}},
		"last shipped delivered first": {{0, -1}, {1, -1}, {-1, 1}, {-1, 1}, {-1, 0}},
	} {
		o := at(t, domain.StatusInProduction, true)
		a, b := o.Items()[0].ID(), o.Items()[1].ID()
		packages := [][]domain.ShipmentItem{{{ItemID: a, Quantity: 2}}, {{ItemID: b, Quantity: 1}}}
		var ids []string
		shipped, delivered := 0, map[int]bool{}
		for i, s := range steps {
			if s.ship >= 0 {
				p := pkg(t, packages[s.ship]...)
				if err := o.Ship(p, now); err != nil {
					t.Fatalf("%s step %d: %v", name, i, err)
				}
				ids = append(ids, p.ID())
				shipped++
			}
			if s.deliver >= 0 {
				if _, err := o.DeliverShipment(ids[s.deliver], now, now); err != nil {
					t.Fatalf("%s step %d: %v", name, i, err)
				}
				delivered[s.deliver] = true
			}
			want := domain.StatusPartiallyShipped
			if shipped == 2 {
				want = domain.StatusShipped
				if len(delivered) == 2 {
					want = domain.StatusDelivered
				}
			}
			if o.Status() != want {
				t.Fatalf("%s step %d: %s, want %s", name, i, o.Status(), want)
			}
		}
	}
}

// Carrier statuses: applied in time order, older ones ignored, DELIVERED
// final.
func TestTrackShipment(t *testing.T) {
	t.Parallel()
	o := partlyShipped(t)
	id := o.Shipments()[0].ID()
	later, earlier := now.Add(time.Hour), now.Add(30*time.Minute)
	if changed, err := o.TrackShipment(id, domain.ShipmentOutForDelivery, later, now); !changed || err != nil {
		t.Fatalf("out for delivery: %v %v", changed, err)
	}
	if changed, _ := o.TrackShipment(id, domain.ShipmentException, earlier, now); changed {
		t.Fatal("an older update was applied")
	}
	if got, _ := o.Shipment(id); got.Status() != domain.ShipmentOutForDelivery {
		t.Fatalf("status %s", got.Status())
	}
	if changed, err := o.TrackShipment(id, domain.ShipmentDelivered, later.Add(time.Hour), now); !changed || err != nil {
		t.Fatalf("delivered: %v %v", changed, err)
	}
	if changed, _ := o.TrackShipment(id, domain.ShipmentException, later.Add(2*time.Hour), now); changed {
		t.Fatal("a delivered package moved")
	}
	got, _ := o.Shipment(id)
	if got.Status() != domain.ShipmentDelivered || !got.Fields().DeliveredAt.Equal(later.Add(time.Hour)) || o.Status() != domain.StatusPartiallyShipped {
		t.Fatalf("package %s delivered at %v, order %s", got.Status(), got.Fields().DeliveredAt, o.Status())
	}
	if _, err := o.TrackShipment(uuid.NewString(), domain.ShipmentInTransit, later, now); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unknown package: %v", err)
	}
	if _, err := o.TrackShipment(id, domain.ShipmentStatus(9), later, now); !errs.Is(err, errs.Invalid) {
		t.Fatalf("unknown status: %v", err)
	}
}
