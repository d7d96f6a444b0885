package marketplace

// The Shopify Admin GraphQL stand-in: an order's fulfillment orders and the
// fulfillmentCreate mutation, with a per-shop leaky bucket of query cost points.

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

type shopifyShop struct {
	orders map[string]*shopifyOrder       // by order gid
	fos    map[string]*shopifyFulfillment // by fulfillment order gid
	budget bucket

	// Credentials, once the shop is issued (shopify_shops.go).
	issued                  bool
	clientID, clientSecret  string
	refresh                 map[string]time.Time // refresh tokens that work, and until when
	pendingAccess, retiring string               // the newest refreshed token, unused yet, and the refresh token it replaced

	number int // the last order's number: "#1001" is the first

	// Webhooks (shopify_webhooks.go).
	hookAddress string
	deliveries  []*ShopifyDelivery
	pending     []*ShopifyDelivery // held for webhook_shuffle
}

// shopifyOrder is an Order: placed through POST /_sandbox/shopify/shops/{shop}/orders,
// or made up the first time a push reads an order id the sandbox never saw.
type shopifyOrder struct {
	gid, legacy, name string
	fos               []*shopifyFulfillment
	created, updated  time.Time
	cancelledAt       time.Time
	cancelReason      string // OrderCancelReason: CUSTOMER, DECLINED, FRAUD, INVENTORY, OTHER, STAFF
	currency          string
	financial         string // OrderDisplayFinancialStatus: PAID, PENDING, REFUNDED, ...
	items             []*shopifyLineItem
	address           OrderAddress
	fulfillments      []*shopifyDone
}

// shopifyLineItem is a LineItem of an order.
type shopifyLineItem struct {
	legacy, gid, sku, title string
	variant, product        string // legacy ids
	qty                     int
}

// shopifyDone is a Fulfillment created by fulfillmentCreate.
type shopifyDone struct {
	gid, name, status, company, number, url string
	created                                 time.Time
	lines                                   []donePick
}

type donePick struct {
	itemGID string
	qty     int
}

// shopifyFulfillment is a fulfillment order and, once fulfilled, what was sent.
type shopifyFulfillment struct {
	gid      string
	order    *shopifyOrder
	status   string // OPEN, IN_PROGRESS, CLOSED
	location string // the assigned Location's gid
	lines    []*shopifyLine
	created  time.Time
	updated  time.Time
}

type shopifyLine struct {
	gid, itemGID, sku string
	total, remaining  int
}

// The shop's locations: every line is stocked at the primary one unless an
// order places it at the second.
const (
	primaryLocation = "gid://shopify/Location/71001"
	secondLocation  = "gid://shopify/Location/71002"
)

var orderGIDRE = regexp.MustCompile(`^gid://shopify/Order/([1-9][0-9]{0,18})$`)

const shopifyDocs = "https://shopify.dev/api/usage/limits#rate-limits"

// order returns the shop's order, creating it with one open fulfillment order the
// first time it is asked for. Everything about it follows from the order number, so
// two sandboxes agree on ids.
func (sh *shopifyShop) order(gid string, now time.Time) *shopifyOrder {
	if o, ok := sh.orders[gid]; ok {
		return o
	}
	m := orderGIDRE.FindStringSubmatch(gid)
	h := fnv.New64a()
	h.Write([]byte(m[1]))
	n := h.Sum64()%900_000_000_000 + 100_000_000_000
	o := &shopifyOrder{gid: gid, legacy: m[1], name: "#" + strconv.FormatUint(1000+n%9000, 10), created: now, updated: now,
		currency: "USD", financial: "PAID"}
	fo := &shopifyFulfillment{
		gid: "gid://shopify/FulfillmentOrder/" + strconv.FormatUint(n, 10), order: o, status: "OPEN",
		location: primaryLocation, created: now, updated: now,
	}
	qty := 1 + int(n%3)
	item := strconv.FormatUint(n+2, 10)
	o.items = []*shopifyLineItem{{legacy: item, gid: "gid://shopify/LineItem/" + item, sku: "PF-" + m[1],
		title: "Print PF-" + m[1], qty: qty}}
	fo.lines = []*shopifyLine{{
		gid:     "gid://shopify/FulfillmentOrderLineItem/" + strconv.FormatUint(n+1, 10),
		itemGID: "gid://shopify/LineItem/" + item,
		sku:     "PF-" + m[1], total: qty, remaining: qty,
	}}
	o.fos = []*shopifyFulfillment{fo}
	sh.orders[gid] = o
	sh.fos[fo.gid] = fo
	return o
}

