// Package shopify pushes tracking to Shopify through the Admin GraphQL API: it reads
// the order's fulfillment orders, then creates a fulfillment with tracking info,
// pacing itself by the cost points the shop reports.
package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// APIVersion is the Admin API version spoken unless Options.ShopifyAPIVersion
// names another: the newest stable version in late 2026. Shopify supports a
// stable version for twelve months; move this forward each year.
const APIVersion = "2026-10"

// versionShape is a stable Admin API version handle (quarterly releases).
var versionShape = regexp.MustCompile(`^20[0-9]{2}-(01|04|07|10)$`)

// Adapter pushes shipments to Shopify shops.
type Adapter struct {
	client  *marketplace.Client
	retry   marketplace.Retry
	tokens  *marketplace.Tokens
	shared  marketplace.SharedBudget // nil: cost points paced per process
	version string

	mu      sync.Mutex
	buckets map[string]*costBucket // by store
	costs   map[string]float64     // requested cost last charged, by operation
}

var _ marketplace.Pusher = (*Adapter)(nil)

// New returns a Shopify adapter.
func New(o marketplace.Options) *Adapter {
	o = o.WithDefaults()
	version := o.ShopifyAPIVersion
	if version == "" {
		version = APIVersion
	}
	return &Adapter{client: o.Client(domain.Shopify), retry: o.Retry, tokens: o.Tokens, shared: o.Budgets.Shared(),
		version: version, buckets: map[string]*costBucket{}, costs: map[string]float64{}}
}

// fulfillmentOrdersQuery reads an order's fulfillment orders (Order.fulfillmentOrders),
// each with the location it is assigned to (FulfillmentOrder.assignedLocation):
// fulfillmentCreate takes fulfillment orders of one location per call.
const fulfillmentOrdersQuery = `query FulfillmentOrders($id: ID!) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 5) {
      nodes {
        id
        status
        assignedLocation { location { id } }
        lineItems(first: 10) { nodes { id remainingQuantity } }
      }
    }
  }
}`

// fulfillmentItemsQuery is fulfillmentOrdersQuery for a shipment of some of the
// order's lines: it also names each fulfillment order line's LineItem, and reads
// the order's fulfillments (Order.fulfillments) with their tracking numbers and
// lines, so what an earlier push of the same shipment fulfilled is not
// fulfilled again.
const fulfillmentItemsQuery = `query FulfillmentOrderItems($id: ID!) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 5) {
      nodes {
        id
        status
        assignedLocation { location { id } }
        lineItems(first: 10) { nodes { id remainingQuantity lineItem { id } } }
      }
    }
    fulfillments(first: 10) {
      trackingInfo { number }
      fulfillmentLineItems(first: 10) { nodes { quantity lineItem { id } } }
    }
  }
}`

const fulfillmentCreateMutation = `mutation FulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}`

// Cost estimates before the shop has charged an operation once.
var defaultCost = map[string]float64{"FulfillmentOrders": 100, "FulfillmentOrderItems": 160, "FulfillmentCreate": 10, "Orders": 400, "OrderLines": 160}

type idRef struct {
	ID string `json:"id"`
}

type fulfillmentOrder struct {
	ID               string `json:"id"`
	Status           string `json:"status"`
	AssignedLocation *struct {
		Location *idRef `json:"location"`
	} `json:"assignedLocation"`
	LineItems struct {
		Nodes []struct {
			ID                string `json:"id"`
			RemainingQuantity int    `json:"remainingQuantity"`
			LineItem          *idRef `json:"lineItem"`
		} `json:"nodes"`
	} `json:"lineItems"`
}

func (fo fulfillmentOrder) location() string {
	if fo.AssignedLocation != nil && fo.AssignedLocation.Location != nil {
		return fo.AssignedLocation.Location.ID
	}
	return ""
}

type fulfillment struct {
	TrackingInfo []struct {
		Number string `json:"number"`
	} `json:"trackingInfo"`
	FulfillmentLineItems struct {
		Nodes []struct {
			Quantity int    `json:"quantity"`
			LineItem *idRef `json:"lineItem"`
		} `json:"nodes"`
	} `json:"fulfillmentLineItems"`
}

