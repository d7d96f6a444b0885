package marketplace

// Shopify orders: placed and cancelled through the sandbox admin API, read
// through the Admin GraphQL API's QueryRoot.order and QueryRoot.orders, and
// delivered as REST-shaped webhook payloads (orders/create, orders/cancelled,
// orders/updated).

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// shopifyIDs hands out the numeric (legacy) ids of placed orders, their line
// items, fulfillment orders and unnamed products; it starts from the clock so
// a restarted sandbox does not repeat ids.
var shopifyIDs atomic.Int64

func init() { shopifyIDs.Store(6_000_000_000_000 + time.Now().UnixMilli()%1_000_000_000*1_000) }

func nextShopifyID() string { return strconv.FormatInt(shopifyIDs.Add(1), 10) }

// flexID is an id given as a JSON string or number, numeric or a gid.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		*f = ""
	case string:
		*f = flexID(x)
	case float64:
		*f = flexID(strconv.FormatFloat(x, 'f', -1, 64))
	default:
		return fmt.Errorf("an id must be a string or a number")
	}
	return nil
}

var legacyRE = regexp.MustCompile(`^(?:gid://shopify/[A-Za-z]+/)?([1-9][0-9]{0,18})$`)

// legacyOf is the numeric id of a numeric id or gid; ok is false for anything else.
func legacyOf(id string) (string, bool) {
	m := legacyRE.FindStringSubmatch(strings.TrimSpace(id))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// ShopifyOrderLine is a line of an order placed in the sandbox.
type ShopifyOrderLine struct {
	ProductID flexID `json:"product_id"`
	VariantID flexID `json:"variant_id"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	Title     string `json:"title"`
	// Location is "second" to stock the line at the shop's second location (a
	// fulfillment order of its own); empty or "primary" otherwise.
	Location string `json:"location"`
}

// ShopifyOrderInput is the body of POST /_sandbox/shopify/shops/{shop}/orders.
type ShopifyOrderInput struct {
	Lines    []ShopifyOrderLine `json:"lines"`
	Address  OrderAddress       `json:"address"`
	Currency string             `json:"currency"`
	// FinancialStatus is the order's displayFinancialStatus: PAID unless given
	// (PENDING, AUTHORIZED, PARTIALLY_PAID, PARTIALLY_REFUNDED, REFUNDED, ...).
	FinancialStatus string `json:"financial_status"`
}

// ShopifyPlaced is what placing an order answers.
type ShopifyPlaced struct {
	OrderID string   `json:"order_id"` // the legacy numeric id
	GID     string   `json:"gid"`
	Name    string   `json:"name"`
	ItemIDs []string `json:"item_ids"` // line items' legacy ids, in the order of the lines
}

var financialStatuses = []string{"PAID", "PENDING", "AUTHORIZED", "PARTIALLY_PAID", "PARTIALLY_REFUNDED", "REFUNDED", "VOIDED", "EXPIRED"}

// PlaceShopifyOrder places an order in an issued shop and sends orders/create.
func (s *Server) PlaceShopifyOrder(shop string, in ShopifyOrderInput) (ShopifyPlaced, error) {
	if len(in.Lines) == 0 || len(in.Lines) > 50 {
		return ShopifyPlaced{}, errInvalid("an order needs 1 to 50 lines")
	}
	cur := strings.ToUpper(strings.TrimSpace(in.Currency))
	if cur == "" {
		cur = "USD"
	}
	if len(cur) != 3 {
		return ShopifyPlaced{}, errInvalid("currency must be an ISO 4217 code")
	}
	fin := strings.ToUpper(strings.TrimSpace(in.FinancialStatus))
	if fin == "" {
		fin = "PAID"
	}
	if !slices.Contains(financialStatuses, fin) {
		return ShopifyPlaced{}, errInvalid(fmt.Sprintf("financial_status must be one of %v", financialStatuses))
	}
	now := time.Now()
	s.mu.Lock()
	sh, ok := s.shops[shop]
	if !ok || !sh.issued {
		s.mu.Unlock()
		return ShopifyPlaced{}, errNoShop
	}
	legacy := nextShopifyID()
	sh.number++
	o := &shopifyOrder{gid: "gid://shopify/Order/" + legacy, legacy: legacy, name: fmt.Sprintf("#%d", 1000+sh.number),
		created: now, updated: now, currency: cur, financial: fin, address: in.Address}
	byLocation := map[string]*shopifyFulfillment{}
	out := ShopifyPlaced{OrderID: legacy, GID: o.gid, Name: o.name}
	for i, l := range in.Lines {
		if l.Quantity < 1 || l.Quantity > 10_000 {
			s.mu.Unlock()
			return ShopifyPlaced{}, errInvalid(fmt.Sprintf("lines[%d].quantity must be 1..10000", i))
		}
		loc := primaryLocation
		switch strings.ToLower(l.Location) {
		case "", "primary":
		case "second":
			loc = secondLocation
		default:
			s.mu.Unlock()
			return ShopifyPlaced{}, errInvalid(fmt.Sprintf("lines[%d].location must be primary or second", i))
		}
		item := &shopifyLineItem{legacy: nextShopifyID(), sku: l.SKU, title: l.Title, qty: l.Quantity}
		item.gid = "gid://shopify/LineItem/" + item.legacy
		for dst, src := range map[*string]flexID{&item.product: l.ProductID, &item.variant: l.VariantID} {
			if src == "" {
				*dst = nextShopifyID()
				continue
			}
			id, ok := legacyOf(string(src))
			if !ok {
				s.mu.Unlock()
				return ShopifyPlaced{}, errInvalid(fmt.Sprintf("lines[%d]: %q is not a Shopify id", i, src))
			}
			*dst = id
		}
		if item.title == "" {
			item.title = "Print " + item.sku
		}
		o.items = append(o.items, item)
		out.ItemIDs = append(out.ItemIDs, item.legacy)
		fo, ok := byLocation[loc]
		if !ok {
			fo = &shopifyFulfillment{gid: "gid://shopify/FulfillmentOrder/" + nextShopifyID(), order: o, status: "OPEN",
				location: loc, created: now, updated: now}
			byLocation[loc] = fo
			o.fos = append(o.fos, fo)
			sh.fos[fo.gid] = fo
		}
		fo.lines = append(fo.lines, &shopifyLine{gid: "gid://shopify/FulfillmentOrderLineItem/" + nextShopifyID(),
			itemGID: item.gid, sku: item.sku, total: item.qty, remaining: item.qty})
	}
	sh.orders[o.gid] = o
	s.webhookLocked(shop, sh, "orders/create", o, now)
	s.mu.Unlock()
	return out, nil
}

var errNoShop = errInvalid("no such shop: issue it with POST /_sandbox/shopify/shops first")

// CancelShopifyOrder cancels an order (legacy id or gid) as the merchant
// would: cancelledAt and cancelReason are set, open fulfillment orders close,
// and orders/cancelled then orders/updated are sent.
func (s *Server) CancelShopifyOrder(shop, orderID, reason string) error {
	legacy, ok := legacyOf(orderID)
	if !ok {
		return errInvalid("order id must be a Shopify order id or gid")
	}
	reason = strings.ToUpper(strings.TrimSpace(reason))
	if reason == "" {
		reason = "CUSTOMER"
	}
	if !slices.Contains([]string{"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"}, reason) {
		return errInvalid("reason must be one of customer, declined, fraud, inventory, other, staff")
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shop]
	if !ok || !sh.issued {
		return errNoShop
	}
	o, ok := sh.orders["gid://shopify/Order/"+legacy]
	if !ok {
		return errNotFound
	}
	if !o.cancelledAt.IsZero() {
		return errCancelled
	}
	o.cancelledAt, o.cancelReason, o.updated = now, reason, now
	for _, fo := range o.fos {
		if fo.status != "CLOSED" {
			fo.status, fo.updated = "CLOSED", now
		}
	}
	s.webhookLocked(shop, sh, "orders/cancelled", o, now)
	s.webhookLocked(shop, sh, "orders/updated", o, now)
	return nil
}

var (
	errNotFound  = errInvalid("no such order")
	errCancelled = errInvalid("the order is already cancelled")
)

func (s *Server) shopifyPlaceOrder(w http.ResponseWriter, r *http.Request) {
	var in ShopifyOrderInput
	if err := sim.DecodeJSON(w, r, &in); err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
		return
	}
	out, err := s.PlaceShopifyOrder(r.PathValue("shop"), in)
	switch {
	case err == errNoShop:
		sim.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		sim.WriteJSON(w, http.StatusCreated, out)
	}
}

func (s *Server) shopifyCancelOrder(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := sim.DecodeJSON(w, r, &body); err != nil {
			sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
			return
		}
	}
	err := s.CancelShopifyOrder(r.PathValue("shop"), r.PathValue("order_id"), body.Reason)
	switch {
	case err == errNoShop || err == errNotFound:
		sim.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err == errCancelled:
		sim.WriteJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case err != nil:
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		sim.WriteJSON(w, http.StatusOK, map[string]string{"order_id": r.PathValue("order_id"), "status": "cancelled"})
	}
}

// --- GraphQL ---

func (s *Server) shopifyQuery(sh *shopifyShop, op *operation, vars map[string]any, now time.Time, cost *int) gqlReply {
	rootObj := object{}
	var errs []*gqlError
	for _, f := range op.sel {
		switch f.name {
		case "order":
			id, _ := args(f, vars)["id"].(string)
			if !orderGIDRE.MatchString(id) {
				errs = append(errs, &gqlError{Message: fmt.Sprintf("Invalid global id '%s'", id), Path: []any{f.key()},
					Extensions: map[string]any{"code": "argumentLiteralsIncompatible"}})
				continue
			}
			rootObj["order"] = orderObject(sh.order(id, now))
		case "orders":
			a := args(f, vars)
			q, _ := a["query"].(string)
			filter, gerr := parseOrderQuery(q)
			if gerr != nil {
				errs = append(errs, gerr)
				continue
			}
			sortKey, _ := a["sortKey"].(string)
			reverse, _ := a["reverse"].(bool)
			rootObj["orders"] = sh.ordersQuery(filter, sortKey, reverse)
		}
	}
	s.countLocked(Shopify, func(c *Counters) { c.Reads++ })
	data := project("QueryRoot", rootObj, op.sel, vars, cost)
	return gqlReply{Data: data, Errors: errs}
}

// orderFilter is the part of Shopify's search syntax the sandbox reads:
// updated_at and created_at comparisons (updated_at:>'2026-01-01T00:00:00Z'),
// all of which must hold. Other terms are ignored.
type orderFilter []timeTerm

type timeTerm struct {
	field string // updated_at or created_at
	op    string // >, >=, <, <=, or "" for =
	at    time.Time
}

var termRE = regexp.MustCompile(`(updated_at|created_at):(>=|<=|>|<)?(?:'([^']*)'|"([^"]*)"|(\S+))`)

func parseOrderQuery(q string) (orderFilter, *gqlError) {
	var f orderFilter
	for _, m := range termRE.FindAllStringSubmatch(q, -1) {
		raw := m[3] + m[4] + m[5]
		at, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			if at, err = time.Parse("2006-01-02", raw); err != nil {
				return nil, &gqlError{Message: fmt.Sprintf("Invalid search field value for %s: %q", m[1], raw),
					Extensions: map[string]any{"code": "BAD_REQUEST"}}
			}
		}
		f = append(f, timeTerm{field: m[1], op: m[2], at: at})
	}
	return f, nil
}

