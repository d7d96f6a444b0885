package server

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

// An order shipped in two packages is two OrderShipped deliveries, each with
// only its package's items: each is a push of its own lines, with a receipt
// and an announcement of its own, and redelivering either pushes nothing
// more.
func TestPackagesOfOneOrderArePushedEach(t *testing.T) {
	t.Parallel()
	for _, tc := range testenv.Sellers {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			d := newDirect(t, marketplace.Limits{}, Options{})
			s := tc.Add(d.catalog)
			order, lines := placeTwoLines(t, d.sb, s)
			one, two := testenv.Shipped(s, 1), testenv.Shipped(s, 2)
			two.OrderId = one.OrderId
			one.ExternalOrderId, two.ExternalOrderId = order, order
			item := func(line string, q int32) *eventsv1.OrderPlacedItem {
				return &eventsv1.OrderPlacedItem{ItemId: uuid.NewString(), Quantity: q, Sku: "SKU-" + line, ExternalItemId: line}
			}
			one.Items = []*eventsv1.OrderPlacedItem{item(lines[0], 1)}
			two.Items = []*eventsv1.OrderPlacedItem{item(lines[0], 1), item(lines[1], 1)}
			for _, ev := range []*eventsv1.OrderShipped{one, two, two, one} {
				if err := d.handle(ctxT(t), testenv.Delivery(t, eventsv1.KeyOrderShipped, ev)); err != nil {
					t.Fatalf("shipment %s: %v", ev.GetShipmentId(), err)
				}
			}
			rep := d.sb.Received(s.Market)
			var pushes []marketplace.Push
			for _, p := range rep.Pushes {
				if p.Order == testenv.MarketOrder(s, one) {
					pushes = append(pushes, p)
				}
			}
			if len(pushes) != 2 || pushes[0].TrackingNumber != one.GetTrackingNumber() || pushes[1].TrackingNumber != two.GetTrackingNumber() {
				t.Fatalf("pushes of the order: %+v", rep.Pushes)
			}
			if s.Market != marketplace.Etsy { // an Etsy shipment names no lines
				wants := [][]marketplace.PushLine{{{Item: lines[0], Quantity: 1}}, {{Item: lines[0], Quantity: 1}, {Item: lines[1], Quantity: 1}}}
				for i, p := range pushes {
					if fmt.Sprint(p.Lines) != fmt.Sprint(wants[i]) {
						t.Errorf("package %d: lines %+v, want %+v", i+1, p.Lines, wants[i])
					}
				}
			}
			if d.rec.Keys() != 2 {
				t.Fatalf("%d receipts, want one per package", d.rec.Keys())
			}
			byShipment := map[string]int{}
			for _, m := range d.pub.All() {
				ev := testenv.Pushed(t, m)
				if ev.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED || ev.GetReceiptKey() != domain.ReceiptKey(s.ID, ev.GetShipmentId()) {
					t.Fatalf("announcement: %v", ev)
				}
				byShipment[ev.GetShipmentId()]++
			}
			if byShipment[one.GetShipmentId()] != 2 || byShipment[two.GetShipmentId()] != 2 {
				t.Fatalf("announcements by shipment: %v", byShipment)
			}
		})
	}
}

// An OrderShipped from before packages, without items, still ships the whole
// Shopify order.
func TestShipmentWithoutItemsShipsTheWholeOrder(t *testing.T) {
	t.Parallel()
	d := newDirect(t, marketplace.Limits{}, Options{})
	s := testenv.AddShopify(d.catalog)
	order, _ := placeTwoLines(t, d.sb, s)
	ev := testenv.Shipped(s, 3)
	ev.ExternalOrderId, ev.Items = order, nil
	if err := d.handle(ctxT(t), testenv.Delivery(t, eventsv1.KeyOrderShipped, ev)); err != nil {
		t.Fatal(err)
	}
	rep := d.sb.Received(marketplace.Shopify)
	if len(rep.Pushes) != 1 || len(rep.Pushes[0].Lines) != 2 || rep.Pushes[0].Lines[0].Quantity != 2 || rep.Pushes[0].Lines[1].Quantity != 1 {
		t.Fatalf("pushes: %+v", rep.Pushes)
	}
}

// placeTwoLines places an order of two lines (2 + 1 units) with s's
// marketplace and returns its id and its line ids as the sandbox records
// them (an Amazon seller of these tests was never issued: the sandbox takes
// any well-formed order of it).
func placeTwoLines(t *testing.T, sb *marketplace.Server, s testenv.Seller) (string, []string) {
	t.Helper()
	switch s.Market {
	case marketplace.Shopify:
		p, err := sb.PlaceShopifyOrder(s.ShopID, marketplace.ShopifyOrderInput{Lines: []marketplace.ShopifyOrderLine{
			{SKU: "TEE-M", Quantity: 2}, {SKU: "MUG-11", Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return p.OrderID, []string{"gid://shopify/LineItem/" + p.ItemIDs[0], "gid://shopify/LineItem/" + p.ItemIDs[1]}
	case marketplace.Etsy:
		p, err := sb.EtsyOrder(s.ShopID, marketplace.EtsyOrderRequest{Lines: []marketplace.EtsyOrderLine{
			{SKU: "TEE-M", Quantity: 2}, {SKU: "MUG-11", Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return p.OrderID, p.ItemIDs
	}
	return "902-3159896-" + fmt.Sprintf("%07d", 4242), []string{"11111111111111", "22222222222222"}
}
