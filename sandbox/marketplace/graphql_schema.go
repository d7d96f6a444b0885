package marketplace

// The schema: the object and input types the stand-in serves.

import (
	"strings"
)

// fieldDef describes one field of an object type.
type fieldDef struct {
	typ  string   // named type of the field (element type for lists)
	list bool     // the field is a list of typ
	args []string // arguments the field accepts
}

var connArgs = []string{"first", "last", "after", "before", "reverse", "query"}

// schema holds the object types the stand-in serves; any other named type is a scalar
// or enum.
var schema = map[string]map[string]fieldDef{
	"QueryRoot": {
		"order": {typ: "Order", args: []string{"id"}},
	},
	"Mutation": {
		"fulfillmentCreate": {typ: "FulfillmentCreatePayload", args: []string{"fulfillment", "message"}},
	},
	"Order": {
		"id": {typ: "ID"}, "name": {typ: "String"}, "displayFulfillmentStatus": {typ: "String"},
		"fulfillmentOrders": {typ: "FulfillmentOrderConnection", args: connArgs},
	},
	"FulfillmentOrderConnection": {
		"nodes": {typ: "FulfillmentOrder", list: true}, "edges": {typ: "FulfillmentOrderEdge", list: true},
		"pageInfo": {typ: "PageInfo"},
	},
	"FulfillmentOrderEdge": {"node": {typ: "FulfillmentOrder"}, "cursor": {typ: "String"}},
	"FulfillmentOrder": {
		"id": {typ: "ID"}, "status": {typ: "String"}, "requestStatus": {typ: "String"},
		"orderId": {typ: "ID"}, "createdAt": {typ: "DateTime"}, "updatedAt": {typ: "DateTime"},
		"lineItems": {typ: "FulfillmentOrderLineItemConnection", args: connArgs},
	},
	"FulfillmentOrderLineItemConnection": {
		"nodes": {typ: "FulfillmentOrderLineItem", list: true}, "edges": {typ: "FulfillmentOrderLineItemEdge", list: true},
		"pageInfo": {typ: "PageInfo"},
	},
	"FulfillmentOrderLineItemEdge": {"node": {typ: "FulfillmentOrderLineItem"}, "cursor": {typ: "String"}},
	"FulfillmentOrderLineItem": {
		"id": {typ: "ID"}, "totalQuantity": {typ: "Int"}, "remainingQuantity": {typ: "Int"},
		"sku": {typ: "String"}, "lineItem": {typ: "LineItem"},
	},
	"LineItem":                 {"id": {typ: "ID"}, "sku": {typ: "String"}, "name": {typ: "String"}, "quantity": {typ: "Int"}},
	"FulfillmentCreatePayload": {"fulfillment": {typ: "Fulfillment"}, "userErrors": {typ: "UserError", list: true}},
	"Fulfillment": {
		"id": {typ: "ID"}, "name": {typ: "String"}, "status": {typ: "String"}, "createdAt": {typ: "DateTime"},
		"trackingInfo": {typ: "FulfillmentTrackingInfo", list: true, args: []string{"first"}},
	},
	"FulfillmentTrackingInfo": {"company": {typ: "String"}, "number": {typ: "String"}, "url": {typ: "URL"}},
	"UserError":               {"field": {typ: "String", list: true}, "message": {typ: "String"}},
	"PageInfo": {
		"hasNextPage": {typ: "Boolean"}, "hasPreviousPage": {typ: "Boolean"},
		"startCursor": {typ: "String"}, "endCursor": {typ: "String"},
	},
}

// inputTypes lists the input objects and the keys each accepts.
var inputTypes = map[string][]string{
	"FulfillmentInput":               {"lineItemsByFulfillmentOrder", "trackingInfo", "notifyCustomer", "originAddress"},
	"FulfillmentOrderLineItemsInput": {"fulfillmentOrderId", "fulfillmentOrderLineItems"},
	"FulfillmentOrderLineItemInput":  {"id", "quantity"},
	"FulfillmentTrackingInput":       {"company", "number", "url", "numbers", "urls"},
}

func isConnection(typ string) bool { return strings.HasSuffix(typ, "Connection") }
