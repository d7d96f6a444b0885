package etsy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	sandbox "github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/etsy"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// pollAll polls from cursor until a page says no more, retrying a page that
// failed retryably as the importer's next poll would, and returns the orders
// by id (last seen wins) and the cursor to poll with next.
func pollAll(t *testing.T, a *etsy.Adapter, store domain.Store, cursor string, since time.Time) (map[string]domain.ExternalOrder, string, int) {
	t.Helper()
	got, pages := map[string]domain.ExternalOrder{}, 0
	for range 100 {
		page, err := a.PollOrders(ctx(t), store, cursor, since)
		if err != nil {
			if !domain.IsRetryable(err) {
				t.Fatalf("poll: %v", err)
			}
			t.Logf("poll failed retryably, again from the same cursor: %v", err)
			continue
		}
		pages++
		for _, o := range page.Orders {
			got[o.ExternalID] = o
		}
		cursor = page.Cursor
		if !page.More {
			return got, cursor, pages
		}
	}
	t.Fatal("the poll never ended")
	return nil, "", 0
}

// A receipt reads as the importer's order: receipt_id and transaction_id as
// the tracking push names them, listing and product ids, address, currency.
func TestPollMapsReceipts(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{}, marketplace.Options{})
	placed, err := sb.EtsyOrder(store.ShopID, sandbox.EtsyOrderRequest{Currency: "eur", Lines: []sandbox.EtsyOrderLine{
		{ProductID: "111", VariantID: "222", SKU: "TEE-M", Quantity: 2, Title: "Tee"}, {ProductID: "333", SKU: "MUG", Quantity: 1}},
		Address: sandbox.OrderAddress{Name: "Ada", Line1: "Hauptstr. 1", Line2: "2. OG", City: "Berlin", Region: "BE",
			PostalCode: "10115", CountryCode: "de"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := pollAll(t, a, store, "", time.Now().Add(-time.Hour))
	o, ok := got[placed.OrderID]
	if !ok || len(got) != 1 {
		t.Fatalf("polled %v", got)
	}
	want := domain.ExternalAddress{Name: "Ada", Line1: "Hauptstr. 1", Line2: "2. OG", City: "Berlin", Region: "BE", PostalCode: "10115", CountryCode: "DE"}
	if !o.Ready || o.Cancelled || o.Currency != "EUR" || o.Address != want || o.UpdatedAt.IsZero() || len(o.Lines) != 2 {
		t.Fatalf("order: %+v", o)
	}
	l0, l1 := o.Lines[0], o.Lines[1]
	if l0.ItemID != placed.ItemIDs[0] || l0.ProductID != "111" || l0.VariantID != "222" || l0.SKU != "TEE-M" || l0.Quantity != 2 || l0.Title != "Tee" ||
		l1.ItemID != placed.ItemIDs[1] || l1.ProductID != "333" || l1.SKU != "MUG" {
		t.Fatalf("lines: %+v", o.Lines)
	}
	// The tracking push names the same receipt and transaction.
	res, err := a.PushShipment(ctx(t), store, domain.Shipment{ShipmentID: "s1", OrderID: "o1", ExternalOrderID: o.ExternalID,
		Carrier: "USPS", TrackingNumber: "9400111899223000", ShippedAt: time.Now(),
		Items: []domain.Item{{ExternalID: l0.ItemID, Quantity: 2}}})
	if err != nil || res.Reference == "" {
		t.Fatalf("push to the polled receipt: %v", err)
	}
	// Orders changed before since are not read.
	if later, _, _ := pollAll(t, a, store, "", time.Now().Add(time.Hour)); len(later) != 0 {
		t.Fatalf("since in the future: %v", later)
	}
}

// Many receipts come in pages of 100 with the cursor in between; a
// cancellation shows in the next poll, which reads again only a small overlap.
func TestPollPagesAndSeesCancel(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{EtsyPerSecond: 50}, marketplace.Options{})
	other, err := sb.EtsyShop("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.EtsyOrder(other.ShopID, sandbox.EtsyOrderRequest{Lines: []sandbox.EtsyOrderLine{{Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 250 {
		ids = append(ids, order(t, sb, store, fmt.Sprint("SKU-", i)).OrderID)
	}
	got, cursor, pages := pollAll(t, a, store, "", time.Now().Add(-time.Minute))
	if len(got) != 250 || pages != 3 {
		t.Fatalf("%d orders in %d pages", len(got), pages)
	}
	for _, id := range ids {
		if !got[id].Ready {
			t.Fatalf("receipt %s: %+v", id, got[id])
		}
	}
	if err := sb.EtsyCancel(store.ShopID, ids[17]); err != nil {
		t.Fatal(err)
	}
	again, _, _ := pollAll(t, a, store, cursor, time.Time{})
	if o, ok := again[ids[17]]; !ok || !o.Cancelled || o.Ready || o.CancelReason != "Canceled" {
		t.Fatalf("cancel not seen: %+v", o)
	}
	for id, o := range again {
		if id != ids[17] && (o.Cancelled || !o.Ready) {
			t.Fatalf("receipt %s: %+v", id, o)
		}
	}
	if _, err := a.PollOrders(ctx(t), store, "w=garbage", time.Time{}); !domain.IsPermanent(err) {
		t.Fatalf("unreadable cursor: %v", err)
	}
}

// A storm of 429s while polling, with pushes spending the same key's budget,
// keeps every request within the budget and loses no receipt.
func TestPollThrottleStormLosesNothing(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{EtsyPerSecond: 4}, marketplace.Options{})
	var ids []string
	for i := range 230 {
		ids = append(ids, order(t, sb, store, fmt.Sprint("SKU-", i)).OrderID)
	}
	if err := sb.SetFaults(sandbox.Etsy, sandbox.Faults{ThrottleNext: 6, ErrorNext: 1}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if _, err := a.PushShipment(ctx(t), store, shipment(t, sb, store, 300+i)); err != nil {
				t.Error(err)
			}
		})
	}
	got, _, _ := pollAll(t, a, store, "", time.Now().Add(-time.Minute))
	wg.Wait()
	for _, id := range ids {
		if _, ok := got[id]; !ok {
			t.Fatalf("receipt %s lost", id)
		}
	}
	c := sb.Received(sandbox.Etsy).Counters
	if c.OverBudget != 0 || c.RejectedBudget != 0 || c.ThrottledForced != 6 || c.Accepted != 4 {
		t.Fatalf("counters: %+v", c)
	}
	t.Logf("counters: %+v", c)
}

