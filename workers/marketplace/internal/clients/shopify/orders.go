package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// codeOf is the marketplace's error code of a classified error.
func codeOf(err error) string {
	var e *domain.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ordersQuery is one page of the shop's orders updated after a time, oldest
// change first (QueryRoot.orders with the search syntax's updated_at filter
// and sortKey UPDATED_AT).
const ordersQuery = `query Orders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      legacyResourceId
      name
      updatedAt
      cancelledAt
      cancelReason
      currencyCode
      displayFinancialStatus
      shippingAddress { name address1 address2 city provinceCode zip countryCodeV2 }
      lineItems(first: 25) {
        pageInfo { hasNextPage endCursor }
        nodes { id quantity sku title variant { id legacyResourceId } product { id legacyResourceId } }
      }
    }
  }
}`

// orderLinesQuery reads the rest of an order's line items beyond the first
// page ordersQuery gave.
const orderLinesQuery = `query OrderLines($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 50, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id quantity sku title variant { id legacyResourceId } product { id legacyResourceId } }
    }
  }
}`

// Poll tuning. A page of 5 orders of up to 25 lines asks for about 400 cost
// points; a shop whose single-query limit is lower gets smaller pages.
const (
	pageSize = 5
	// pollOverlap is re-read before the watermark on every poll: orders
	// changed within the same second, or committed late, are not missed
	// (the importer drops duplicates).
	pollOverlap = 2 * time.Minute
)

// pollCursor is the opaque cursor of PollOrders.
type pollCursor struct {
	// Since is the watermark the query filters on (minus the overlap).
	Since time.Time `json:"since,omitzero"`
	// After is the orders connection's endCursor while paging.
	After string `json:"after,omitempty"`
	// Max is the newest updatedAt seen on the pages so far.
	Max time.Time `json:"max,omitzero"`
	// First is the page size that fits the shop's cost limit.
	First int `json:"first,omitempty"`
}

type gqlOrder struct {
	ID                     string     `json:"id"`
	LegacyResourceID       string     `json:"legacyResourceId"`
	Name                   string     `json:"name"`
	UpdatedAt              time.Time  `json:"updatedAt"`
	CancelledAt            *time.Time `json:"cancelledAt"`
	CancelReason           string     `json:"cancelReason"`
	CurrencyCode           string     `json:"currencyCode"`
	DisplayFinancialStatus string     `json:"displayFinancialStatus"`
	ShippingAddress        *struct {
		Name          string `json:"name"`
		Address1      string `json:"address1"`
		Address2      string `json:"address2"`
		City          string `json:"city"`
		ProvinceCode  string `json:"provinceCode"`
		Zip           string `json:"zip"`
		CountryCodeV2 string `json:"countryCodeV2"`
	} `json:"shippingAddress"`
	LineItems lineItemPage `json:"lineItems"`
}

type lineItemPage struct {
	PageInfo struct {
		HasNextPage bool   `json:"hasNextPage"`
		EndCursor   string `json:"endCursor"`
	} `json:"pageInfo"`
	Nodes []struct {
		ID       string `json:"id"`
		Quantity int    `json:"quantity"`
		SKU      string `json:"sku"`
		Title    string `json:"title"`
		Variant  *struct {
			LegacyResourceID string `json:"legacyResourceId"`
		} `json:"variant"`
		Product *struct {
			LegacyResourceID string `json:"legacyResourceId"`
		} `json:"product"`
	} `json:"nodes"`
}

// restOfLines reads the line items of o beyond its first page.
func (c call) restOfLines(ctx context.Context, o *gqlOrder) error {
	for o.LineItems.PageInfo.HasNextPage && o.LineItems.PageInfo.EndCursor != "" {
		var data struct {
			Order *struct {
				LineItems lineItemPage `json:"lineItems"`
			} `json:"order"`
		}
		if err := c.graphql(ctx, "OrderLines", orderLinesQuery, map[string]any{"id": o.ID, "after": o.LineItems.PageInfo.EndCursor}, &data); err != nil {
			return err
		}
		if data.Order == nil {
			return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonNotFound, Marketplace: domain.Shopify,
				Op: "OrderLines", Message: "order " + o.ID + " vanished while its lines were read"}
		}
		o.LineItems.Nodes = append(o.LineItems.Nodes, data.Order.LineItems.Nodes...)
		o.LineItems.PageInfo = data.Order.LineItems.PageInfo
	}
	return nil
}

