package shopify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sandbox "github.com/printfleet/printfleet/sandbox/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/shopify"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

func place(t *testing.T, sb *sandbox.Server, shop string, in sandbox.ShopifyOrderInput) sandbox.ShopifyPlaced {
	t.Helper()
	if in.Address == (sandbox.ShopifyOrderInput{}).Address {
		_ = json.Unmarshal([]byte(`{"name":"Ada Lovelace","line1":"1 Main St","line2":"Apt 2","city":"Springfield","region":"IL","postal_code":"62701","country_code":"US"}`), &in.Address)
	}
	p, err := sb.PlaceShopifyOrder(shop, in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// adminQuery reads an order through the sandbox's Admin GraphQL API.
func adminQuery(t *testing.T, store domain.Store, gid string) map[string]any {
	t.Helper()
	q := `query($id: ID!) { order(id: $id) { displayFulfillmentStatus fulfillmentOrders(first: 5) { nodes { status lineItems(first: 10) { nodes { remainingQuantity lineItem { id } } } } } } }`
	body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"id": gid}})
	req, _ := http.NewRequest("POST", store.BaseURL+"/admin/api/"+shopify.APIVersion+"/graphql.json", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", store.Credentials.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Order map[string]any `json:"order"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Data.Order == nil {
		t.Fatalf("admin query: %d %v", resp.StatusCode, err)
	}
	return out.Data.Order
}

// remaining maps each line item gid to its remaining quantity.
func remaining(order map[string]any) map[string]float64 {
	out := map[string]float64{}
	for _, fo := range order["fulfillmentOrders"].(map[string]any)["nodes"].([]any) {
		for _, l := range fo.(map[string]any)["lineItems"].(map[string]any)["nodes"].([]any) {
			line := l.(map[string]any)
			out[line["lineItem"].(map[string]any)["id"].(string)] += line["remainingQuantity"].(float64)
		}
	}
	return out
}

func track(n int, orderID string, items ...domain.Item) domain.Shipment {
	s := shipment(n)
	s.ExternalOrderID, s.Items = orderID, items
	return s
}

// The sandbox accepts only the tokens it issued, each for its own shop.
func TestOnlyIssuedTokensWork(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	other := connect(t, sb, strings.TrimSuffix(store.BaseURL, "/shopify/acme"), "other-shop", "store-2")
	for name, tok := range map[string]string{"made up": "shpat_0123456789abcdef", "another shop's": other.Credentials.AccessToken} {
		s := store
		s.ID = "store-" + name
		s.Credentials = domain.Credentials{AccessToken: tok}
		_, err := a.PushShipment(ctx(t), s, shipment(50))
		if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonAuth || !strings.Contains(err.Error(), "401") {
			t.Fatalf("%s token: %v", name, err)
		}
	}
	if _, err := a.PushShipment(ctx(t), store, shipment(50)); err != nil {
		t.Fatalf("issued token: %v", err)
	}
}

