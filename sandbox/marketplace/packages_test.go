package marketplace_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/sandbox/marketplace"
)

const packagesQuery = `query($id: ID!) { order(id: $id) { displayFulfillmentStatus
  fulfillmentOrders(first: 5) { nodes { id status lineItems(first: 10) { nodes { id remainingQuantity lineItem { id } } } } } } }`

// fulfillLines fulfills some lines of one fulfillment order under a tracking
// number: lines are fulfillment order line item gids and quantities.
func fulfillLines(foID, number string, lines map[string]int) map[string]any {
	var ls []any
	for id, q := range lines {
		ls = append(ls, map[string]any{"id": id, "quantity": q})
	}
	return map[string]any{"f": map[string]any{
		"lineItemsByFulfillmentOrder": []any{map[string]any{"fulfillmentOrderId": foID, "fulfillmentOrderLineItems": ls}},
		"trackingInfo":                map[string]any{"company": "UPS", "number": number},
	}}
}

// A Shopify order shipped in packages: each fulfillment takes its lines'
// quantities off the fulfillment order's remaining quantities, more than
// remains is refused with a userErrors entry, and the order is
// PARTIALLY_FULFILLED until nothing remains.
func TestShopifyPartialFulfilment(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	tok := acme(t, s)
	placed, err := s.PlaceShopifyOrder("acme", marketplace.ShopifyOrderInput{Lines: []marketplace.ShopifyOrderLine{
		{SKU: "TEE", Quantity: 2}, {SKU: "MUG", Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	read := func() (status string, fo any) {
		a := shopify(t, base, tok, packagesQuery, map[string]any{"id": placed.GID})
		if a.status != 200 || dig(a.body, "errors") != nil {
			t.Fatalf("read: %d %s", a.status, a.raw)
		}
		s, _ := dig(a.body, "data", "order", "displayFulfillmentStatus").(string)
		return s, dig(a.body, "data", "order", "fulfillmentOrders", "nodes", 0)
	}
	status, fo := read()
	foID, _ := dig(fo, "id").(string)
	tee, mug := dig(fo, "lineItems", "nodes", 0, "id").(string), dig(fo, "lineItems", "nodes", 1, "id").(string)
	if status != "UNFULFILLED" || dig(fo, "lineItems", "nodes", 0, "lineItem", "id") != "gid://shopify/LineItem/"+placed.ItemIDs[0] {
		t.Fatalf("before: %s %v", status, fo)
	}

	// More than the line has is refused, and changes nothing.
	over := shopify(t, base, tok, createMutation, fulfillLines(foID, "1Z0000000000000001", map[string]int{tee: 3}))
	if msg, _ := dig(over.body, "data", "fulfillmentCreate", "userErrors", 0, "message").(string); !strings.Contains(msg, "Invalid fulfillment order line item quantity requested") ||
		dig(over.body, "data", "fulfillmentCreate", "fulfillment") != nil {
		t.Fatalf("over-fulfilment: %s", over.raw)
	}

	// Package one: one tee.
	one := shopify(t, base, tok, createMutation, fulfillLines(foID, "1Z0000000000000001", map[string]int{tee: 1}))
	if dig(one.body, "data", "fulfillmentCreate", "fulfillment", "status") != "SUCCESS" {
		t.Fatalf("package one: %s", one.raw)
	}
	status, fo = read()
	if status != "PARTIALLY_FULFILLED" || dig(fo, "status") != "IN_PROGRESS" ||
		dig(fo, "lineItems", "nodes", 0, "remainingQuantity") != 1.0 || dig(fo, "lineItems", "nodes", 1, "remainingQuantity") != 1.0 {
		t.Fatalf("after package one: %s %v", status, fo)
	}
	// The mug once, then again: nothing of it remains the second time.
	if a := shopify(t, base, tok, createMutation, fulfillLines(foID, "1Z0000000000000002", map[string]int{mug: 1})); dig(a.body, "data", "fulfillmentCreate", "fulfillment", "status") != "SUCCESS" {
		t.Fatalf("package two: %s", a.raw)
	}
	again := shopify(t, base, tok, createMutation, fulfillLines(foID, "1Z0000000000000002", map[string]int{mug: 1}))
	if msg, _ := dig(again.body, "data", "fulfillmentCreate", "userErrors", 0, "message").(string); !strings.Contains(msg, "Invalid fulfillment order line item quantity requested") {
		t.Fatalf("mug again: %s", again.raw)
	}
	if status, _ = read(); status != "PARTIALLY_FULFILLED" {
		t.Fatalf("with a tee left: %s", status)
	}
	// The last tee closes the fulfillment order and fulfils the order.
	if a := shopify(t, base, tok, createMutation, fulfillLines(foID, "1Z0000000000000003", map[string]int{tee: 1})); dig(a.body, "data", "fulfillmentCreate", "fulfillment", "status") != "SUCCESS" {
		t.Fatalf("package three: %s", a.raw)
	}
	status, fo = read()
	if status != "FULFILLED" || dig(fo, "status") != "CLOSED" {
		t.Fatalf("after the last package: %s %v", status, fo)
	}

	rep := s.Received(marketplace.Shopify)
	if len(rep.Pushes) != 3 || rep.PushesByOrder[placed.GID] != 3 || rep.Counters.ValidationErrors != 2 {
		t.Fatalf("report: %+v", rep)
	}
	teeItem, mugItem := "gid://shopify/LineItem/"+placed.ItemIDs[0], "gid://shopify/LineItem/"+placed.ItemIDs[1]
	for i, want := range []marketplace.PushLine{{Item: teeItem, Quantity: 1}, {Item: mugItem, Quantity: 1}, {Item: teeItem, Quantity: 1}} {
		if p := rep.Pushes[i]; len(p.Lines) != 1 || p.Lines[0] != want {
			t.Errorf("push %d: lines %+v, want %+v", i, p.Lines, want)
		}
	}
}

// An Amazon order shipped in packages: each package counts its items as
// shipped, more than was ordered is refused, a resend of a package edits it
// in place (its own units are not counted twice), and the order is
// PartiallyShipped until every unit is.
func TestAmazonPackagesPerItem(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	seller, _, tok := amazonSeller(t, base, "eu")
	o := amazonOrder(t, base, seller, `[{"sku":"TEE","quantity":2},{"sku":"MUG","quantity":1}]`)
	if o.status != 201 {
		t.Fatalf("order: %d %s", o.status, o.raw)
	}
	id := o.body["order_id"].(string)
	items := o.body["item_ids"].([]any)
	tee, mug := items[0].(string), items[1].(string)
	confirm := func(ref, tracking string, lines ...any) answer {
		var its []any
		for i := 0; i < len(lines); i += 2 {
			its = append(its, map[string]any{"orderItemId": lines[i], "quantity": lines[i+1]})
		}
		body, _ := json.Marshal(map[string]any{"marketplaceId": "A1PA6795UKMFR9", "packageDetail": map[string]any{
			"packageReferenceId": ref, "carrierCode": "DHL", "trackingNumber": tracking, "shipDate": "2024-05-01T10:00:00Z",
			"orderItems": its}})
		return do(t, "POST", base+"/amazon-eu/orders/v0/orders/"+id+"/shipmentConfirmation", map[string]string{"x-amz-access-token": tok}, body)
	}
	show := func() answer {
		return do(t, "GET", base+"/_sandbox/amazon/shops/"+seller+"/orders/"+id, nil, nil)
	}

	if a := confirm("11", "JD0000000001", tee, 3); a.status != 400 || !strings.Contains(a.raw, "exceed the 2 left to ship") {
		t.Fatalf("more than ordered: %d %s", a.status, a.raw)
	}
	if a := confirm("11", "JD0000000001", tee, 1, tee, 2); a.status != 400 || !strings.Contains(a.raw, "3 units of item") {
		t.Fatalf("more than ordered over two entries: %d %s", a.status, a.raw)
	}
	if a := confirm("11", "JD0000000001", tee, 2); a.status != 204 {
		t.Fatalf("package one: %d %s", a.status, a.raw)
	}
	if sh := show(); dig(sh.body, "order", "OrderStatus") != "PartiallyShipped" || dig(sh.body, "items", 0, "QuantityShipped") != 2.0 {
		t.Fatalf("after package one: %s", sh.raw)
	}
	// A resend of package one is an edit, not more units.
	if a := confirm("11", "JD0000000001", tee, 2); a.status != 204 {
		t.Fatalf("package one again: %d %s", a.status, a.raw)
	}
	if a := confirm("12", "JD0000000002", tee, 1); a.status != 400 || !strings.Contains(a.raw, "exceed the 0 left to ship") {
		t.Fatalf("a tee too many: %d %s", a.status, a.raw)
	}
	if a := confirm("12", "JD0000000002", mug, 1); a.status != 204 {
		t.Fatalf("package two: %d %s", a.status, a.raw)
	}
	if sh := show(); dig(sh.body, "order", "OrderStatus") != "Shipped" || dig(sh.body, "items", 0, "QuantityShipped") != 2.0 ||
		dig(sh.body, "items", 1, "QuantityShipped") != 1.0 {
		t.Fatalf("after package two: %s", sh.raw)
	}
	rep := s.Received(marketplace.Amazon)
	if len(rep.Pushes) != 2 || rep.PushesByOrder[id] != 2 || rep.Counters.Updates != 1 || rep.Counters.ValidationErrors != 3 {
		t.Fatalf("report: %+v", rep)
	}
	if p := rep.Pushes[0]; p.Ref != "11" || p.Updates != 1 || len(p.Lines) != 1 || p.Lines[0] != (marketplace.PushLine{Item: tee, Quantity: 2}) {
		t.Errorf("package one: %+v", p)
	}
	if p := rep.Pushes[1]; p.Ref != "12" || len(p.Lines) != 1 || p.Lines[0] != (marketplace.PushLine{Item: mug, Quantity: 1}) {
		t.Errorf("package two: %+v", p)
	}
}

// Etsy keeps several shipments per receipt: a second package's tracking is a
// shipment of its own, and the receipt lists both.
func TestEtsyTwoShipmentsOnAReceipt(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	sh := etsyShop(t, base)
	rc := etsyReceipt(t, base, sh.ShopID)
	for _, code := range []string{"9400111899220000000001", "9400111899220000000002"} {
		if a := etsyShip(t, base, sh, rc, code); a.status != 200 {
			t.Fatalf("ship %s: %d %s", code, a.status, a.raw)
		}
	}
	got := do(t, "GET", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+rc, etsyAuth(sh), nil)
	if got.status != 200 || dig(got.body, "shipments", 0, "tracking_code") != "9400111899220000000001" ||
		dig(got.body, "shipments", 1, "tracking_code") != "9400111899220000000002" || dig(got.body, "shipments", 2) != nil ||
		dig(got.body, "is_shipped") != true {
		t.Fatalf("receipt: %d %s", got.status, got.raw)
	}
	rep := s.Received(marketplace.Etsy)
	if len(rep.Pushes) != 2 || rep.PushesByOrder[rc] != 2 || rep.Counters.Duplicates != 0 {
		t.Fatalf("report: %+v", rep)
	}
}