func (s *Server) shop(name string) *shopifyShop {
	sh, ok := s.shops[name]
	if !ok {
		sh = &shopifyShop{orders: map[string]*shopifyOrder{}, fos: map[string]*shopifyFulfillment{}}
		s.shops[name] = sh
	}
	return sh
}

type gqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

type gqlReply struct {
	Data       any         `json:"data,omitempty"`
	Errors     []*gqlError `json:"errors,omitempty"`
	Extensions any         `json:"extensions,omitempty"`
}

type throttleStatus struct {
	MaximumAvailable   float64 `json:"maximumAvailable"`
	CurrentlyAvailable float64 `json:"currentlyAvailable"`
	RestoreRate        float64 `json:"restoreRate"`
}

type queryCost struct {
	RequestedQueryCost int            `json:"requestedQueryCost"`
	ActualQueryCost    *int           `json:"actualQueryCost"`
	ThrottleStatus     throttleStatus `json:"throttleStatus"`
}

// ShopifyVersions are the Admin API versions the stand-in serves: the ones
// Shopify supports in late 2026 (each stable version is supported for twelve
// months; 2025-xx versions are past their window). A request for any other
// version is refused, where Shopify would quietly fall forward to the oldest
// supported one.
var ShopifyVersions = map[string]bool{"2026-01": true, "2026-04": true, "2026-07": true, "2026-10": true}

func (s *Server) shopifyGraphQL(w http.ResponseWriter, r *http.Request) {
	shopName := r.PathValue("shop")
	if !s.arrive(r, Shopify) {
		return
	}
	w.Header().Set("X-Request-Id", s.dice.Hex(8)+"-"+s.dice.Hex(4)+"-"+s.dice.Hex(4)+"-"+s.dice.Hex(12))
	if !ShopifyVersions[r.PathValue("version")] {
		sim.WriteJSON(w, http.StatusNotFound, map[string]string{"errors": "Not Found: API version " + r.PathValue("version") + " is not supported"})
		return
	}
	if s.injectError(Shopify) {
		sim.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"errors": "Service Unavailable (injected)"})
		return
	}
	s.mu.Lock()
	auth := s.shopifyAuthLocked(shopName, r.Header.Get("X-Shopify-Access-Token"), time.Now())
	if auth != tokenOK {
		s.countLocked(Shopify, func(c *Counters) { c.AuthFailures++ })
	}
	s.mu.Unlock()
	if auth != tokenOK {
		sim.WriteJSON(w, http.StatusUnauthorized, map[string]string{
			"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
		return
	}

	var req gqlRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		if err := sim.DecodeJSON(w, r, &req); err != nil {
			s.count(Shopify, func(c *Counters) { c.ValidationErrors++ })
			sim.WriteJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{"query": "Required parameter missing or invalid"}})
			return
		}
	default:
		s.count(Shopify, func(c *Counters) { c.ValidationErrors++ })
		sim.WriteJSON(w, http.StatusUnsupportedMediaType, map[string]string{"errors": "Content-Type must be application/json"})
		return
	}
	if s.injectInternal(Shopify) {
		// The Admin GraphQL API reports a failure of its own as HTTP 200 with
		// errors[].extensions.code INTERNAL_SERVER_ERROR; nothing ran.
		sim.WriteJSON(w, http.StatusOK, gqlReply{Errors: []*gqlError{{Message: "Internal error. Looks like something went wrong on our end.",
			Extensions: map[string]any{"code": "INTERNAL_SERVER_ERROR", "requestId": w.Header().Get("X-Request-Id")}}}})
		return
	}
	op, vars, root, gerr := prepare(req)
	if gerr != nil {
		s.count(Shopify, func(c *Counters) { c.ValidationErrors++ })
		sim.WriteJSON(w, http.StatusOK, gqlReply{Errors: []*gqlError{gerr}})
		return
	}
	requested := requestedCost(root, op.sel, vars)
	if op.kind == "mutation" {
		requested = 10 * len(op.sel)
	}
	size, restore := s.limits.ShopifyBucketSize, s.limits.ShopifyRestoreRate

	now := time.Now()
	s.mu.Lock()
	sh := s.shop(shopName)
	sh.budget.refill(now, restore, size)
	status := func() throttleStatus {
		return throttleStatus{MaximumAvailable: size, CurrentlyAvailable: math.Floor(sh.budget.tokens), RestoreRate: restore}
	}
	if float64(requested) > size {
		s.countLocked(Shopify, func(c *Counters) { c.ValidationErrors++ })
		ts := status()
		s.mu.Unlock()
		sim.WriteJSON(w, http.StatusOK, gqlReply{
			Errors: []*gqlError{{Message: fmt.Sprintf("Query cost is %d, which exceeds the single query max cost limit (%.0f).", requested, size),
				Extensions: map[string]any{"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": size}}},
			Extensions: map[string]any{"cost": queryCost{RequestedQueryCost: requested, ThrottleStatus: ts}},
		})
		return
	}
	throttled := false
	if s.forcedThrottleLocked(Shopify) {
		sh.budget.tokens = 0 // someone else spent the shop's points
		throttled = true
	} else if sh.budget.tokens < float64(requested) {
		s.countLocked(Shopify, func(c *Counters) { c.RejectedBudget++; c.OverBudget++ })
		throttled = true
	}
	if throttled {
		ts := status()
		s.mu.Unlock()
		sim.WriteJSON(w, http.StatusOK, gqlReply{
			Errors:     []*gqlError{{Message: "Throttled", Extensions: map[string]any{"code": "THROTTLED", "documentation": shopifyDocs}}},
			Extensions: map[string]any{"cost": queryCost{RequestedQueryCost: requested, ThrottleStatus: ts}},
		})
		return
	}
	sh.budget.tokens -= float64(requested)
	var rep gqlReply
	actual := 0
	if op.kind == "mutation" {
		rep = s.shopifyMutate(shopName, sh, op, vars, now)
		actual = requested
	} else {
		rep = s.shopifyQuery(sh, op, vars, now, &actual)
	}
	sh.budget.tokens = math.Min(size, sh.budget.tokens+float64(requested-actual))
	rep.Extensions = map[string]any{"cost": queryCost{RequestedQueryCost: requested, ActualQueryCost: &actual, ThrottleStatus: status()}}
	s.mu.Unlock()
	sim.WriteJSON(w, http.StatusOK, rep)
}

