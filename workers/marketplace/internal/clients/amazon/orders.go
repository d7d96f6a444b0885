package amazon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// The usage plans of the order reads (Orders v0): getOrders 0.0167 requests per
// second, burst 20; getOrderItems 0.5, burst 30. Each has its own budget per
// store, adjusted to what x-amzn-RateLimit-Limit announces.
const (
	getOrdersRate      = 0.0167
	getOrdersBurst     = 20
	getOrderItemsRate  = 0.5
	getOrderItemsBurst = 30
)

// PageSize is how many orders one poll asks for: a page's getOrderItems calls
// then fit in that operation's burst.
const PageSize = 20

// Overlap is how far before the last change seen a poll starts again, so an
// order Amazon shows late is still read; the repeats are harmless (the
// importer dedups).
const Overlap = 2 * time.Minute

// importStatuses are the order statuses a poll asks for: ready to produce
// (Unshipped, PartiallyShipped) or cancelled. Pending orders (not paid yet)
// show up again once they change to Unshipped.
var importStatuses = []string{"Unshipped", "PartiallyShipped", "Canceled"}

// cursor is where a store's poll stands: the LastUpdatedAfter of the current
// sweep, the NextToken within it, and the newest LastUpdateDate seen so far.
type cursor struct {
	After time.Time `json:"a"`
	Next  string    `json:"n,omitempty"`
	High  time.Time `json:"h,omitzero"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, bool) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.After.IsZero() {
		return cursor{}, false
	}
	return c, true
}

// The Orders v0 model's shapes, as far as the importer reads them.
type money struct {
	CurrencyCode string `json:"CurrencyCode"`
	Amount       string `json:"Amount"`
}

type address struct {
	Name          string `json:"Name"`
	AddressLine1  string `json:"AddressLine1"`
	AddressLine2  string `json:"AddressLine2"`
	AddressLine3  string `json:"AddressLine3"`
	City          string `json:"City"`
	StateOrRegion string `json:"StateOrRegion"`
	PostalCode    string `json:"PostalCode"`
	CountryCode   string `json:"CountryCode"`
}

type order struct {
	AmazonOrderID        string   `json:"AmazonOrderId"`
	LastUpdateDate       string   `json:"LastUpdateDate"`
	OrderStatus          string   `json:"OrderStatus"`
	OrderTotal           *money   `json:"OrderTotal"`
	ShippingAddress      *address `json:"ShippingAddress"`
	BuyerRequestedCancel *struct {
		IsBuyerRequestedCancel string `json:"IsBuyerRequestedCancel"`
		BuyerCancelReason      string `json:"BuyerCancelReason"`
	} `json:"BuyerRequestedCancel"`
}

type getOrdersResponse struct {
	Payload struct {
		Orders            []order `json:"Orders"`
		NextToken         string  `json:"NextToken"`
		LastUpdatedBefore string  `json:"LastUpdatedBefore"`
	} `json:"payload"`
}

type listedItem struct {
	ASIN            string `json:"ASIN"`
	SellerSKU       string `json:"SellerSKU"`
	OrderItemID     string `json:"OrderItemId"`
	Title           string `json:"Title"`
	QuantityOrdered int    `json:"QuantityOrdered"`
	QuantityShipped int    `json:"QuantityShipped"`
}

type getOrderItemsResponse struct {
	Payload struct {
		OrderItems []listedItem `json:"OrderItems"`
		NextToken  string       `json:"NextToken"`
	} `json:"payload"`
}

// poll is one PollOrders: the store's endpoints, token and budgets.
type poll struct {
	a                   *Adapter
	tr                  *marketplace.Trace
	store               domain.Store
	base                string
	auth                *marketplace.Auth
	ordersBudget, items *marketplace.Budget
}

// PollOrders returns one page of the store's orders changed since cursor ("" =
// the first poll: start at since). It calls getOrders with LastUpdatedAfter =
// the last change seen minus Overlap (NextToken within a sweep), then
// getOrderItems for each order it returns. Ready orders are Unshipped or
// PartiallyShipped, cancelled ones Canceled; other statuses are not returned.
// A cursor that cannot be read starts again at since.
func (a *Adapter) PollOrders(ctx context.Context, store domain.Store, cur string, since time.Time) (domain.OrderPage, error) {
	if store.ShopID == "" {
		return domain.OrderPage{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Amazon,
			Op: "poll orders", Message: "the store has no marketplace id"}
	}
	c, ok := decodeCursor(cur)
	if !ok {
		c = cursor{After: since.UTC()}
	}
	base, tokenURL := endpoints(store)
	p := &poll{a: a, tr: marketplace.NewTrace(), store: store, base: base,
		ordersBudget: a.budgets.Get(domain.Amazon, store.ID+"/"+opGetOrders, getOrdersRate, getOrdersBurst),
		items:        a.budgets.Get(domain.Amazon, store.ID+"/"+opGetOrderItems, getOrderItemsRate, getOrderItemsBurst)}
	p.auth = a.auth(p.tr, store, tokenURL)

	resp, err := p.getOrders(ctx, c)
	var de *domain.Error
	if err != nil && c.Next != "" && errors.As(err, &de) && de.Status == 400 && strings.Contains(de.Message, "NextToken") {
		// Amazon forgot the NextToken: read the sweep again from its start.
		c.Next = ""
		resp, err = p.getOrders(ctx, c)
	}
	if err != nil {
		return domain.OrderPage{}, err
	}
	page := domain.OrderPage{}
	high := c.High
	for _, o := range resp.Payload.Orders {
		updated, _ := time.Parse(time.RFC3339, o.LastUpdateDate)
		if updated.After(high) {
			high = updated
		}
		ext := domain.ExternalOrder{ExternalID: o.AmazonOrderID, UpdatedAt: updated}
		switch o.OrderStatus {
		case "Unshipped", "PartiallyShipped":
			ext.Ready = true
		case "Canceled":
			ext.Cancelled, ext.CancelReason = true, "cancelled on Amazon"
			if b := o.BuyerRequestedCancel; b != nil && b.BuyerCancelReason != "" {
				ext.CancelReason = "buyer cancelled: " + b.BuyerCancelReason
			}
		default:
			continue // Pending, Shipped and the rest: nothing to produce
		}
		if o.OrderTotal != nil {
			ext.Currency = o.OrderTotal.CurrencyCode
		}
		if ad := o.ShippingAddress; ad != nil {
			line2 := strings.TrimSpace(strings.Join([]string{ad.AddressLine2, ad.AddressLine3}, " "))
			ext.Address = domain.ExternalAddress{Name: ad.Name, Line1: ad.AddressLine1, Line2: line2, City: ad.City,
				Region: ad.StateOrRegion, PostalCode: ad.PostalCode, CountryCode: ad.CountryCode}
		}
		if ext.Lines, err = p.orderItems(ctx, o.AmazonOrderID); err != nil {
			return domain.OrderPage{}, err
		}
		page.Orders = append(page.Orders, ext)
	}
	if next := resp.Payload.NextToken; next != "" {
		page.Cursor, page.More = cursor{After: c.After, Next: next, High: high}.encode(), true
		return page, nil
	}
	// The sweep is done: the next one starts from the newest change seen, or
	// from where Amazon says this listing ended.
	after := c.After
	if high.After(after) {
		after = high
	}
	if before, err := time.Parse(time.RFC3339, resp.Payload.LastUpdatedBefore); err == nil && before.After(after) {
		after = before
	}
	page.Cursor = cursor{After: after.UTC()}.encode()
	return page, nil
}

// The operations as the error and the budget name them.
const (
	opGetOrders     = "getOrders"
	opGetOrderItems = "getOrderItems"
)

// getOrders reads one page of the sweep c.
func (p *poll) getOrders(ctx context.Context, c cursor) (getOrdersResponse, error) {
	q := url.Values{"MarketplaceIds": {p.store.ShopID}}
	if c.Next != "" {
		q.Set("NextToken", c.Next)
	} else {
		q.Set("LastUpdatedAfter", c.After.Add(-Overlap).UTC().Format(time.RFC3339))
		q.Set("OrderStatuses", strings.Join(importStatuses, ","))
		q.Set("MaxResultsPerPage", strconv.Itoa(PageSize))
	}
	var out getOrdersResponse
	err := p.get(ctx, opGetOrders, p.base+"/orders/v0/orders?"+q.Encode(), p.ordersBudget, &out)
	return out, err
}

// orderItems reads every page of an order's items.
func (p *poll) orderItems(ctx context.Context, orderID string) ([]domain.ExternalLine, error) {
	var lines []domain.ExternalLine
	next := ""
	for page := 0; ; page++ {
		if page == 100 {
			return nil, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Amazon,
				Op: opGetOrderItems, Message: "order " + orderID + " has more than 100 pages of items"}
		}
		u := p.base + "/orders/v0/orders/" + url.PathEscape(orderID) + "/orderItems"
		if next != "" {
			u += "?" + url.Values{"NextToken": {next}}.Encode()
		}
		var out getOrderItemsResponse
		if err := p.get(ctx, opGetOrderItems, u, p.items, &out); err != nil {
			return nil, err
		}
		for _, it := range out.Payload.OrderItems {
			lines = append(lines, domain.ExternalLine{ItemID: it.OrderItemID, ProductID: it.ASIN, SKU: it.SellerSKU,
				Title: it.Title, Quantity: it.QuantityOrdered})
		}
		if next = out.Payload.NextToken; next == "" {
			return lines, nil
		}
	}
}

// get makes one read with the retry policy and decodes its answer.
func (p *poll) get(ctx context.Context, op, u string, budget *marketplace.Budget, out any) error {
	req := marketplace.Request{Op: op, Method: "GET", URL: u}
	var resp *marketplace.Response
	err := p.a.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		resp, err = p.a.send(ctx, p.tr, p.auth, budget, req)
		return err
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: domain.Amazon, Op: op,
			Status: resp.Status, Message: "unreadable answer: " + resp.Snippet()}
	}
	return nil
}