// orderState is what a push reads of an order before fulfilling.
type orderState struct {
	fos          []fulfillmentOrder
	fulfillments []fulfillment
}

type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
}

// PushShipment implements marketplace.Pusher. The order's open fulfillment
// orders are fulfilled with one fulfillmentCreate per assigned location; a
// shipment naming some of the order's line items fulfills only those line
// items and quantities (fulfillmentOrderLineItems), and one naming none of
// them (the fleet's own item ids) the whole order. Each package of an order
// shipped in several is a push of its own lines. A resend fulfills nothing
// twice: fulfillment orders already closed are skipped, items already
// fulfilled under the shipment's tracking number are subtracted, and a
// package whose lines have nothing left to fulfill is a duplicate. A package
// holding more of a line than is left asks for it all, and Shopify's refusal
// of the over-fulfilment is a permanent error.
func (a *Adapter) PushShipment(ctx context.Context, store domain.Store, s domain.Shipment) (domain.Result, error) {
	tr := marketplace.NewTrace()
	if err := s.Validate(); err != nil {
		return tr.Result(false, ""), err
	}
	orderGID, err := orderGID(s.ExternalOrderID)
	if err != nil {
		return tr.Result(false, ""), err
	}
	want := wantedItems(s.Items)
	base, err := baseURL(store)
	if err != nil {
		return tr.Result(false, ""), err
	}
	endpoint, err := endpoint(base, a.version)
	if err != nil {
		return tr.Result(false, ""), err
	}
	c := call{a: a, tr: tr, store: store, endpoint: endpoint, auth: a.auth(store, tr, base)}
	var (
		st        orderState
		read      bool
		duplicate bool
		refs      []string
	)
	err = a.retry.Do(ctx, func(ctx context.Context) error {
		if !read {
			if st, err = c.readOrder(ctx, orderGID, want != nil); err != nil {
				return err
			}
			read = true
		}
		groups, err := plan(st, want, s.TrackingNumber)
		if err != nil {
			if errors.Is(err, errNothingLeft) {
				duplicate = len(refs) == 0 // fulfilled already: by an earlier push of ours, or by the merchant
				return nil
			}
			read = false // look again before the next try
			return err
		}
		sent := 0
		for i, g := range groups {
			ref, err := c.fulfillmentCreate(ctx, g, s)
			if err == nil {
				refs = append(refs, ref)
				sent++
				continue
			}
			switch r := domain.ReasonOf(err); {
			case domain.IsPermanent(err) && strings.Contains(err.Error(), "lineItemsByFulfillmentOrder"):
				// A concurrent push of the same shipment may have fulfilled
				// these between our read and our mutation: that is not a
				// failure.
				if again, rerr := c.readOrder(ctx, orderGID, want != nil); rerr == nil {
					left, perr := plan(again, want, s.TrackingNumber)
					if errors.Is(perr, errNothingLeft) {
						duplicate = len(refs) == 0
						return nil
					}
					if perr == nil && !samePlan(left, groups[i:]) {
						// The order changed under us: try again with what
						// is left now.
						st, read = again, true
						return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Shopify,
							Op: "FulfillmentCreate", Message: "the order's fulfillment orders changed during the push", Err: err}
					}
				}
			case sent == 0 && (r == domain.ReasonThrottled || r == domain.ReasonBudget):
			default:
				// The mutation may have run without our hearing of it, or
				// another location's did: look again first.
				read = false
			}
			return err
		}
		return nil
	})
	return tr.Result(duplicate, strings.Join(refs, " ")), err
}

// samePlan reports whether two plans would send the same mutations.
func samePlan(a, b []group) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// errNothingLeft: the shipment has nothing left to fulfill.
var errNothingLeft = errors.New("nothing left to fulfill")

// wantedItems is the quantity of each line item (legacy id) a shipment names;
// nil when it names none (the whole order). A quantity of 0 means all of the
// line's remaining quantity. Items that are not Shopify line item ids (an
// order not imported from Shopify carries the fleet's own item ids) are left
// out.
func wantedItems(items []domain.Item) map[string]int {
	want := map[string]int{}
	for _, it := range items {
		id, ok := legacyID(it.ExternalID, "LineItem")
		if !ok {
			continue
		}
		if it.Quantity <= 0 {
			want[id] = -1
		} else if want[id] >= 0 {
			want[id] += it.Quantity
		}
	}
	if len(want) == 0 {
		return nil
	}
	return want
}