// PollOrders returns one page of the store's orders changed since cursor
// ("" = the first poll: start at since).
func (a *Adapter) PollOrders(ctx context.Context, store domain.Store, cursor string, since time.Time) (domain.OrderPage, error) {
	c := pollCursor{Since: since}
	if cursor != "" {
		if err := json.Unmarshal([]byte(cursor), &c); err != nil {
			c = pollCursor{Since: since} // unreadable: start over (duplicates are harmless)
		}
	}
	if c.First <= 0 || c.First > pageSize {
		c.First = pageSize
	}
	base, err := baseURL(store)
	if err != nil {
		return domain.OrderPage{}, err
	}
	endpoint, err := endpoint(base, a.version)
	if err != nil {
		return domain.OrderPage{}, err
	}
	tr := marketplace.NewTrace()
	cl := call{a: a, tr: tr, store: store, endpoint: endpoint, auth: a.auth(store, tr, base)}
	vars := map[string]any{"first": c.First, "after": nil, "query": nil}
	if c.After != "" {
		vars["after"] = c.After
	}
	if !c.Since.IsZero() {
		vars["query"] = fmt.Sprintf("updated_at:>'%s'", c.Since.Add(-pollOverlap).UTC().Format(time.RFC3339))
	}
	var data struct {
		Orders struct {
			PageInfo struct {
				HasNextPage bool   `json:"hasNextPage"`
				EndCursor   string `json:"endCursor"`
			} `json:"pageInfo"`
			Nodes []gqlOrder `json:"nodes"`
		} `json:"orders"`
	}
	err = a.retry.Do(ctx, func(ctx context.Context) error {
		for {
			err := cl.graphql(ctx, "Orders", ordersQuery, vars, &data)
			if codeOf(err) == "MAX_COST_EXCEEDED" && c.First > 1 {
				c.First /= 2
				vars["first"] = c.First
				continue
			}
			return err
		}
	})
	if err != nil {
		return domain.OrderPage{}, err
	}
	for i := range data.Orders.Nodes {
		o := &data.Orders.Nodes[i]
		if err := a.retry.Do(ctx, func(ctx context.Context) error { return cl.restOfLines(ctx, o) }); err != nil {
			return domain.OrderPage{}, err
		}
	}
	page := domain.OrderPage{Orders: make([]domain.ExternalOrder, 0, len(data.Orders.Nodes))}
	newest := c.Max
	for _, o := range data.Orders.Nodes {
		page.Orders = append(page.Orders, o.external())
		if o.UpdatedAt.After(newest) {
			newest = o.UpdatedAt
		}
	}
	next := pollCursor{Since: c.Since, Max: newest, First: c.First}
	if data.Orders.PageInfo.HasNextPage && data.Orders.PageInfo.EndCursor != "" {
		next.After, page.More = data.Orders.PageInfo.EndCursor, true
	} else {
		if newest.After(next.Since) {
			next.Since = newest
		}
		next.Max = time.Time{}
	}
	b, _ := json.Marshal(next)
	page.Cursor = string(b)
	return page, nil
}