// An expired access token is refreshed once, however many pushes find it
// expired together; the new pair is saved, and later calls refresh before
// the token expires rather than after a refusal.
func TestExpiredTokenIsRefreshedOnce(t *testing.T) {
	t.Parallel()
	var saved atomic.Int32
	var last atomic.Value
	sb, a, store := setupWith(t, sandbox.Limits{TokenTTL: 300 * time.Millisecond}, marketplace.Options{
		OnTokenRefresh: func(_ domain.Store, c domain.Credentials) { saved.Add(1); last.Store(c) }})
	if _, err := a.PushShipment(ctx(t), store, shipment(60)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if _, err := a.PushShipment(ctx(t), store, shipment(61+i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c := sb.Received(sandbox.Shopify).Counters
	if c.TokenRefreshes != 1 || saved.Load() != 1 || c.Accepted != 7 {
		t.Fatalf("refreshes %d, saved %d, counters %+v", c.TokenRefreshes, saved.Load(), c)
	}
	creds := last.Load().(domain.Credentials)
	if creds.AccessToken == store.Credentials.AccessToken || creds.RefreshToken == store.Credentials.RefreshToken ||
		!strings.HasPrefix(creds.AccessToken, "shpat_") || creds.ClientSecret != store.Credentials.ClientSecret {
		t.Fatal("the saved credentials are not the refreshed pair")
	}
	t.Logf("7 pushes across an expiry: %d refresh, %d auth failures", c.TokenRefreshes, c.AuthFailures)
}

// A token refused after a refresh (here: the refresh itself is refused) is
// permanent: the store needs reconnecting.
func TestRefusedAfterRefreshIsPermanent(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	store.Credentials.ClientSecret = "shpss_wrong"
	_ = sb.SetFaults(sandbox.Shopify, sandbox.Faults{ExpireTokens: true})
	res, err := a.PushShipment(ctx(t), store, shipment(70))
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonAuth || res.Status != 401 || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("err %v, result %+v", err, res)
	}
	if strings.Contains(err.Error(), "shpss_") {
		t.Fatal("the error carries the client secret")
	}
}

// An order whose lines are stocked at two locations is fulfilled with one
// fulfillmentCreate per location, and ends fully fulfilled; a resend changes
// nothing.
func TestMultiLocationOrderIsPushedPerLocation(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	o := place(t, sb, "acme", sandbox.ShopifyOrderInput{Lines: []sandbox.ShopifyOrderLine{
		{SKU: "MUG-11", Quantity: 2}, {SKU: "TEE-M", Quantity: 1, Location: "second"}, {SKU: "CAP", Quantity: 1}}})
	res, err := a.PushShipment(ctx(t), store, track(80, o.OrderID))
	if err != nil || res.Duplicate {
		t.Fatalf("push: %+v, %v", res, err)
	}
	rep := sb.Received(sandbox.Shopify)
	if rep.PushesByOrder[o.GID] != 2 || len(strings.Fields(res.Reference)) != 2 {
		t.Fatalf("pushes %v, reference %q", rep.PushesByOrder, res.Reference)
	}
	if st := adminQuery(t, store, o.GID)["displayFulfillmentStatus"]; st != "FULFILLED" {
		t.Fatalf("order is %v", st)
	}
	again, err := a.PushShipment(ctx(t), store, track(80, o.OrderID))
	if err != nil || !again.Duplicate || sb.Received(sandbox.Shopify).PushesByOrder[o.GID] != 2 {
		t.Fatalf("resend: %+v, %v", again, err)
	}
}

// Mixing locations in one fulfillmentCreate is refused by the sandbox as by
// Shopify.
func TestOneCallPerLocationIsEnforced(t *testing.T) {
	t.Parallel()
	sb, _, store := setup(t, sandbox.Limits{})
	o := place(t, sb, "acme", sandbox.ShopifyOrderInput{Lines: []sandbox.ShopifyOrderLine{
		{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 1, Location: "second"}}})
	q := `query($id: ID!) { order(id: $id) { fulfillmentOrders(first: 5) { nodes { id } } } }`
	m := `mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id } userErrors { field message } } }`
	post := func(query string, vars map[string]any) string {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest("POST", store.BaseURL+"/admin/api/"+shopify.APIVersion+"/graphql.json", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shopify-Access-Token", store.Credentials.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var read struct {
		Data struct {
			Order struct {
				FulfillmentOrders struct {
					Nodes []struct{ ID string } `json:"nodes"`
				} `json:"fulfillmentOrders"`
			} `json:"order"`
		} `json:"data"`
	}
	_ = json.Unmarshal([]byte(post(q, map[string]any{"id": o.GID})), &read)
	fos := read.Data.Order.FulfillmentOrders.Nodes
	if len(fos) != 2 {
		t.Fatalf("fulfillment orders: %+v", fos)
	}
	out := post(m, map[string]any{"f": map[string]any{"lineItemsByFulfillmentOrder": []any{
		map[string]any{"fulfillmentOrderId": fos[0].ID}, map[string]any{"fulfillmentOrderId": fos[1].ID}}}})
	if !strings.Contains(out, "same location") || !strings.Contains(out, `"fulfillment":null`) {
		t.Fatalf("mixed locations: %s", out)
	}
}

// A shipment naming items fulfills only those line items and quantities; a
// resend of it fulfills nothing more; a later shipment fulfills the rest.
func TestPartialItemsAreFulfilledOnce(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	o := place(t, sb, "acme", sandbox.ShopifyOrderInput{Lines: []sandbox.ShopifyOrderLine{
		{SKU: "MUG-11", Quantity: 3}, {SKU: "TEE-M", Quantity: 1, Location: "second"}}})
	mug, tee := o.ItemIDs[0], o.ItemIDs[1]
	first := track(90, o.OrderID, domain.Item{ExternalID: mug, Quantity: 2})
	if res, err := a.PushShipment(ctx(t), store, first); err != nil || res.Duplicate {
		t.Fatalf("first: %+v, %v", res, err)
	}
	left := remaining(adminQuery(t, store, o.GID))
	if left["gid://shopify/LineItem/"+mug] != 1 || left["gid://shopify/LineItem/"+tee] != 1 {
		t.Fatalf("after the first shipment: %v", left)
	}
	res, err := a.PushShipment(ctx(t), store, first)
	if err != nil || !res.Duplicate || sb.Received(sandbox.Shopify).PushesByOrder[o.GID] != 1 {
		t.Fatalf("resend: %+v, %v", res, err)
	}
	// The rest, one item named by its gid: two locations, two calls.
	rest := track(91, o.OrderID, domain.Item{ExternalID: "gid://shopify/LineItem/" + mug, Quantity: 1}, domain.Item{ExternalID: tee, Quantity: 1})
	if res, err := a.PushShipment(ctx(t), store, rest); err != nil || res.Duplicate {
		t.Fatalf("rest: %+v, %v", res, err)
	}
	order := adminQuery(t, store, o.GID)
	if order["displayFulfillmentStatus"] != "FULFILLED" || sb.Received(sandbox.Shopify).PushesByOrder[o.GID] != 3 {
		t.Fatalf("after the rest: %v, pushes %v", order, sb.Received(sandbox.Shopify).PushesByOrder)
	}
}

// A shipment whose items are not the order's line items (an order placed in
// the fleet with ids of its own) fulfills the whole order.
func TestItemsOfAnotherOrderFulfillTheWholeOrder(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	o := place(t, sb, "acme", sandbox.ShopifyOrderInput{Lines: []sandbox.ShopifyOrderLine{
		{SKU: "MUG-11", Quantity: 3}, {SKU: "TEE-M", Quantity: 1, Location: "second"}}})
	s := track(93, o.OrderID, domain.Item{ExternalID: "8f1e4c52-5d0b-4a43-9bd7-1b1f0c3d2e11", Quantity: 1},
		domain.Item{ExternalID: "40000000000093", Quantity: 2})
	if res, err := a.PushShipment(ctx(t), store, s); err != nil || res.Duplicate {
		t.Fatalf("push: %+v, %v", res, err)
	}
	if st := adminQuery(t, store, o.GID)["displayFulfillmentStatus"]; st != "FULFILLED" {
		t.Fatalf("order is %v", st)
	}
}

// PollOrders pages through the orders updated since the watermark, oldest
// change first, and hands back a cursor that re-reads a small overlap.
func TestPollOrdersPagesAndFilters(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	var placed []sandbox.ShopifyPlaced
	for i := range 12 {
		in := sandbox.ShopifyOrderInput{Currency: "EUR", Lines: []sandbox.ShopifyOrderLine{
			{ProductID: "gid://shopify/Product/7001", VariantID: "7101", SKU: fmt.Sprintf("SKU-%d", i), Quantity: 1 + i%3, Title: "Mug"}}}
		if i == 3 {
			in.FinancialStatus = "pending"
		}
		placed = append(placed, place(t, sb, "acme", in))
	}
	if err := sb.CancelShopifyOrder("acme", placed[5].OrderID, "customer"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]domain.ExternalOrder{}
	var order []string
	cursor, pages := "", 0
	for {
		page, err := a.PollOrders(ctx(t), store, cursor, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range page.Orders {
			seen[o.ExternalID] = o
			order = append(order, o.ExternalID)
		}
		cursor = page.Cursor
		if !page.More {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 12 || pages != 3 || order[len(order)-1] != placed[5].OrderID {
		t.Fatalf("%d orders in %d pages, last %s", len(seen), pages, order[len(order)-1])
	}
	o := seen[placed[0].OrderID]
	want := domain.ExternalOrder{ExternalID: placed[0].OrderID, Currency: "EUR", Ready: true, UpdatedAt: o.UpdatedAt,
		Lines:   []domain.ExternalLine{{ItemID: placed[0].ItemIDs[0], ProductID: "7001", VariantID: "7101", SKU: "SKU-0", Title: "Mug", Quantity: 1}},
		Address: domain.ExternalAddress{Name: "Ada Lovelace", Line1: "1 Main St", Line2: "Apt 2", City: "Springfield", Region: "IL", PostalCode: "62701", CountryCode: "US"}}
	if b, w := fmt.Sprintf("%+v", o), fmt.Sprintf("%+v", want); b != w || o.UpdatedAt.IsZero() {
		t.Fatalf("order\n got %s\nwant %s", b, w)
	}
	if seen[placed[3].OrderID].Ready || !seen[placed[5].OrderID].Cancelled || seen[placed[5].OrderID].CancelReason != "customer" {
		t.Fatalf("pending %+v / cancelled %+v", seen[placed[3].OrderID], seen[placed[5].OrderID])
	}
	// The next poll re-reads the overlap only.
	page, err := a.PollOrders(ctx(t), store, cursor, time.Time{})
	if err != nil || len(page.Orders) == 0 {
		t.Fatalf("next poll: %d orders, more %v, %v", len(page.Orders), page.More, err)
	}
	// A watermark past the overlap filters everything out.
	page, err = a.PollOrders(ctx(t), store, "", time.Now().Add(10*time.Minute))
	if err != nil || len(page.Orders) != 0 {
		t.Fatalf("future watermark: %d orders, %v", len(page.Orders), err)
	}
	c := sb.Received(sandbox.Shopify).Counters
	if c.OverBudget != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// A shop whose single-query limit is below a full page is polled in smaller
// pages.
func TestPollOrdersShrinksPagesToTheCostLimit(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{ShopifyBucketSize: 200, ShopifyRestoreRate: 1000})
	for range 3 {
		place(t, sb, "acme", sandbox.ShopifyOrderInput{Lines: []sandbox.ShopifyOrderLine{{SKU: "A", Quantity: 1}}})
	}
	total, cursor := 0, ""
	for range 10 {
		page, err := a.PollOrders(ctx(t), store, cursor, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		total += len(page.Orders)
		cursor = page.Cursor
		if !page.More {
			break
		}
	}
	if total != 3 {
		t.Fatalf("polled %d orders", total)
	}
}

// ParseOrderWebhook reads the orders/create and orders/cancelled bodies the
// sandbox delivers, signed with the shop's client secret, into the same order
// the poll reads.
func TestParseOrderWebhookOnSandboxDeliveries(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	type hit struct {
		topic, sig string
		body       []byte
	}
	got := make(chan hit, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- hit{r.Header.Get("X-Shopify-Topic"), r.Header.Get("X-Shopify-Hmac-Sha256"), b}
	}))
	t.Cleanup(hook.Close)
	if err := sb.RegisterShopifyWebhook("acme", hook.URL); err != nil {
		t.Fatal(err)
	}
	o := place(t, sb, "acme", sandbox.ShopifyOrderInput{Currency: "GBP", Lines: []sandbox.ShopifyOrderLine{
		{ProductID: "7001", VariantID: "gid://shopify/ProductVariant/7101", SKU: "MUG", Quantity: 2, Title: "Mug"},
		{SKU: "TEE", Quantity: 1, Title: "Tee", Location: "second"}}})
	next := func() hit {
		select {
		case h := <-got:
			return h
		case <-time.After(5 * time.Second):
			t.Fatal("no webhook")
		}
		return hit{}
	}
	created := next()
	if created.topic != "orders/create" || !sandbox.VerifyShopifyWebhook(created.body, created.sig, store.Credentials.ClientSecret) {
		t.Fatalf("delivery %q, signature verifies: %v", created.topic, sandbox.VerifyShopifyWebhook(created.body, created.sig, store.Credentials.ClientSecret))
	}
	fromHook, err := shopify.ParseOrderWebhook(created.body)
	if err != nil {
		t.Fatal(err)
	}
	page, err := a.PollOrders(ctx(t), store, "", time.Time{})
	if err != nil || len(page.Orders) != 1 {
		t.Fatalf("poll: %+v, %v", page, err)
	}
	if h, p := fmt.Sprintf("%+v", fromHook), fmt.Sprintf("%+v", page.Orders[0]); h != p {
		t.Fatalf("webhook and poll disagree:\nhook %s\npoll %s", h, p)
	}
	if fromHook.ExternalID != o.OrderID || !slices.Equal([]string{fromHook.Lines[0].ItemID, fromHook.Lines[1].ItemID}, o.ItemIDs) ||
		fromHook.Lines[0].VariantID != "7101" || !fromHook.Ready || fromHook.Currency != "GBP" {
		t.Fatalf("parsed %+v", fromHook)
	}
	// The ids the webhook gives are the ones the push takes.
	if _, err := a.PushShipment(ctx(t), store, track(95, fromHook.ExternalID, domain.Item{ExternalID: fromHook.Lines[1].ItemID, Quantity: 1})); err != nil {
		t.Fatal(err)
	}
	if err := sb.CancelShopifyOrder("acme", o.OrderID, ""); err != nil {
		t.Fatal(err)
	}
	topics := []string{}
	for range 2 {
		h := next()
		topics = append(topics, h.topic)
		e, err := shopify.ParseOrderWebhook(h.body)
		if err != nil || !e.Cancelled || e.ExternalID != o.OrderID {
			t.Fatalf("%s: %+v, %v", h.topic, e, err)
		}
	}
	slices.Sort(topics)
	if !slices.Equal(topics, []string{"orders/cancelled", "orders/updated"}) {
		t.Fatalf("topics %v", topics)
	}
	if _, err := shopify.ParseOrderWebhook([]byte(`{"name":"#1001"}`)); !domain.IsPermanent(err) {
		t.Fatalf("no id: %v", err)
	}
}

// Concurrent resends of a shipment spanning two locations leave one
// fulfillment per location, and none of them fails.
func TestConcurrentMultiLocationResends(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	for _, name := range []string{"whole order", "items"} {
		o := place(t, sb, "acme", sandbox.ShopifyOrderInput{Lines: []sandbox.ShopifyOrderLine{
			{SKU: "MUG-11", Quantity: 2}, {SKU: "TEE-M", Quantity: 1, Location: "second"}}})
		var items []domain.Item
		if name == "items" {
			items = []domain.Item{{ExternalID: o.ItemIDs[0], Quantity: 2}, {ExternalID: o.ItemIDs[1], Quantity: 1}}
		}
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if _, err := a.PushShipment(ctx(t), store, track(96, o.OrderID, items...)); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			})
		}
		wg.Wait()
		if got := sb.Received(sandbox.Shopify).PushesByOrder[o.GID]; got != 2 {
			t.Fatalf("%s: %d fulfillments, want one per location", name, got)
		}
		if st := adminQuery(t, store, o.GID)["displayFulfillmentStatus"]; st != "FULFILLED" {
			t.Fatalf("%s: order is %v", name, st)
		}
	}
}

// An order with more lines than a poll page carries is read in full.
func TestPollOrdersReadsEveryLine(t *testing.T) {
	t.Parallel()
	sb, a, store := setup(t, sandbox.Limits{})
	var lines []sandbox.ShopifyOrderLine
	for i := range 40 {
		lines = append(lines, sandbox.ShopifyOrderLine{SKU: fmt.Sprintf("SKU-%02d", i), Quantity: 1})
	}
	o := place(t, sb, "acme", sandbox.ShopifyOrderInput{Lines: lines})
	page, err := a.PollOrders(ctx(t), store, "", time.Time{})
	if err != nil || len(page.Orders) != 1 {
		t.Fatalf("poll: %d orders, %v", len(page.Orders), err)
	}
	got := page.Orders[0].Lines
	if len(got) != 40 || got[39].SKU != "SKU-39" || got[39].ItemID != o.ItemIDs[39] {
		t.Fatalf("%d lines", len(got))
	}
}