// names reports whether any of the order's line items is one of want's.
func (st orderState) names(want map[string]int) bool {
	for _, fo := range st.fos {
		for _, l := range fo.LineItems.Nodes {
			if l.LineItem == nil {
				continue
			}
			if id, ok := legacyID(l.LineItem.ID, "LineItem"); ok && want[id] != 0 {
				return true
			}
		}
	}
	return false
}

// group is one fulfillmentCreate: the lineItemsByFulfillmentOrder of one
// location.
type group []map[string]any

// plan groups what is left to fulfill by assigned location, in the order the
// fulfillment orders came. It returns errNothingLeft when everything was
// fulfilled already, or a classified error.
func plan(st orderState, want map[string]int, tracking string) ([]group, error) {
	var order []string
	byLoc := map[string]group{}
	add := func(loc string, g map[string]any) {
		if _, ok := byLoc[loc]; !ok {
			order = append(order, loc)
		}
		byLoc[loc] = append(byLoc[loc], g)
	}
	closed, waiting := 0, 0
	for _, fo := range st.fos {
		switch fo.Status {
		case "CLOSED":
			closed++
		case "ON_HOLD", "SCHEDULED":
			waiting++
		}
	}
	open := func(fo fulfillmentOrder) bool { return fo.Status == "OPEN" || fo.Status == "IN_PROGRESS" }
	if want != nil && !st.names(want) {
		// The shipment's items are none of the order's line items (ids of
		// ours, on an order not imported from Shopify): the whole order
		// ships, as before items were known.
		want = nil
	}
	if want == nil {
		for _, fo := range st.fos {
			if open(fo) {
				add(fo.location(), map[string]any{"fulfillmentOrderId": fo.ID})
			}
		}
	} else {
		need := map[string]int{}
		for id, q := range want {
			need[id] = q
		}
		// Subtract what fulfillments under this tracking number hold already.
		for _, f := range st.fulfillments {
			ours := false
			for _, ti := range f.TrackingInfo {
				ours = ours || strings.EqualFold(strings.TrimSpace(ti.Number), strings.TrimSpace(tracking))
			}
			if !ours {
				continue
			}
			for _, l := range f.FulfillmentLineItems.Nodes {
				if l.LineItem == nil {
					continue
				}
				if id, ok := legacyID(l.LineItem.ID, "LineItem"); ok && need[id] != 0 {
					if need[id] < 0 {
						need[id] = 0 // "all of it" was fulfilled by our earlier push
					} else {
						need[id] = max(0, need[id]-l.Quantity)
					}
				}
			}
		}
		// The last fulfillment order line taken for each line item: a
		// package holding more of it than remains unfulfilled asks for the
		// excess there, and Shopify refuses the over-fulfilment.
		last := map[string]map[string]any{}
		for _, fo := range st.fos {
			if !open(fo) {
				continue
			}
			var lines []any
			for _, l := range fo.LineItems.Nodes {
				if l.LineItem == nil || l.RemainingQuantity <= 0 {
					continue
				}
				id, _ := legacyID(l.LineItem.ID, "LineItem")
				n := need[id]
				if n == 0 {
					continue
				}
				take := l.RemainingQuantity
				if n > 0 {
					take = min(take, n)
					need[id] = n - take
				}
				line := map[string]any{"id": l.ID, "quantity": take}
				last[id] = line
				lines = append(lines, line)
			}
			if len(lines) > 0 {
				add(fo.location(), map[string]any{"fulfillmentOrderId": fo.ID, "fulfillmentOrderLineItems": lines})
			}
		}
		// A line item with nothing left at all was fulfilled already (by an
		// earlier package or the merchant): nothing to ask for.
		for id, n := range need {
			if line := last[id]; n > 0 && line != nil {
				line["quantity"] = line["quantity"].(int) + n
			}
		}
	}
	if len(order) > 0 {
		out := make([]group, len(order))
		for i, loc := range order {
			out[i] = byLoc[loc]
		}
		return out, nil
	}
	switch {
	case waiting > 0:
		return nil, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonNotReady, Marketplace: domain.Shopify,
			Op: "fulfillmentCreate", Message: "the order's fulfillment orders are on hold or scheduled"}
	case closed > 0 || (want != nil && len(st.fos) > 0):
		return nil, errNothingLeft
	}
	return nil, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonNotFound, Marketplace: domain.Shopify,
		Op: "fulfillmentCreate", Message: "the order has no fulfillable fulfillment orders"}
}

