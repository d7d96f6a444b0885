package amazon_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sandbox "github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/amazon"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// fastReads raises the order reads' usage plans so a test does not wait a
// minute per getOrders; the adapter learns the rates from x-amzn-RateLimit-Limit.
var fastReads = sandbox.Limits{AmazonOrdersRate: 20, AmazonOrdersBurst: 20, AmazonItemsRate: 40, AmazonItemsBurst: 30}

// pollAll polls from cursor until a page says no more, as the importer does
// (a retryable failure polls the same cursor again), and returns every order
// seen by id (the last sighting wins), the cursor to poll with next and the
// number of pages.
func pollAll(t *testing.T, a *amazon.Adapter, store domain.Store, cur string, since time.Time) (map[string]domain.ExternalOrder, string, int) {
	t.Helper()
	seen := map[string]domain.ExternalOrder{}
	failures := 0
	for pages := 1; ; pages++ {
		page, err := a.PollOrders(ctx(t), store, cur, since)
		if err != nil && !domain.IsPermanent(err) && failures < 5 {
			failures++
			pages--
			continue
		}
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, o := range page.Orders {
			seen[o.ExternalID] = o
		}
		cur = page.Cursor
		if !page.More {
			return seen, cur, pages
		}
		if pages > 50 {
			t.Fatal("the poll never ends")
		}
	}
}

