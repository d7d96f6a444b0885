package amazon_test

import (
	"strings"
	"testing"
	"time"

	sandbox "github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/amazon"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// An order shipped in two packages is two confirmShipment calls, each with a
// packageReferenceId of its own and only its items; a resend of either edits
// its package in place (no unit is counted twice); a package holding more
// than is left to ship is refused for good, with Amazon's reason.
func TestPackagesAreConfirmedEachWithItsItems(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Limits{})
	p := e.order("", line{ProductID: "B000TEE001", SKU: "TEE-M", Quantity: 2}, line{ProductID: "B000MUG001", SKU: "MUG-11", Quantity: 1})
	tee, mug := p.ItemIDs[0], p.ItemIDs[1]
	pkg := func(n int, items ...domain.Item) domain.Shipment {
		return domain.Shipment{ShipmentID: "shp_pkg_" + string(rune('0'+n)), OrderID: "ord_pkg", ExternalOrderID: p.OrderID,
			Carrier: "UPS", TrackingNumber: "1Z999AA1000000000" + string(rune('0'+n)), ShippedAt: time.Now().Add(-time.Hour), Items: items}
	}
	one := pkg(1, domain.Item{ExternalID: tee, Quantity: 1})
	two := pkg(2, domain.Item{ExternalID: tee, Quantity: 1}, domain.Item{ExternalID: mug, Quantity: 1})
	for _, s := range []domain.Shipment{one, two, two, one} {
		res, err := e.a.PushShipment(ctx(t), e.store, s)
		if err != nil || res.Reference != amazon.PackageReferenceID(s.ShipmentID) {
			t.Fatalf("package %s: %+v, %v", s.ShipmentID, res, err)
		}
	}
	rep := e.sb.Received(sandbox.Amazon)
	if len(rep.Pushes) != 2 || rep.PushesByOrder[p.OrderID] != 2 || rep.Counters.Updates != 2 {
		t.Fatalf("sandbox: %+v", rep)
	}
	wants := [][]sandbox.PushLine{{{Item: tee, Quantity: 1}}, {{Item: tee, Quantity: 1}, {Item: mug, Quantity: 1}}}
	for i, s := range []domain.Shipment{one, two} {
		got := rep.Pushes[i]
		if got.Ref != amazon.PackageReferenceID(s.ShipmentID) || got.TrackingNumber != s.TrackingNumber || got.Updates != 1 ||
			len(got.Lines) != len(wants[i]) || got.Lines[0] != wants[i][0] || got.Lines[len(got.Lines)-1] != wants[i][len(wants[i])-1] {
			t.Errorf("package %d: %+v, want lines %+v", i+1, got, wants[i])
		}
	}

	// A third package with another tee: the order has none left.
	res, err := e.a.PushShipment(ctx(t), e.store, pkg(3, domain.Item{ExternalID: tee, Quantity: 1}))
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonInvalid || res.Status != 400 ||
		!strings.Contains(err.Error(), "exceed the 0 left to ship") {
		t.Fatalf("over-shipment: %+v, %v", res, err)
	}
	if n := len(e.sb.Received(sandbox.Amazon).Pushes); n != 2 {
		t.Fatalf("%d packages after the refusal", n)
	}
}