var numericID = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

// legacyID is the numeric id of a numeric id or a gid of the given type.
func legacyID(id, typ string) (string, bool) {
	id = strings.TrimSpace(id)
	if numericID.MatchString(id) {
		return id, true
	}
	if n, ok := strings.CutPrefix(id, "gid://shopify/"+typ+"/"); ok && numericID.MatchString(n) {
		return n, true
	}
	return "", false
}

func orderGID(ext string) (string, error) {
	if id, ok := legacyID(ext, "Order"); ok {
		return "gid://shopify/Order/" + id, nil
	}
	return "", &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
		Op: "push shipment", Message: fmt.Sprintf("external order id %q is not a Shopify order id", ext)}
}

var shopName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// baseURL is the shop's root: https://{shop}.myshopify.com, or the store's
// BaseURL.
func baseURL(store domain.Store) (string, error) {
	base := strings.TrimRight(store.BaseURL, "/")
	if base == "" {
		shop := strings.TrimSuffix(strings.ToLower(store.ShopID), ".myshopify.com")
		if !shopName.MatchString(shop) {
			return "", &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
				Op: "push shipment", Message: fmt.Sprintf("shop %q is not a myshopify.com shop name", store.ShopID)}
		}
		base = "https://" + shop + ".myshopify.com"
	}
	return base, nil
}

func endpoint(base, version string) (string, error) {
	if !versionShape.MatchString(version) {
		return "", &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
			Op: "push shipment", Message: fmt.Sprintf("Admin API version %q is not a YYYY-MM release", version)}
	}
	return base + "/admin/api/" + version + "/graphql.json", nil
}

// auth manages the store's access token for one push or poll. Shopify's
// expiring offline tokens are refreshed at POST /admin/oauth/access_token on
// the shop with grant_type=refresh_token, client_id, client_secret and
// refresh_token; the answer's refresh_token replaces the spent one.
func (a *Adapter) auth(store domain.Store, tr *marketplace.Trace, base string) *marketplace.Auth {
	tokenURL := store.TokenURL
	if tokenURL == "" {
		tokenURL = base + "/admin/oauth/access_token"
	}
	return &marketplace.Auth{Tokens: a.tokens, Store: store, Refresh: marketplace.RefreshOAuth(a.client, tr, tokenURL,
		url.Values{"client_id": {store.Credentials.ClientID}, "client_secret": {store.Credentials.ClientSecret}})}
}

// call is one push's or poll's GraphQL context.
type call struct {
	a        *Adapter
	tr       *marketplace.Trace
	store    domain.Store
	endpoint string
	auth     *marketplace.Auth
}

func (c call) graphql(ctx context.Context, op, query string, vars map[string]any, out any) error {
	return c.a.graphql(ctx, c.tr, c.auth, c.store, c.endpoint, op, query, vars, out)
}

func (c call) readOrder(ctx context.Context, gid string, items bool) (orderState, error) {
	var data struct {
		Order *struct {
			FulfillmentOrders struct {
				Nodes []fulfillmentOrder `json:"nodes"`
			} `json:"fulfillmentOrders"`
			Fulfillments []fulfillment `json:"fulfillments"`
		} `json:"order"`
	}
	op, query := "FulfillmentOrders", fulfillmentOrdersQuery
	if items {
		op, query = "FulfillmentOrderItems", fulfillmentItemsQuery
	}
	if err := c.graphql(ctx, op, query, map[string]any{"id": gid}, &data); err != nil {
		return orderState{}, err
	}
	if data.Order == nil {
		return orderState{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonNotFound, Marketplace: domain.Shopify,
			Op: op, Message: "order " + gid + " not found"}
	}
	return orderState{fos: data.Order.FulfillmentOrders.Nodes, fulfillments: data.Order.Fulfillments}, nil
}