// prepare parses, picks and checks the operation and coerces its variables.
func prepare(req gqlRequest) (*operation, map[string]any, string, *gqlError) {
	op, err := parseDocument(req.Query, req.OperationName)
	if err != nil {
		return nil, nil, "", err.(*gqlError)
	}
	vars, err := op.coerceVariables(req.Variables)
	if err != nil {
		return nil, nil, "", err.(*gqlError)
	}
	root := "QueryRoot"
	if op.kind == "mutation" {
		root = "Mutation"
	}
	if err := validate(req.Query, root, op.sel, vars); err != nil {
		return nil, nil, "", err.(*gqlError)
	}
	return op, vars, root, nil
}

// fulfillmentInput is the decoded FulfillmentInput.
type fulfillmentInput struct {
	groups                  []foGroup
	hasTracking             bool
	company, number, urlStr string
	notify                  bool
}

// foGroup is one FulfillmentOrderLineItemsInput: a fulfillment order and,
// optionally, which of its lines to fulfill.
type foGroup struct {
	foID  string
	lines []foPick
}

type foPick struct {
	id  string
	qty int
}

var trackingNumberRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 -]{2,62}[A-Za-z0-9]$`)

func (s *Server) shopifyMutate(shopName string, sh *shopifyShop, op *operation, vars map[string]any, now time.Time) gqlReply {
	rootObj := object{}
	for _, f := range op.sel {
		if f.name != "fulfillmentCreate" {
			continue
		}
		in, gerr := decodeFulfillmentInput(args(f, vars)["fulfillment"])
		if gerr != nil {
			s.countLocked(Shopify, func(c *Counters) { c.ValidationErrors++ })
			return gqlReply{Errors: []*gqlError{gerr}}
		}
		rootObj["fulfillmentCreate"] = s.fulfillmentCreate(shopName, sh, in, now)
	}
	var cost int
	return gqlReply{Data: project("Mutation", rootObj, op.sel, vars, &cost)}
}

func userError(msg string, path ...any) object {
	return object{"field": append([]any{"fulfillment"}, path...), "message": msg}
}

func (s *Server) fulfillmentCreate(shopName string, sh *shopifyShop, in fulfillmentInput, now time.Time) object {
	var errs []any
	duplicate := false
	if len(in.groups) == 0 {
		errs = append(errs, userError("Line items by fulfillment order must have at least one entry.", "lineItemsByFulfillmentOrder"))
	}
	type pick struct {
		line *shopifyLine
		qty  int
	}
	var picks []pick
	var fos []*shopifyFulfillment
	for i, g := range in.groups {
		idx := strconv.Itoa(i)
		fo, ok := sh.fos[g.foID]
		if !ok {
			errs = append(errs, userError("Fulfillment order does not exist.", "lineItemsByFulfillmentOrder", idx, "fulfillmentOrderId"))
			continue
		}
		if fo.status == "CLOSED" {
			duplicate = true
			errs = append(errs, userError(fmt.Sprintf("Fulfillment order %s has an unfulfillable status= closed.", g.foID),
				"lineItemsByFulfillmentOrder", idx, "fulfillmentOrderId"))
			continue
		}
		if len(fos) > 0 && (fo.location != fos[0].location || fo.order != fos[0].order) {
			// fulfillmentCreate fulfills fulfillment orders of one order
			// assigned to one location; others need a call of their own.
			errs = append(errs, userError("All fulfillment orders must be assigned to the same location and belong to the same order.",
				"lineItemsByFulfillmentOrder", idx, "fulfillmentOrderId"))
			continue
		}
		fos = append(fos, fo)
		if len(g.lines) == 0 {
			for _, l := range fo.lines {
				if l.remaining > 0 {
					picks = append(picks, pick{l, l.remaining})
				}
			}
			continue
		}
		for j, gl := range g.lines {
			var line *shopifyLine
			for _, l := range fo.lines {
				if l.gid == gl.id {
					line = l
				}
			}
			switch {
			case line == nil:
				errs = append(errs, userError("Fulfillment order line item does not belong to the fulfillment order.",
					"lineItemsByFulfillmentOrder", idx, "fulfillmentOrderLineItems", strconv.Itoa(j), "id"))
			case gl.qty < 1 || gl.qty > line.remaining:
				// Shopify's answer to over-fulfilment (and to a quantity
				// below one): the line's remaining quantity is unchanged.
				errs = append(errs, userError("Invalid fulfillment order line item quantity requested.",
					"lineItemsByFulfillmentOrder", idx, "fulfillmentOrderLineItems", strconv.Itoa(j), "quantity"))
			default:
				picks = append(picks, pick{line, gl.qty})
			}
		}
	}
	if in.hasTracking {
		if in.number == "" && in.urlStr == "" {
			errs = append(errs, userError("Tracking number can't be blank.", "trackingInfo", "number"))
		}
		if in.number != "" && !trackingNumberRE.MatchString(in.number) {
			errs = append(errs, userError("Tracking number is invalid.", "trackingInfo", "number"))
		}
		if in.urlStr != "" {
			if u, err := url.Parse(in.urlStr); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				errs = append(errs, userError("Tracking url is invalid.", "trackingInfo", "url"))
			}
		}
		if len(in.company) > 255 {
			errs = append(errs, userError("Tracking company is too long (maximum is 255 characters).", "trackingInfo", "company"))
		}
	}
	if len(errs) > 0 {
		s.countLocked(Shopify, func(c *Counters) {
			if duplicate {
				c.Duplicates++
			} else {
				c.ValidationErrors++
			}
		})
		return object{"fulfillment": nil, "userErrors": errs}
	}
	done := &shopifyDone{status: "SUCCESS", company: in.company, number: in.number, url: in.urlStr, created: now}
	for _, p := range picks {
		p.line.remaining -= p.qty
		done.lines = append(done.lines, donePick{p.line.itemGID, p.qty})
	}
	for _, fo := range fos {
		fo.status, fo.updated = "CLOSED", now
		for _, l := range fo.lines {
			if l.remaining > 0 {
				fo.status = "IN_PROGRESS"
			}
		}
	}
	s.seq++
	gid := fmt.Sprintf("gid://shopify/Fulfillment/%d", 5_000_000_000+s.seq)
	var tracking []any
	if in.hasTracking {
		tracking = []any{object{"company": nilIfEmpty(in.company), "number": nilIfEmpty(in.number), "url": nilIfEmpty(in.urlStr)}}
	} else {
		tracking = []any{}
	}
	var lines []PushLine
	for _, p := range done.lines {
		lines = append(lines, PushLine{Item: p.itemGID, Quantity: p.qty})
	}
	s.recordLocked(Shopify, Push{Store: shopName, Order: fos[0].order.gid, Ref: gid, Carrier: in.company,
		TrackingNumber: in.number, TrackingURL: in.urlStr, Lines: lines})
	o := fos[0].order
	done.gid, done.name = gid, fmt.Sprintf("%s-F%d", o.name, len(o.fulfillments)+1)
	o.fulfillments = append(o.fulfillments, done)
	o.updated = now
	return object{
		"fulfillment": object{"id": gid, "name": done.name, "status": "SUCCESS",
			"createdAt": now.UTC().Format(time.RFC3339), "trackingInfo": tracking},
		"userErrors": []any{},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// decodeFulfillmentInput checks a FulfillmentInput value the way variable coercion
// would: unknown keys and wrong types are request errors, not user errors.
func decodeFulfillmentInput(v any) (fulfillmentInput, *gqlError) {
	var in fulfillmentInput
	bad := func(path, msg string) *gqlError {
		return &gqlError{Message: fmt.Sprintf("Argument 'fulfillment' on Field 'fulfillmentCreate' has an invalid value: %s %s", path, msg),
			Extensions: map[string]any{"code": "argumentLiteralsIncompatible"}}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return in, bad("fulfillment", "is required and must be a FulfillmentInput")
	}
	if err := knownKeys("FulfillmentInput", obj); err != "" {
		return in, bad("fulfillment."+err, "is not defined on FulfillmentInput")
	}
	groups, ok := asList(obj["lineItemsByFulfillmentOrder"])
	if !ok {
		return in, bad("lineItemsByFulfillmentOrder", "is required and must be a list")
	}
	for i, gv := range groups {
		p := fmt.Sprintf("lineItemsByFulfillmentOrder[%d]", i)
		g, ok := gv.(map[string]any)
		if !ok {
			return in, bad(p, "must be a FulfillmentOrderLineItemsInput")
		}
		if err := knownKeys("FulfillmentOrderLineItemsInput", g); err != "" {
			return in, bad(p+"."+err, "is not defined on FulfillmentOrderLineItemsInput")
		}
		id, ok := g["fulfillmentOrderId"].(string)
		if !ok || id == "" {
			return in, bad(p+".fulfillmentOrderId", "is required and must be an ID")
		}
		grp := foGroup{foID: id}
		if raw, present := g["fulfillmentOrderLineItems"]; present && raw != nil {
			lines, ok := asList(raw)
			if !ok {
				return in, bad(p+".fulfillmentOrderLineItems", "must be a list")
			}
			for j, lv := range lines {
				lp := fmt.Sprintf("%s.fulfillmentOrderLineItems[%d]", p, j)
				l, ok := lv.(map[string]any)
				if !ok {
					return in, bad(lp, "must be a FulfillmentOrderLineItemInput")
				}
				if err := knownKeys("FulfillmentOrderLineItemInput", l); err != "" {
					return in, bad(lp+"."+err, "is not defined on FulfillmentOrderLineItemInput")
				}
				lid, _ := l["id"].(string)
				n, _ := l["quantity"].(json.Number)
				q, err := strconv.Atoi(string(n))
				if lid == "" || err != nil {
					return in, bad(lp, "needs an id and an integer quantity")
				}
				grp.lines = append(grp.lines, foPick{lid, q})
			}
		}
		in.groups = append(in.groups, grp)
	}
	if raw, present := obj["trackingInfo"]; present && raw != nil {
		t, ok := raw.(map[string]any)
		if !ok {
			return in, bad("trackingInfo", "must be a FulfillmentTrackingInput")
		}
		if err := knownKeys("FulfillmentTrackingInput", t); err != "" {
			return in, bad("trackingInfo."+err, "is not defined on FulfillmentTrackingInput")
		}
		in.hasTracking = true
		for key, dst := range map[string]*string{"company": &in.company, "number": &in.number, "url": &in.urlStr} {
			if raw, present := t[key]; present && raw != nil {
				s, ok := raw.(string)
				if !ok {
					return in, bad("trackingInfo."+key, "must be a String")
				}
				*dst = strings.TrimSpace(s)
			}
		}
		if in.number == "" {
			if nums, ok := asList(t["numbers"]); ok && len(nums) > 0 {
				in.number, _ = nums[0].(string)
			}
		}
		if in.urlStr == "" {
			if urls, ok := asList(t["urls"]); ok && len(urls) > 0 {
				in.urlStr, _ = urls[0].(string)
			}
		}
	}
	if raw, present := obj["notifyCustomer"]; present && raw != nil {
		b, ok := raw.(bool)
		if !ok {
			return in, bad("notifyCustomer", "must be a Boolean")
		}
		in.notify = b
	}
	return in, nil
}

func knownKeys(typ string, obj map[string]any) string {
	allowed := inputTypes[typ]
	for k := range obj {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return k
		}
	}
	return ""
}

// asList coerces a value to a list the way GraphQL input coercion does.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case nil:
		return nil, false
	default:
		return []any{x}, true
	}
}
