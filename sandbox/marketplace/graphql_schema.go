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
		// QueryRoot.order(id:) and QueryRoot.orders(first:, after:, query:,
		// sortKey:, reverse:) of the Admin GraphQL API.
		"order":  {typ: "Order", args: []string{"id"}},
		"orders": {typ: "OrderConnection", args: append([]string{"sortKey"}, connArgs...)},
	},
	"Mutation": {
		"fulfillmentCreate": {typ: "FulfillmentCreatePayload", args: []string{"fulfillment", "message"}},
	},
	// Order: the fields the fleet reads.
	"Order": {
		"id": {typ: "ID"}, "legacyResourceId": {typ: "UnsignedInt64"}, "name": {typ: "String"},
		"createdAt": {typ: "DateTime"}, "updatedAt": {typ: "DateTime"}, "cancelledAt": {typ: "DateTime"},
		"cancelReason": {typ: "OrderCancelReason"}, "currencyCode": {typ: "CurrencyCode"},
		"displayFinancialStatus": {typ: "OrderDisplayFinancialStatus"}, "displayFulfillmentStatus": {typ: "String"},
		"shippingAddress":   {typ: "MailingAddress"},
		"lineItems":         {typ: "LineItemConnection", args: connArgs},
		"fulfillmentOrders": {typ: "FulfillmentOrderConnection", args: connArgs},
		"fulfillments":      {typ: "Fulfillment", list: true, args: []string{"first"}},
	},
	"OrderConnection": {
		"nodes": {typ: "Order", list: true}, "edges": {typ: "OrderEdge", list: true}, "pageInfo": {typ: "PageInfo"},
	},
	"OrderEdge": {"node": {typ: "Order"}, "cursor": {typ: "String"}},
	"MailingAddress": {
		"name": {typ: "String"}, "address1": {typ: "String"}, "address2": {typ: "String"}, "city": {typ: "String"},
		"provinceCode": {typ: "String"}, "zip": {typ: "String"}, "countryCodeV2": {typ: "CountryCode"},
	},
	"LineItemConnection": {
		"nodes": {typ: "LineItem", list: true}, "edges": {typ: "LineItemEdge", list: true}, "pageInfo": {typ: "PageInfo"},
	},
	"LineItemEdge":   {"node": {typ: "LineItem"}, "cursor": {typ: "String"}},
	"ProductVariant": {"id": {typ: "ID"}, "legacyResourceId": {typ: "UnsignedInt64"}, "sku": {typ: "String"}, "title": {typ: "String"}},
	"Product":        {"id": {typ: "ID"}, "legacyResourceId": {typ: "UnsignedInt64"}, "title": {typ: "String"}},
	// FulfillmentOrder.assignedLocation: where the fulfillment order is to be
	// fulfilled from.
	"FulfillmentOrderAssignedLocation": {"name": {typ: "String"}, "location": {typ: "Location"}},
	"Location":                         {"id": {typ: "ID"}, "legacyResourceId": {typ: "UnsignedInt64"}, "name": {typ: "String"}},
	"FulfillmentLineItemConnection": {
		"nodes": {typ: "FulfillmentLineItem", list: true}, "edges": {typ: "FulfillmentLineItemEdge", list: true},
		"pageInfo": {typ: "PageInfo"},
	},
	"FulfillmentLineItemEdge": {"node": {typ: "FulfillmentLineItem"}, "cursor": {typ: "String"}},
	"FulfillmentLineItem":     {"id": {typ: "ID"}, "quantity": {typ: "Int"}, "lineItem": {typ: "LineItem"}},
	"FulfillmentOrderConnection": {
		"nodes": {typ: "FulfillmentOrder", list: true}, "edges": {typ: "FulfillmentOrderEdge", list: true},
		"pageInfo": {typ: "PageInfo"},
	},
	"FulfillmentOrderEdge": {"node": {typ: "FulfillmentOrder"}, "cursor": {typ: "String"}},
	"FulfillmentOrder": {
		"id": {typ: "ID"}, "status": {typ: "String"}, "requestStatus": {typ: "String"},
		"orderId": {typ: "ID"}, "createdAt": {typ: "DateTime"}, "updatedAt": {typ: "DateTime"},
		"assignedLocation": {typ: "FulfillmentOrderAssignedLocation"},
		"lineItems":        {typ: "FulfillmentOrderLineItemConnection", args: connArgs},
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
	"LineItem": {
		"id": {typ: "ID"}, "sku": {typ: "String"}, "name": {typ: "String"}, "title": {typ: "String"}, "quantity": {typ: "Int"},
		"variant": {typ: "ProductVariant"}, "product": {typ: "Product"},
	},
	"FulfillmentCreatePayload": {"fulfillment": {typ: "Fulfillment"}, "userErrors": {typ: "UserError", list: true}},
	"Fulfillment": {
		"id": {typ: "ID"}, "name": {typ: "String"}, "status": {typ: "String"}, "createdAt": {typ: "DateTime"},
		"trackingInfo":         {typ: "FulfillmentTrackingInfo", list: true, args: []string{"first"}},
		"fulfillmentLineItems": {typ: "FulfillmentLineItemConnection", args: connArgs},
	},
	"FulfillmentTrackingInfo": {"company": {typ: "String"}, "number": {typ: "String"}, "url": {typ: "URL"}},
	"UserError":               {"field": {typ: "String", list: true}, "message": {typ: "String"}},
	"PageInfo": {
		"hasNextPage": {typ: "Boolean"}, "hasPreviousPage": {typ: "Boolean"},
		"startCursor": {typ: "String"}, "endCursor": {typ: "String"},
	},
}

// enumTypes lists the enums a variable may be declared as, with their values.
var enumTypes = map[string][]string{
	"OrderSortKeys": {"CREATED_AT", "ID", "UPDATED_AT", "PROCESSED_AT", "ORDER_NUMBER"},
}

// inputTypes lists the input objects and the keys each accepts.
var inputTypes = map[string][]string{
	"FulfillmentInput":               {"lineItemsByFulfillmentOrder", "trackingInfo", "notifyCustomer", "originAddress"},
	"FulfillmentOrderLineItemsInput": {"fulfillmentOrderId", "fulfillmentOrderLineItems"},
	"FulfillmentOrderLineItemInput":  {"id", "quantity"},
	"FulfillmentTrackingInput":       {"company", "number", "url", "numbers", "urls"},
}

func isConnection(typ string) bool { return strings.HasSuffix(typ, "Connection") }