var carrierNames = map[string]string{"usps": "USPS", "ups": "UPS", "fedex": "FedEx", "dhl": "DHL Express"}

// fulfillmentCreate fulfills one location's group (the fulfillmentCreate
// mutation with lineItemsByFulfillmentOrder).
func (c call) fulfillmentCreate(ctx context.Context, g group, s domain.Shipment) (string, error) {
	company := marketplace.Carrier(s.Carrier)
	if name, ok := carrierNames[company]; ok {
		company = name
	}
	tracking := map[string]any{"company": company, "number": s.TrackingNumber}
	if s.TrackingURL != "" {
		tracking["url"] = s.TrackingURL
	}
	vars := map[string]any{"fulfillment": map[string]any{
		"lineItemsByFulfillmentOrder": []map[string]any(g), "trackingInfo": tracking, "notifyCustomer": true}}
	var data struct {
		FulfillmentCreate struct {
			Fulfillment *struct {
				ID string `json:"id"`
			} `json:"fulfillment"`
			UserErrors []userError `json:"userErrors"`
		} `json:"fulfillmentCreate"`
	}
	if err := c.graphql(ctx, "FulfillmentCreate", fulfillmentCreateMutation, vars, &data); err != nil {
		return "", err
	}
	if ue := data.FulfillmentCreate.UserErrors; len(ue) > 0 {
		msgs := make([]string, len(ue))
		over := false
		for i, u := range ue {
			msgs[i] = strings.Join(u.Field, ".") + ": " + u.Message
			over = over || (len(u.Field) > 0 && u.Field[len(u.Field)-1] == "quantity")
		}
		msg := strings.Join(msgs, "; ")
		if over {
			msg = "Shopify refused the package's quantities as more than the order has left to fulfill (over-fulfilment): " + msg
		}
		return "", &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
			Op: "FulfillmentCreate", Status: 200, Code: "USER_ERRORS", Message: msg}
	}
	if data.FulfillmentCreate.Fulfillment == nil {
		return "", &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Shopify,
			Op: "FulfillmentCreate", Status: 200, Message: "no fulfillment and no user errors in the answer"}
	}
	return data.FulfillmentCreate.Fulfillment.ID, nil
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	Extensions struct {
		Cost *struct {
			RequestedQueryCost float64         `json:"requestedQueryCost"`
			ActualQueryCost    *float64        `json:"actualQueryCost"`
			ThrottleStatus     *throttleStatus `json:"throttleStatus"`
		} `json:"cost"`
	} `json:"extensions"`
}

func (a *Adapter) bucket(store domain.Store) *costBucket {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.buckets[store.ID]
	if !ok {
		b = &costBucket{}
		a.buckets[store.ID] = b
	}
	return b
}

func (a *Adapter) estimate(op string) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.costs[op]; ok {
		return c
	}
	return defaultCost[op]
}

func (a *Adapter) learnCost(op string, c float64) {
	a.mu.Lock()
	a.costs[op] = c
	a.mu.Unlock()
}

// graphql makes one GraphQL call within the shop's cost budget and decodes data
// into out. A 401 refreshes the token once (when the store has a refresh token)
// and sends again; a 401 after that is permanent: the store needs reconnecting.
func (a *Adapter) graphql(ctx context.Context, tr *marketplace.Trace, auth *marketplace.Auth, store domain.Store, endpoint, op, query string, vars map[string]any, out any) error {
	for {
		tok, err := auth.Token(ctx)
		if err != nil {
			return err
		}
		resp, err := a.send(ctx, tr, store, endpoint, op, query, vars, tok, out)
		if err != nil || resp == nil {
			return err
		}
		// The token was refused (401).
		refused := marketplace.Classify(domain.Shopify, op, resp)
		if a.tokens.Current(store).Refresh == "" {
			return refused // a non-expiring token: nothing to refresh it with
		}
		again, rerr := auth.Refused(ctx, tok)
		switch {
		case rerr != nil && domain.IsRetryable(rerr):
			return rerr
		case rerr != nil:
			refused.Message += "; the token refresh was refused too: " + rerr.Error()
			return refused
		case again:
			continue
		}
		return refused // refused again after a refresh: the store needs reconnecting
	}
}