// When Etsy says the day is spent, the adapter waits until its oldest request
// in the rolling 24-hour window has aged out — seconds here — not until
// midnight UTC, and sends nothing before.
func TestRollingDayQuota(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{EtsyPerSecond: 100, EtsyPerDay: 4}, marketplace.Options{})
	order(t, sb, store, "TEE")
	since := time.Now().Add(-time.Minute)
	if _, err := a.PollOrders(ctx(t), store, "", since); err != nil {
		t.Fatal(err)
	}
	// The first request was made almost a day ago.
	const age = 24*time.Hour - 2*time.Second
	sb.EtsyAge(age)
	etsy.Age(a, age)
	for range 3 {
		if _, err := a.PollOrders(ctx(t), store, "", since); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	page, err := a.PollOrders(ctx(t), store, "", since)
	if err != nil || len(page.Orders) != 1 {
		t.Fatalf("after the window freed a place: %v", err)
	}
	if el := time.Since(began); el < time.Second || el > 8*time.Second {
		t.Fatalf("waited %v for a place in the window", el)
	}
	if c := sb.Received(sandbox.Etsy).Counters; c.OverBudget != 0 || c.RejectedBudget != 0 {
		t.Fatalf("counters: %+v", c)
	}
	// The window is full again and its oldest request is seconds old: a
	// poll that cannot wait a day gives up at once, retryable.
	short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	began = time.Now()
	_, err = a.PollOrders(short, store, "", since)
	if !domain.IsRetryable(err) || domain.ReasonOf(err) != domain.ReasonBudget || time.Since(began) > time.Second {
		t.Fatalf("full window: %v after %v", err, time.Since(began))
	}
	var de *domain.Error
	if !errors.As(err, &de) || de.RetryAfter < 23*time.Hour {
		t.Fatalf("retry after %v, want about a day", de)
	}
	if c := sb.Received(sandbox.Etsy).Counters; c.OverBudget != 0 || c.Requests != 5 {
		t.Fatalf("counters: %+v", c)
	}
}

// Concurrent polls near the end of the day send no more at once than the day
// has left: none of them is refused.
func TestDayEndConcurrentPolls(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{EtsyPerSecond: 100, EtsyPerDay: 5}, marketplace.Options{})
	order(t, sb, store, "TEE")
	since := time.Now().Add(-time.Minute)
	if _, err := a.PollOrders(ctx(t), store, "", since); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, budget := 0, 0
	for range 8 {
		wg.Go(func() {
			c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, err := a.PollOrders(c, store, "", since)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case domain.ReasonOf(err) == domain.ReasonBudget:
				budget++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c := sb.Received(sandbox.Etsy).Counters; ok != 4 || budget != 4 || c.OverBudget != 0 || c.Requests != 5 {
		t.Fatalf("%d polled, %d out of budget; counters %+v", ok, budget, c)
	}
}
