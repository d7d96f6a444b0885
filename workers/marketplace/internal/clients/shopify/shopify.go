// Package shopify pushes tracking to Shopify through the Admin GraphQL API: it reads
// the order's fulfillment orders, then creates a fulfillment with tracking info,
// pacing itself by the cost points the shop reports.
package shopify

import (
	"context"
	"encoding/json"
	"fmt"
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

const fulfillmentOrdersQuery = `query FulfillmentOrders($id: ID!) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 5) {
      nodes {
        id
        status
        lineItems(first: 10) { nodes { id remainingQuantity } }
      }
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
var defaultCost = map[string]float64{"FulfillmentOrders": 100, "FulfillmentCreate": 10}

type fulfillmentOrder struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
}

// PushShipment implements marketplace.Pusher.
func (a *Adapter) PushShipment(ctx context.Context, store domain.Store, s domain.Shipment) (domain.Result, error) {
	tr := marketplace.NewTrace()
	if err := s.Validate(); err != nil {
		return tr.Result(false, ""), err
	}
	orderGID, err := orderGID(s.ExternalOrderID)
	if err != nil {
		return tr.Result(false, ""), err
	}
	endpoint, err := endpoint(store, a.version)
	if err != nil {
		return tr.Result(false, ""), err
	}
	var (
		fos       []fulfillmentOrder
		read      bool
		duplicate bool
		ref       string
	)
	err = a.retry.Do(ctx, func(ctx context.Context) error {
		if !read {
			if fos, err = a.fulfillmentOrders(ctx, tr, store, endpoint, orderGID); err != nil {
				return err
			}
			read = true
		}
		var open []string
		closed, waiting := 0, 0
		for _, fo := range fos {
			switch fo.Status {
			case "OPEN", "IN_PROGRESS":
				open = append(open, fo.ID)
			case "CLOSED":
				closed++
			case "ON_HOLD", "SCHEDULED":
				waiting++
			}
		}
		switch {
		case len(open) == 0 && waiting > 0:
			read = false
			return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonNotReady, Marketplace: domain.Shopify,
				Op: "fulfillmentCreate", Message: "the order's fulfillment orders are on hold or scheduled"}
		case len(open) == 0 && closed > 0:
			duplicate = true // fulfilled already: by an earlier push of ours, or by the merchant
			return nil
		case len(open) == 0:
			return &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonNotFound, Marketplace: domain.Shopify,
				Op: "fulfillmentCreate", Message: "the order has no fulfillable fulfillment orders"}
		}
		ref, err = a.fulfillmentCreate(ctx, tr, store, endpoint, open, s)
		switch {
		case err == nil, domain.ReasonOf(err) == domain.ReasonThrottled, domain.ReasonOf(err) == domain.ReasonBudget:
		case domain.IsPermanent(err) && strings.Contains(err.Error(), "lineItemsByFulfillmentOrder"):
			// A concurrent push of the same shipment may have closed the fulfillment
			// order between our read and our mutation: that is not a failure.
			if again, rerr := a.fulfillmentOrders(ctx, tr, store, endpoint, orderGID); rerr == nil && allClosed(again) {
				duplicate = true
				return nil
			}
		default:
			// The mutation may have run without our hearing of it: look again first.
			read = false
		}
		return err
	})
	return tr.Result(duplicate, ref), err
}

func allClosed(fos []fulfillmentOrder) bool {
	for _, fo := range fos {
		if fo.Status != "CLOSED" {
			return false
		}
	}
	return len(fos) > 0
}

var numericID = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

func orderGID(ext string) (string, error) {
	ext = strings.TrimSpace(ext)
	if numericID.MatchString(ext) {
		return "gid://shopify/Order/" + ext, nil
	}
	if id, ok := strings.CutPrefix(ext, "gid://shopify/Order/"); ok && numericID.MatchString(id) {
		return ext, nil
	}
	return "", &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
		Op: "push shipment", Message: fmt.Sprintf("external order id %q is not a Shopify order id", ext)}
}

var shopName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func endpoint(store domain.Store, version string) (string, error) {
	if !versionShape.MatchString(version) {
		return "", &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
			Op: "push shipment", Message: fmt.Sprintf("Admin API version %q is not a YYYY-MM release", version)}
	}
	base := strings.TrimRight(store.BaseURL, "/")
	if base == "" {
		shop := strings.TrimSuffix(strings.ToLower(store.ShopID), ".myshopify.com")
		if !shopName.MatchString(shop) {
			return "", &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
				Op: "push shipment", Message: fmt.Sprintf("shop %q is not a myshopify.com shop name", store.ShopID)}
		}
		base = "https://" + shop + ".myshopify.com"
	}
	return base + "/admin/api/" + version + "/graphql.json", nil
}

func (a *Adapter) fulfillmentOrders(ctx context.Context, tr *marketplace.Trace, store domain.Store, endpoint, gid string) ([]fulfillmentOrder, error) {
	var data struct {
		Order *struct {
			FulfillmentOrders struct {
				Nodes []fulfillmentOrder `json:"nodes"`
			} `json:"fulfillmentOrders"`
		} `json:"order"`
	}
	if err := a.graphql(ctx, tr, store, endpoint, "FulfillmentOrders", fulfillmentOrdersQuery, map[string]any{"id": gid}, &data); err != nil {
		return nil, err
	}
	if data.Order == nil {
		return nil, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonNotFound, Marketplace: domain.Shopify,
			Op: "FulfillmentOrders", Message: "order " + gid + " not found"}
	}
	return data.Order.FulfillmentOrders.Nodes, nil
}

var carrierNames = map[string]string{"usps": "USPS", "ups": "UPS", "fedex": "FedEx", "dhl": "DHL Express"}

func (a *Adapter) fulfillmentCreate(ctx context.Context, tr *marketplace.Trace, store domain.Store, endpoint string, foIDs []string, s domain.Shipment) (string, error) {
	company := marketplace.Carrier(s.Carrier)
	if name, ok := carrierNames[company]; ok {
		company = name
	}
	groups := make([]map[string]any, len(foIDs))
	for i, id := range foIDs {
		groups[i] = map[string]any{"fulfillmentOrderId": id}
	}
	tracking := map[string]any{"company": company, "number": s.TrackingNumber}
	if s.TrackingURL != "" {
		tracking["url"] = s.TrackingURL
	}
	vars := map[string]any{"fulfillment": map[string]any{
		"lineItemsByFulfillmentOrder": groups, "trackingInfo": tracking, "notifyCustomer": true}}
	var data struct {
		FulfillmentCreate struct {
			Fulfillment *struct {
				ID string `json:"id"`
			} `json:"fulfillment"`
			UserErrors []userError `json:"userErrors"`
		} `json:"fulfillmentCreate"`
	}
	if err := a.graphql(ctx, tr, store, endpoint, "FulfillmentCreate", fulfillmentCreateMutation, vars, &data); err != nil {
		return "", err
	}
	if ue := data.FulfillmentCreate.UserErrors; len(ue) > 0 {
		msgs := make([]string, len(ue))
		for i, u := range ue {
			msgs[i] = strings.Join(u.Field, ".") + ": " + u.Message
		}
		return "", &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
			Op: "FulfillmentCreate", Status: 200, Code: "USER_ERRORS", Message: strings.Join(msgs, "; ")}
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
// into out.
func (a *Adapter) graphql(ctx context.Context, tr *marketplace.Trace, store domain.Store, endpoint, op, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars, "operationName": op})
	if err != nil {
		return fmt.Errorf("encode %s: %w", op, err)
	}
	bucket, est := a.bucket(store), a.estimate(op)
	probe, err := bucket.acquire(ctx, est)
	if err != nil {
		return err
	}
	// Taken after the local reservation, so a shop's points are known (or
	// this is the probe, which the shared bucket lets through).
	sb := sharedBucket{budget: a.shared, key: "shopify/" + store.ID, local: bucket}
	sharedTaken, err := sb.take(ctx, est)
	if err != nil {
		bucket.settle(probe, est, nil, 0)
		return err
	}
	settle := func(st *throttleStatus, charged float64) {
		bucket.settle(probe, est, st, charged)
		if sharedTaken {
			sb.settle(est, st, charged)
		}
	}
	resp, err := a.client.Send(ctx, tr, marketplace.Request{Op: op, Method: "POST", URL: endpoint, ContentType: "application/json",
		Header: map[string][]string{"X-Shopify-Access-Token": {store.Credentials.AccessToken}}, Body: body})
	if err != nil {
		settle(nil, 0)
		return err
	}
	if resp.Status != 200 {
		settle(nil, 0)
		return marketplace.Classify(domain.Shopify, op, resp)
	}
	var gr gqlResponse
	if err := json.Unmarshal(resp.Body, &gr); err != nil {
		settle(nil, 0)
		return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Shopify,
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
		return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonThrottled, Marketplace: domain.Shopify,
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
			return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Shopify,
				Op: op, Status: resp.Status, Code: code, Message: strings.Join(msgs, "; ")}
		}
		return &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
			Op: op, Status: resp.Status, Code: code, Message: strings.Join(msgs, "; ")}
	}
	if err := json.Unmarshal(gr.Data, out); err != nil {
		return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Shopify,
			Op: op, Status: resp.Status, Message: "unexpected data shape", Err: err}
	}
	return nil
}