// send makes one call within the shop's cost budget and decodes its data into
// out. An answer refusing the token (401) is returned for the caller to judge.
func (a *Adapter) send(ctx context.Context, tr *marketplace.Trace, store domain.Store, endpoint, op, query string, vars map[string]any, tok string, out any) (unauthorized *marketplace.Response, err error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars, "operationName": op})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", op, err)
	}
	bucket, est := a.bucket(store), a.estimate(op)
	probe, err := bucket.acquire(ctx, est)
	if err != nil {
		return nil, err
	}
	// Taken after the local reservation, so a shop's points are known (or
	// this is the probe, which the shared bucket lets through).
	sb := sharedBucket{budget: a.shared, key: "shopify/" + store.ID, local: bucket}
	sharedTaken, err := sb.take(ctx, est)
	if err != nil {
		bucket.settle(probe, est, nil, 0)
		return nil, err
	}
	settle := func(st *throttleStatus, charged float64) {
		bucket.settle(probe, est, st, charged)
		if sharedTaken {
			sb.settle(est, st, charged)
		}
		if used, ok := bucket.used(); ok {
			marketplace.ObserveBudget(domain.Shopify, store, used)
		}
	}
	resp, err := a.client.Send(ctx, tr, marketplace.Request{Op: op, Method: "POST", URL: endpoint, ContentType: "application/json",
		Header: map[string][]string{"X-Shopify-Access-Token": {tok}}, Body: body})
	if err != nil {
		settle(nil, 0)
		return nil, err
	}
	if resp.Status == 401 {
		settle(nil, 0)
		return resp, nil
	}
	if resp.Status != 200 {
		settle(nil, 0)
		return nil, marketplace.Classify(domain.Shopify, op, resp)
	}
	var gr gqlResponse
	if err := json.Unmarshal(resp.Body, &gr); err != nil {
		settle(nil, 0)
		return nil, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Shopify,
			Op: op, Status: resp.Status, Message: "answer is not GraphQL JSON", Err: err}
	}
	throttled := false
	for _, e := range gr.Errors {
		throttled = throttled || e.Extensions["code"] == "THROTTLED"
	}
	if c := gr.Extensions.Cost; c != nil {
		if c.RequestedQueryCost > 0 {
			a.learnCost(op, c.RequestedQueryCost)
		}
		charged := -1.0
		if c.ActualQueryCost != nil {
			charged = *c.ActualQueryCost
		} else if !throttled {
			charged = c.RequestedQueryCost
		}
		settle(c.ThrottleStatus, charged)
	} else {
		settle(nil, 0)
	}
	if throttled {
		return nil, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonThrottled, Marketplace: domain.Shopify,
			Op: op, Status: resp.Status, Code: "THROTTLED", Message: "out of cost points",
			RetryAfter: bucket.waitFor(a.estimate(op))}
	}
	if len(gr.Errors) > 0 {
		msgs := make([]string, len(gr.Errors))
		code := ""
		for i, e := range gr.Errors {
			msgs[i] = e.Message
			if c, ok := e.Extensions["code"].(string); ok && code == "" {
				code = c
			}
		}
		if code == "INTERNAL_SERVER_ERROR" {
			// Shopify's own failure inside an HTTP 200: the request did not
			// run (a mutation is looked for again before it is resent).
			return nil, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Shopify,
				Op: op, Status: resp.Status, Code: code, Message: strings.Join(msgs, "; ")}
		}
		return nil, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
			Op: op, Status: resp.Status, Code: code, Message: strings.Join(msgs, "; ")}
	}
	if err := json.Unmarshal(gr.Data, out); err != nil {
		return nil, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Shopify,
			Op: op, Status: resp.Status, Message: "unexpected data shape", Err: err}
	}
	return nil, nil
}