func (f orderFilter) match(o *shopifyOrder) bool {
	for _, t := range f {
		// Shopify keeps timestamps to the second.
		v := o.updated.Truncate(time.Second)
		if t.field == "created_at" {
			v = o.created.Truncate(time.Second)
		}
		ok := false
		switch t.op {
		case ">":
			ok = v.After(t.at)
		case ">=":
			ok = !v.Before(t.at)
		case "<":
			ok = v.Before(t.at)
		case "<=":
			ok = !v.After(t.at)
		default:
			ok = v.Equal(t.at)
		}
		if !ok {
			return false
		}
	}
	return true
}

// ordersQuery lists the shop's orders matching filter, sorted by sortKey (ID
// by default) and then by id, as a connection whose cursors are keyset
// cursors, like Shopify's: a page after a cursor starts after that order's
// sort key, so an order that changes while a client pages moves behind it
// without shifting the others.
func (sh *shopifyShop) ordersQuery(filter orderFilter, sortKey string, reverse bool) resolver {
	var list []*shopifyOrder
	for _, o := range sh.orders {
		if filter.match(o) {
			list = append(list, o)
		}
	}
	key := func(o *shopifyOrder) orderKey {
		k := orderKey{ID: fmt.Sprintf("%020s", o.legacy)}
		switch sortKey {
		case "UPDATED_AT":
			k.At = o.updated.UnixNano()
		case "CREATED_AT", "PROCESSED_AT":
			k.At = o.created.UnixNano()
		}
		return k
	}
	cmp := func(a, b orderKey) int {
		if a.At != b.At {
			if a.At < b.At {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	}
	if reverse {
		plain := cmp
		cmp = func(a, b orderKey) int { return -plain(a, b) }
	}
	slices.SortFunc(list, func(a, b *shopifyOrder) int { return cmp(key(a), key(b)) })
	return func(a map[string]any) any {
		start := 0
		if after, ok := a["after"].(string); ok && after != "" {
			var k orderKey
			if b, err := base64.StdEncoding.DecodeString(after); err == nil && json.Unmarshal(b, &k) == nil {
				for start < len(list) && cmp(key(list[start]), k) <= 0 {
					start++
				}
			}
		}
		page := list[start:]
		hasNext := false
		if n, ok := a["first"].(json.Number); ok {
			if i, err := n.Int64(); err == nil && int(i) < len(page) {
				page, hasNext = page[:i], true
			}
		}
		cursor := func(o *shopifyOrder) string {
			b, _ := json.Marshal(key(o))
			return base64.StdEncoding.EncodeToString(b)
		}
		nodes := make([]any, len(page))
		edges := make([]any, len(page))
		for i, o := range page {
			obj := orderObject(o)
			nodes[i], edges[i] = obj, object{"node": obj, "cursor": cursor(o)}
		}
		info := object{"hasNextPage": hasNext, "hasPreviousPage": start > 0, "startCursor": nil, "endCursor": nil}
		if len(page) > 0 {
			info["startCursor"], info["endCursor"] = cursor(page[0]), cursor(page[len(page)-1])
		}
		return object{"nodes": nodes, "edges": edges, "pageInfo": info}
	}
}

// orderKey is an orders cursor: the sort value and the zero-padded id.
type orderKey struct {
	At int64  `json:"at"`
	ID string `json:"id"`
}

func rfc3339(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func lineItemObject(it *shopifyLineItem) object {
	return object{"id": it.gid, "sku": nilIfEmpty(it.sku), "name": it.title, "title": it.title, "quantity": it.qty,
		"variant": object{"id": "gid://shopify/ProductVariant/" + it.variant, "legacyResourceId": it.variant, "sku": nilIfEmpty(it.sku), "title": "Default Title"},
		"product": object{"id": "gid://shopify/Product/" + it.product, "legacyResourceId": it.product, "title": it.title}}
}

// orderObject is an Order as the Admin GraphQL API serves it.
func orderObject(o *shopifyOrder) object {
	items := map[string]*shopifyLineItem{}
	lineItems := make([]object, len(o.items))
	for i, it := range o.items {
		items[it.gid] = it
		lineItems[i] = lineItemObject(it)
	}
	itemObj := func(gid string) object {
		if it, ok := items[gid]; ok {
			return lineItemObject(it)
		}
		return object{"id": gid}
	}
	fos := make([]object, len(o.fos))
	fulfilled, open := 0, 0
	for i, fo := range o.fos {
		lines := make([]object, len(fo.lines))
		for j, l := range fo.lines {
			lines[j] = object{"id": l.gid, "totalQuantity": l.total, "remainingQuantity": l.remaining, "sku": l.sku,
				"lineItem": itemObj(l.itemGID)}
		}
		locName := "Main warehouse"
		if fo.location == secondLocation {
			locName = "Second warehouse"
		}
		fos[i] = object{"id": fo.gid, "status": fo.status, "requestStatus": "UNSUBMITTED", "orderId": o.gid,
			"createdAt": rfc3339(fo.created), "updatedAt": rfc3339(fo.updated),
			"assignedLocation": object{"name": locName, "location": object{"id": fo.location,
				"legacyResourceId": strings.TrimPrefix(fo.location, "gid://shopify/Location/"), "name": locName}},
			"lineItems": connection(lines)}
		if fo.status == "CLOSED" {
			fulfilled++
		} else {
			open++
		}
	}
	status := "UNFULFILLED"
	switch {
	case open == 0:
		status = "FULFILLED"
	case fulfilled > 0 || len(o.fulfillments) > 0:
		status = "PARTIALLY_FULFILLED"
	}
	done := make([]any, len(o.fulfillments))
	for i, d := range o.fulfillments {
		lines := make([]object, len(d.lines))
		for j, p := range d.lines {
			lines[j] = object{"id": fmt.Sprintf("%s/line/%d", d.gid, j), "quantity": p.qty, "lineItem": itemObj(p.itemGID)}
		}
		done[i] = object{"id": d.gid, "name": d.name, "status": d.status, "createdAt": rfc3339(d.created),
			"trackingInfo":         []any{object{"company": nilIfEmpty(d.company), "number": nilIfEmpty(d.number), "url": nilIfEmpty(d.url)}},
			"fulfillmentLineItems": connection(lines)}
	}
	var cancelReason any
	if o.cancelReason != "" {
		cancelReason = o.cancelReason
	}
	var addr any
	if o.address != (OrderAddress{}) {
		a := o.address
		addr = object{"name": a.Name, "address1": a.Line1, "address2": nilIfEmpty(a.Line2), "city": a.City,
			"provinceCode": nilIfEmpty(a.Region), "zip": a.PostalCode, "countryCodeV2": a.CountryCode}
	}
	return object{"id": o.gid, "legacyResourceId": o.legacy, "name": o.name,
		"createdAt": rfc3339(o.created), "updatedAt": rfc3339(o.updated), "cancelledAt": rfc3339(o.cancelledAt),
		"cancelReason": cancelReason, "currencyCode": o.currency, "displayFinancialStatus": o.financial,
		"displayFulfillmentStatus": status, "shippingAddress": addr,
		"lineItems": connection(lineItems), "fulfillmentOrders": connection(fos), "fulfillments": done}
}

// restOrder is the order as a webhook carries it: the REST Admin API's Order
// resource (ids are numbers; statuses lower case).
func restOrder(shop string, o *shopifyOrder) map[string]any {
	num := func(s string) any {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil
		}
		return n
	}
	lines := make([]any, len(o.items))
	for i, it := range o.items {
		lines[i] = map[string]any{"id": num(it.legacy), "admin_graphql_api_id": it.gid, "variant_id": num(it.variant),
			"product_id": num(it.product), "sku": it.sku, "quantity": it.qty, "title": it.title, "name": it.title,
			"fulfillable_quantity": it.qty}
	}
	var addr any
	if o.address != (OrderAddress{}) {
		a := o.address
		addr = map[string]any{"name": a.Name, "address1": a.Line1, "address2": nilIfEmpty(a.Line2), "city": a.City,
			"province_code": nilIfEmpty(a.Region), "zip": a.PostalCode, "country_code": a.CountryCode}
	}
	var reason any
	if o.cancelReason != "" {
		reason = strings.ToLower(o.cancelReason)
	}
	return map[string]any{"id": num(o.legacy), "admin_graphql_api_id": o.gid, "name": o.name,
		"order_number": num(strings.TrimPrefix(o.name, "#")), "created_at": rfc3339(o.created), "updated_at": rfc3339(o.updated),
		"cancelled_at": rfc3339(o.cancelledAt), "cancel_reason": reason, "currency": o.currency,
		"financial_status": strings.ToLower(o.financial), "line_items": lines, "shipping_address": addr,
		"shop_domain": shop + ".myshopify.com"}
}
