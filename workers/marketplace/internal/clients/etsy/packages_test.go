package etsy_test

import (
	"testing"

	sandbox "github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// A receipt shipped in two packages gets two shipments (Etsy keeps several
// per receipt); a resend of either is a duplicate that adds none.
func TestPackagesAreShipmentsOfOneReceipt(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	one := shipment(t, sb, store, 40)
	two := one
	two.ShipmentID, two.TrackingNumber = "shp_41", "9400111899223000041"
	refs := map[string]string{}
	for _, s := range []domain.Shipment{one, two} {
		res, err := a.PushShipment(ctx(t), store, s)
		if err != nil || res.Duplicate || res.Reference == "" {
			t.Fatalf("package %s: %+v, %v", s.ShipmentID, res, err)
		}
		refs[s.ShipmentID] = res.Reference
	}
	for _, s := range []domain.Shipment{two, one} {
		res, err := a.PushShipment(ctx(t), store, s)
		if err != nil || !res.Duplicate || res.Reference != refs[s.ShipmentID] {
			t.Fatalf("resend of %s: %+v, %v", s.ShipmentID, res, err)
		}
	}
	rep := sb.Received(sandbox.Etsy)
	if len(rep.Pushes) != 2 || rep.PushesByOrder[one.ExternalOrderID] != 2 || rep.Counters.Duplicates != 0 ||
		rep.Pushes[0].TrackingNumber != one.TrackingNumber || rep.Pushes[1].TrackingNumber != two.TrackingNumber {
		t.Fatalf("sandbox: %+v", rep)
	}
}