func TestPollPagesItemsAndCancellations(t *testing.T) {
	t.Parallel()
	e := setup(t, fastReads)
	since := time.Now().Add(-time.Hour)
	want := map[string]placed{}
	for i := range 43 {
		p := e.order("", line{ProductID: fmt.Sprintf("B0%08d", i), SKU: fmt.Sprintf("SKU-%d", i), Title: "Tee", Quantity: 1 + i%3})
		want[p.OrderID] = p
	}
	var many []line
	for i := range 7 {
		many = append(many, line{ProductID: fmt.Sprintf("B1%08d", i), SKU: fmt.Sprintf("BIG-%d", i), Title: "Mug", Quantity: 1})
	}
	big := e.order("", many...)
	want[big.OrderID] = big
	pending := e.order("Pending", line{SKU: "LATER", Quantity: 1})
	gone := e.order("", line{SKU: "GONE", Quantity: 1})
	e.cancel(gone.OrderID)

	seen, cur, pages := pollAll(t, e.a, e.store, "", since)
	if pages != 3 {
		t.Errorf("%d pages for 45 orders, want 3 of %d", pages, amazon.PageSize)
	}
	if _, ok := seen[pending.OrderID]; ok {
		t.Error("a Pending order was returned")
	}
	if o := seen[gone.OrderID]; !o.Cancelled || o.Ready {
		t.Errorf("cancelled order: %+v", o)
	}
	for id, p := range want {
		o, ok := seen[id]
		if !ok {
			t.Fatalf("order %s not seen", id)
		}
		if !o.Ready || o.Cancelled || o.Currency != "USD" || len(o.Lines) != len(p.ItemIDs) || o.UpdatedAt.IsZero() {
			t.Fatalf("order %s: %+v", id, o)
		}
		for i, l := range o.Lines {
			if l.ItemID != p.ItemIDs[i] || l.Quantity < 1 || l.SKU == "" || !strings.HasPrefix(l.ProductID, "B") {
				t.Fatalf("order %s line %d: %+v", id, i, l)
			}
		}
		if a := o.Address; a.Name != "Ada Buyer" || a.Line1 != "1 Main St" || a.Line2 != "Apt 2" || a.City != "Springfield" ||
			a.Region != "IL" || a.PostalCode != "62701" || a.CountryCode != "US" {
			t.Fatalf("address: %+v", a)
		}
	}
	if n := len(seen[big.OrderID].Lines); n != 7 {
		t.Fatalf("the 7-item order came with %d lines (getOrderItems paging)", n)
	}

	// The next poll sees a cancellation and a new order.
	victim := big.OrderID
	e.cancel(victim)
	fresh := e.order("", line{SKU: "NEW", Quantity: 1})
	again, _, _ := pollAll(t, e.a, e.store, cur, time.Time{})
	if !again[victim].Cancelled || !again[fresh.OrderID].Ready {
		t.Fatalf("second poll: cancelled %+v, new %+v", again[victim], again[fresh.OrderID])
	}
	if c := e.sb.Received(sandbox.Amazon).Counters; c.OverBudget != 0 || c.AuthFailures != 0 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestPollThrottleStormLosesNothing(t *testing.T) {
	t.Parallel()
	// Tight plans (the adapter starts at the documented ones and learns these),
	// forced throttles and server errors on top: every order still arrives and
	// nothing is sent while the seller has no budget.
	e := setup(t, sandbox.Limits{AmazonOrdersRate: 5, AmazonOrdersBurst: 20, AmazonItemsRate: 10, AmazonItemsBurst: 30})
	since := time.Now().Add(-time.Hour)
	want := map[string]bool{}
	for i := range 30 {
		want[e.order("", line{SKU: fmt.Sprintf("S-%d", i), Quantity: 1}).OrderID] = true
	}
	_ = e.sb.SetFaults(sandbox.Amazon, sandbox.Faults{ThrottleNext: 8, ErrorNext: 3})
	seen, _, _ := pollAll(t, e.a, e.store, "", since)
	for id := range want {
		if !seen[id].Ready || len(seen[id].Lines) != 1 {
			t.Fatalf("order %s: %+v", id, seen[id])
		}
	}
	c := e.sb.Received(sandbox.Amazon).Counters
	if c.ThrottledForced != 8 || c.InjectedErrors != 3 || c.OverBudget != 0 || c.RejectedBudget != 0 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestPollWithinDefaultPlan(t *testing.T) {
	t.Parallel()
	// At the documented getOrders plan (0.0167/s, burst 20) the 21st poll within
	// the minute must wait: with a short deadline the adapter gives up with a
	// retryable budget error rather than calling.
	e := setup(t, sandbox.Limits{})
	e.order("", line{SKU: "ONE", Quantity: 1})
	cur := ""
	for i := range 20 {
		page, err := e.a.PollOrders(ctx(t), e.store, cur, time.Now().Add(-time.Hour))
		if err != nil || len(page.Orders) != 1 || page.More {
			t.Fatalf("poll %d: %+v %v", i, page, err)
		}
		cur = page.Cursor
	}
	short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := e.a.PollOrders(short, e.store, cur, time.Time{})
	if err == nil || domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonBudget {
		t.Fatalf("21st poll: %v", err)
	}
	if c := e.sb.Received(sandbox.Amazon).Counters; c.OverBudget != 0 || c.Reads != 40 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestRegionRouting(t *testing.T) {
	t.Parallel()
	e := setupRegion(t, fastReads, "eu")
	if e.store.ShopID != "A1PA6795UKMFR9" {
		t.Fatalf("eu store shop_id %q", e.store.ShopID)
	}
	s := e.shipment(1)
	seen, _, _ := pollAll(t, e.a, e.store, "", time.Now().Add(-time.Hour))
	if o := seen[s.ExternalOrderID]; !o.Ready || len(o.Lines) != 1 || o.Lines[0].ItemID != s.Items[0].ExternalID {
		t.Fatalf("eu poll: %+v", seen)
	}

	// The router points the store at its region's endpoint, from its region or
	// its marketplace id.
	router := marketplace.Router{Pushers: map[domain.Marketplace]marketplace.Pusher{domain.Amazon: e.a},
		Endpoints: marketplace.Endpoints{ShopifyURL: e.url + "/shopify", EtsyURL: e.url + "/etsy", AmazonURL: e.url + "/amazon",
			AmazonEUURL: e.url + "/amazon-eu", AmazonFEURL: e.url + "/amazon-fe"}}
	bare := e.store
	bare.BaseURL, bare.Region = "", ""
	if _, err := router.PushShipment(ctx(t), bare, s); err != nil {
		t.Fatal(err)
	}
	if rep := e.sb.Received(sandbox.Amazon); len(rep.Pushes) != 1 || rep.Pushes[0].Store != e.seller {
		t.Fatalf("sandbox: %+v", rep.Pushes)
	}

	// At the North America endpoint the EU seller is refused, even after a
	// token refresh.
	na := e.store
	na.ID, na.BaseURL = "amz-store-eu-at-na", e.url+"/amazon"
	if _, err := e.a.PushShipment(ctx(t), na, e.shipment(2)); domain.ReasonOf(err) != domain.ReasonAuth || !domain.IsPermanent(err) {
		t.Fatalf("push at na: %v", err)
	}
	if _, err := e.a.PollOrders(ctx(t), na, "", time.Now().Add(-time.Hour)); domain.ReasonOf(err) != domain.ReasonAuth {
		t.Fatalf("poll at na: %v", err)
	}
}

func TestOnlyIssuedCredentialsWork(t *testing.T) {
	t.Parallel()
	e := setup(t, fastReads)
	forged := e.store
	forged.ID = "amz-forged"
	forged.Credentials.AccessToken = "Atza|" + e.seller + ".made-up"
	forged.Credentials.RefreshToken = "Atzr|" + e.seller + ".made-up"
	if _, err := e.a.PollOrders(ctx(t), forged, "", time.Now().Add(-time.Hour)); domain.ReasonOf(err) != domain.ReasonAuth {
		t.Fatalf("forged tokens: %v", err)
	}
	wrongClient := e.store
	wrongClient.ID = "amz-wrong-client"
	wrongClient.Credentials.AccessToken = ""
	wrongClient.Credentials.ClientSecret = "not-the-secret"
	if _, err := e.a.PollOrders(ctx(t), wrongClient, "", time.Now().Add(-time.Hour)); domain.ReasonOf(err) != domain.ReasonAuth {
		t.Fatalf("wrong client secret: %v", err)
	}
	c := e.sb.Received(sandbox.Amazon).Counters
	if c.AuthFailures < 3 || c.TokenRefreshes != 0 {
		t.Fatalf("counters: %+v", c)
	}
}

func TestConfirmShipmentChecksTheOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, sandbox.Limits{})
	s := e.shipment(1)
	unknown := s
	unknown.ExternalOrderID = "113-0000000-0000001"
	if _, err := e.a.PushShipment(ctx(t), e.store, unknown); domain.ReasonOf(err) != domain.ReasonNotFound {
		t.Fatalf("unknown order: %v", err)
	}
	foreign := s
	foreign.Items = []domain.Item{{ExternalID: "99999999999999", Quantity: 1}}
	if _, err := e.a.PushShipment(ctx(t), e.store, foreign); domain.ReasonOf(err) != domain.ReasonInvalid || !domain.IsPermanent(err) {
		t.Fatalf("item of no order: %v", err)
	}
	if _, err := e.a.PushShipment(ctx(t), e.store, s); err != nil {
		t.Fatal(err)
	}
	// A shipped order no longer polls as ready.
	seen, _, _ := pollAll(t, e.a, e.store, "", time.Now().Add(-time.Hour))
	if _, ok := seen[s.ExternalOrderID]; ok {
		t.Fatalf("shipped order polled: %+v", seen)
	}
}

func TestPollHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	// Amazon seldom sends Retry-After with a 429, but when it does the next
	// call waits it out.
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		n := len(at)
		mu.Unlock()
		w.Header().Set("x-amzn-RateLimit-Limit", "5")
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"errors":[{"code":"QuotaExceeded","message":"You exceeded your quota for the requested resource."}]}`)
			return
		}
		_, _ = io.WriteString(w, `{"payload":{"Orders":[],"LastUpdatedBefore":"2026-01-01T00:00:00Z"}}`)
	}))
	t.Cleanup(srv.Close)
	a := amazon.New(marketplace.Options{Retry: marketplace.Retry{BaseDelay: 10 * time.Millisecond}})
	store := domain.Store{ID: "amz-retry-after", Marketplace: domain.Amazon, ShopID: "ATVPDKIKX0DER", BaseURL: srv.URL,
		Credentials: domain.Credentials{AccessToken: "Atza|x.y", RefreshToken: "Atzr|x.y", ClientID: "c", ClientSecret: "s"}}
	page, err := a.PollOrders(ctx(t), store, "", time.Now().Add(-time.Hour))
	if err != nil || page.More || page.Cursor == "" {
		t.Fatalf("poll: %+v %v", page, err)
	}
	if len(at) != 2 || at[1].Sub(at[0]) < time.Second {
		t.Fatalf("calls at %v: the Retry-After was not honoured", at)
	}
}

func TestUnreadableCursorStartsAtSince(t *testing.T) {
	t.Parallel()
	e := setup(t, fastReads)
	p := e.order("", line{SKU: "ONE", Quantity: 1})
	page, err := e.a.PollOrders(ctx(t), e.store, "not a cursor", time.Now().Add(-time.Hour))
	if err != nil || len(page.Orders) != 1 || page.Orders[0].ExternalID != p.OrderID {
		t.Fatalf("poll: %+v %v", page, err)
	}
}
