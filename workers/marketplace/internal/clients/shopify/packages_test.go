package shopify_test

import (
	"strings"
	"testing"

	sandbox "github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// An order shipped in two packages is two pushes, each fulfilling only its
// own lines and quantities; a resend of either is a duplicate; a package
// holding more of a line than is left is refused for good, with a message
// saying so.
func TestPackagesArePushedEachWithItsLines(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	o := place(t, sb, "acme", sandbox.ShopifyOrderInput{Lines: []sandbox.ShopifyOrderLine{
		{SKU: "TEE-M", Quantity: 2}, {SKU: "MUG-11", Quantity: 1}}})
	tee, mug := "gid://shopify/LineItem/"+o.ItemIDs[0], "gid://shopify/LineItem/"+o.ItemIDs[1]
	one := track(120, o.OrderID, domain.Item{ExternalID: tee, SKU: "TEE-M", Quantity: 1})
	two := track(121, o.OrderID, domain.Item{ExternalID: tee, SKU: "TEE-M", Quantity: 1}, domain.Item{ExternalID: mug, SKU: "MUG-11", Quantity: 1})

	if res, err := a.PushShipment(ctx(t), store, one); err != nil || res.Duplicate {
		t.Fatalf("package one: %+v, %v", res, err)
	}
	order := adminQuery(t, store, o.GID)
	if left := remaining(order); order["displayFulfillmentStatus"] != "PARTIALLY_FULFILLED" || left[tee] != 1 || left[mug] != 1 {
		t.Fatalf("after package one: %v", order)
	}
	if res, err := a.PushShipment(ctx(t), store, two); err != nil || res.Duplicate {
		t.Fatalf("package two: %+v, %v", res, err)
	}
	if st := adminQuery(t, store, o.GID)["displayFulfillmentStatus"]; st != "FULFILLED" {
		t.Fatalf("after package two: %v", st)
	}
	for _, s := range []domain.Shipment{one, two} {
		if res, err := a.PushShipment(ctx(t), store, s); err != nil || !res.Duplicate {
			t.Fatalf("resend of %s: %+v, %v", s.ShipmentID, res, err)
		}
	}
	rep := sb.Received(sandbox.Shopify)
	if len(rep.Pushes) != 2 || rep.PushesByOrder[o.GID] != 2 {
		t.Fatalf("sandbox: %+v", rep)
	}
	wants := [][]sandbox.PushLine{{{Item: tee, Quantity: 1}}, {{Item: tee, Quantity: 1}, {Item: mug, Quantity: 1}}}
	for i, p := range rep.Pushes {
		if p.TrackingNumber != []string{one.TrackingNumber, two.TrackingNumber}[i] || !sameLines(p.Lines, wants[i]) {
			t.Errorf("push %d: %+v, want lines %+v", i, p, wants[i])
		}
	}
}

func TestOverFulfilmentIsPermanent(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	o := place(t, sb, "acme", sandbox.ShopifyOrderInput{Lines: []sandbox.ShopifyOrderLine{
		{SKU: "TEE-M", Quantity: 2}, {SKU: "MUG-11", Quantity: 1}}})
	tee, mug := "gid://shopify/LineItem/"+o.ItemIDs[0], "gid://shopify/LineItem/"+o.ItemIDs[1]
	if _, err := a.PushShipment(ctx(t), store, track(122, o.OrderID, domain.Item{ExternalID: tee, Quantity: 1})); err != nil {
		t.Fatal(err)
	}
	// Two tees where one is left, and the mug.
	over := track(123, o.OrderID, domain.Item{ExternalID: tee, Quantity: 2}, domain.Item{ExternalID: mug, Quantity: 1})
	res, err := a.PushShipment(ctx(t), store, over)
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonInvalid || res.Duplicate ||
		!strings.Contains(err.Error(), "over-fulfilment") || !strings.Contains(err.Error(), "Invalid fulfillment order line item quantity requested") {
		t.Fatalf("over-fulfilment: %+v, %v", res, err)
	}
	left := remaining(adminQuery(t, store, o.GID))
	if left[tee] != 1 || left[mug] != 1 || sb.Received(sandbox.Shopify).PushesByOrder[o.GID] != 1 {
		t.Fatalf("the refused package changed the order: %v", left)
	}
}

func sameLines(got, want []sandbox.PushLine) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}
