package etsy

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// pageSize is getShopReceipts' largest limit.
const pageSize = 100

// overlap is how far before the last change seen a new poll starts again:
// receipts changed in the same second, or made visible late, are read twice
// rather than missed (the importer drops duplicates).
const overlap = 2 * time.Minute

// shopReceipts is getShopReceipts' answer.
type shopReceipts struct {
	Count   int           `json:"count"`
	Results []shopReceipt `json:"results"`
}

type etsyMoney struct {
	CurrencyCode string `json:"currency_code"`
}

// shopReceipt is the part of Open API v3's ShopReceipt the importer reads.
type shopReceipt struct {
	ReceiptID       int64     `json:"receipt_id"`
	Status          string    `json:"status"`
	IsPaid          bool      `json:"is_paid"`
	UpdateTimestamp int64     `json:"update_timestamp"`
	Grandtotal      etsyMoney `json:"grandtotal"`
	Name            string    `json:"name"`
	FirstLine       string    `json:"first_line"`
	SecondLine      *string   `json:"second_line"`
	City            string    `json:"city"`
	State           *string   `json:"state"`
	Zip             string    `json:"zip"`
	CountryISO      string    `json:"country_iso"`
	Transactions    []struct {
		TransactionID int64  `json:"transaction_id"`
		ListingID     int64  `json:"listing_id"`
		ProductID     int64  `json:"product_id"`
		SKU           string `json:"sku"`
		Title         string `json:"title"`
		Quantity      int    `json:"quantity"`
	} `json:"transactions"`
}

func id(n int64) string {
	if n <= 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// order turns a receipt into the importer's order. ExternalID is the
// receipt_id createReceiptShipment names, ItemID the transaction_id.
func (r shopReceipt) order() domain.ExternalOrder {
	status := strings.ToLower(strings.TrimSpace(r.Status))
	cancelled := status == "canceled" || status == "cancelled" || status == "fully refunded"
	o := domain.ExternalOrder{
		ExternalID: id(r.ReceiptID), UpdatedAt: time.Unix(r.UpdateTimestamp, 0).UTC(),
		Currency: strings.ToUpper(r.Grandtotal.CurrencyCode), Cancelled: cancelled, Ready: r.IsPaid && !cancelled,
		Address: domain.ExternalAddress{Name: r.Name, Line1: r.FirstLine, Line2: deref(r.SecondLine), City: r.City,
			Region: deref(r.State), PostalCode: r.Zip, CountryCode: strings.ToUpper(r.CountryISO)},
	}
	if cancelled {
		o.CancelReason = r.Status
	}
	for _, t := range r.Transactions {
		o.Lines = append(o.Lines, domain.ExternalLine{ItemID: id(t.TransactionID), ProductID: id(t.ListingID),
			VariantID: id(t.ProductID), SKU: t.SKU, Title: t.Title, Quantity: t.Quantity})
	}
	return o
}

// pollCursor is where a poll stands. Between polls only high is set: the
// last change seen. Within a pass, min and offset name the next page:
// receipts changed at or after min, skipping offset of them (those changed
// exactly at min that earlier pages returned).
type pollCursor struct {
	high, min, offset int64
	within            bool
}

func (c pollCursor) String() string {
	v := url.Values{"w": {strconv.FormatInt(c.high, 10)}}
	if c.within {
		v.Set("m", strconv.FormatInt(c.min, 10))
		v.Set("o", strconv.FormatInt(c.offset, 10))
	}
	return v.Encode()
}

func parseCursor(s string, since time.Time) (pollCursor, error) {
	if s == "" {
		// The first poll starts at since, without overlap.
		start := max(0, since.Unix())
		return pollCursor{high: start, min: start, within: true}, nil
	}
	v, err := url.ParseQuery(s)
	num := func(k string) int64 {
		n, e := strconv.ParseInt(v.Get(k), 10, 64)
		if e != nil || n < 0 {
			err = fmt.Errorf("bad %s", k)
		}
		return n
	}
	c := pollCursor{high: num("w")}
	if v.Has("m") {
		c.min, c.offset, c.within = num("m"), num("o"), true
	} else {
		c.min = max(0, c.high-int64(overlap/time.Second))
	}
	if err != nil {
		return pollCursor{}, err
	}
	return c, nil
}

// PollOrders returns one page of the store's orders changed since cursor
// ("" = the first poll: start at since).
//
// It reads getShopReceipts (GET /v3/application/shops/{shop_id}/receipts)
// with min_last_modified, sort_on=updated ascending and limit 100, paging by
// offset within the key's budget; a new poll starts a little before the last
// change the previous one saw. A receipt is ready once paid and not
// cancelled; cancelled when Canceled or Fully Refunded.
func (a *Adapter) PollOrders(ctx context.Context, store domain.Store, cursor string, since time.Time) (domain.OrderPage, error) {
	tr := marketplace.NewTrace()
	cur, err := parseCursor(cursor, since)
	if err != nil {
		return domain.OrderPage{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Etsy,
			Op: "poll orders", Message: fmt.Sprintf("unreadable cursor: %v", err)}
	}
	ss, err := a.session(tr, store, "poll orders")
	if err != nil {
		return domain.OrderPage{}, err
	}
	q := url.Values{"min_last_modified": {strconv.FormatInt(cur.min, 10)}, "sort_on": {"updated"}, "sort_order": {"asc"},
		"limit": {strconv.Itoa(pageSize)}, "offset": {strconv.FormatInt(cur.offset, 10)}}
	req := marketplace.Request{Op: "getShopReceipts", Method: "GET",
		URL: ss.base + "/v3/application/shops/" + store.ShopID + "/receipts?" + q.Encode()}
	var page shopReceipts
	if err := a.retry.Do(ctx, func(ctx context.Context) error {
		page = shopReceipts{}
		return a.call(ctx, tr, ss, store, req, &page)
	}); err != nil {
		return domain.OrderPage{}, err
	}

	out := domain.OrderPage{Orders: make([]domain.ExternalOrder, 0, len(page.Results))}
	next := pollCursor{high: cur.high, min: cur.min, offset: cur.offset + int64(len(page.Results)), within: true}
	for _, r := range page.Results {
		out.Orders = append(out.Orders, r.order())
		next.high = max(next.high, r.UpdateTimestamp)
	}
	// The next page starts at the last change of this one, skipping the
	// receipts changed in that same second it already returned: a receipt
	// that changes meanwhile moves behind them rather than shifting the rest.
	if n := len(page.Results); n > 0 {
		if last := page.Results[n-1].UpdateTimestamp; last > cur.min {
			same := int64(0)
			for _, r := range page.Results {
				if r.UpdateTimestamp == last {
					same++
				}
			}
			next.min, next.offset = last, same
		}
	}
	out.More = len(page.Results) > 0 && cur.offset+int64(len(page.Results)) < int64(page.Count)
	if !out.More {
		next.within = false
	}
	out.Cursor = next.String()
	return out, nil
}