func (o gqlOrder) external() domain.ExternalOrder {
	id := o.LegacyResourceID
	if id == "" {
		id, _ = legacyID(o.ID, "Order")
	}
	e := domain.ExternalOrder{ExternalID: id, UpdatedAt: o.UpdatedAt, Currency: o.CurrencyCode}
	fin := strings.ToUpper(o.DisplayFinancialStatus)
	e.Ready = fin == "PAID" || fin == "PARTIALLY_REFUNDED"
	switch {
	case o.CancelledAt != nil:
		e.Cancelled, e.CancelReason = true, strings.ToLower(o.CancelReason)
	case fin == "REFUNDED":
		e.Cancelled, e.CancelReason = true, "refunded"
	}
	if a := o.ShippingAddress; a != nil {
		e.Address = domain.ExternalAddress{Name: a.Name, Line1: a.Address1, Line2: a.Address2, City: a.City,
			Region: a.ProvinceCode, PostalCode: a.Zip, CountryCode: a.CountryCodeV2}
	}
	for _, l := range o.LineItems.Nodes {
		item, _ := legacyID(l.ID, "LineItem")
		line := domain.ExternalLine{ItemID: item, SKU: l.SKU, Title: l.Title, Quantity: l.Quantity}
		if l.Variant != nil {
			line.VariantID = l.Variant.LegacyResourceID
		}
		if l.Product != nil {
			line.ProductID = l.Product.LegacyResourceID
		}
		e.Lines = append(e.Lines, line)
	}
	return e
}

// restOrder is the REST Admin API's Order resource as orders/* webhooks carry
// it: ids are numbers, statuses lower case.
type restOrder struct {
	ID              json.Number `json:"id"`
	AdminGraphQLID  string      `json:"admin_graphql_api_id"`
	UpdatedAt       time.Time   `json:"updated_at"`
	CancelledAt     *time.Time  `json:"cancelled_at"`
	CancelReason    *string     `json:"cancel_reason"`
	Currency        string      `json:"currency"`
	FinancialStatus string      `json:"financial_status"`
	LineItems       []struct {
		ID        json.Number  `json:"id"`
		VariantID *json.Number `json:"variant_id"`
		ProductID *json.Number `json:"product_id"`
		SKU       *string      `json:"sku"`
		Quantity  int          `json:"quantity"`
		Title     string       `json:"title"`
	} `json:"line_items"`
	ShippingAddress *struct {
		Name         string  `json:"name"`
		Address1     string  `json:"address1"`
		Address2     *string `json:"address2"`
		City         string  `json:"city"`
		ProvinceCode *string `json:"province_code"`
		Zip          string  `json:"zip"`
		CountryCode  string  `json:"country_code"`
	} `json:"shipping_address"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// ParseOrderWebhook turns an orders/* webhook body into an order.
func ParseOrderWebhook(body []byte) (domain.ExternalOrder, error) {
	invalid := func(msg string, err error) (domain.ExternalOrder, error) {
		return domain.ExternalOrder{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Shopify,
			Op: "parse webhook", Message: msg, Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var r restOrder
	if err := dec.Decode(&r); err != nil {
		return invalid("the webhook body is not a Shopify order", err)
	}
	id, ok := legacyID(r.ID.String(), "Order")
	if !ok {
		if id, ok = legacyID(r.AdminGraphQLID, "Order"); !ok {
			return invalid("the webhook order has no id", nil)
		}
	}
	e := domain.ExternalOrder{ExternalID: id, UpdatedAt: r.UpdatedAt, Currency: strings.ToUpper(r.Currency)}
	fin := strings.ToLower(r.FinancialStatus)
	e.Ready = fin == "paid" || fin == "partially_refunded"
	switch {
	case r.CancelledAt != nil:
		e.Cancelled, e.CancelReason = true, strings.ToLower(deref(r.CancelReason))
	case fin == "refunded":
		e.Cancelled, e.CancelReason = true, "refunded"
	}
	if a := r.ShippingAddress; a != nil {
		e.Address = domain.ExternalAddress{Name: a.Name, Line1: a.Address1, Line2: deref(a.Address2), City: a.City,
			Region: deref(a.ProvinceCode), PostalCode: a.Zip, CountryCode: a.CountryCode}
	}
	for i, l := range r.LineItems {
		item, ok := legacyID(l.ID.String(), "LineItem")
		if !ok {
			return invalid(fmt.Sprintf("line_items[%d] has no id", i), nil)
		}
		line := domain.ExternalLine{ItemID: item, SKU: deref(l.SKU), Title: l.Title, Quantity: l.Quantity}
		if l.VariantID != nil {
			line.VariantID = l.VariantID.String()
		}
		if l.ProductID != nil {
			line.ProductID = l.ProductID.String()
		}
		e.Lines = append(e.Lines, line)
	}
	return e, nil
}
