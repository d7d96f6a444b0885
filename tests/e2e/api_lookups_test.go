package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestAPILookups finds a seller's orders by the marketplace's order number,
// by store, by status and by creation range; refuses an unknown query
// parameter and an unknown enum value with the allowed names; and follows a
// create's 201 Location to the created order (a replay of the create
// answers the same).
func TestAPILookups(t *testing.T) {
	e := need(t)
	seller := token(t, "lookup-"+uuid.NewString()[:8], "user", time.Hour)
	variant, _ := sticker(t, e)
	shop := connectShopOff(t, e, seller, "shopify")
	ext, items := marketOrder(t, e, shop, 1)

	// A marketplace order typed in over REST: 201 with a Location that
	// reads the same order, and a replay answers the same.
	body := map[string]any{
		"items":            []any{map[string]any{"variant_id": variant, "quantity": 1, "external_item_id": items[0]}},
		"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
		"store_id": shop.storeID, "external_order_id": ext,
	}
	key := uuid.NewString()
	first := e.api.do(t, http.MethodPost, "/v1/orders", seller, body, "Idempotency-Key", key)
	if first.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.Status, first.Body)
	}
	marketID := str(first.JSON(t), "id")
	loc := first.Header.Get("Location")
	if loc != "/v1/orders/"+marketID {
		t.Fatalf("Location %q, want /v1/orders/%s", loc, marketID)
	}
	if got := e.api.must(t, http.StatusOK, http.MethodGet, loc, seller, nil); str(got, "id") != marketID || str(got, "external_order_id") != ext {
		t.Fatalf("GET %s: %v", loc, got)
	}
	replay := e.api.do(t, http.MethodPost, "/v1/orders", seller, body, "Idempotency-Key", key)
	if replay.Status != http.StatusCreated || replay.Header.Get("Location") != loc {
		t.Fatalf("replay: %d Location %q, want 201 %q", replay.Status, replay.Header.Get("Location"), loc)
	}
	marketCreated := str(first.JSON(t), "created_at")

	// A direct order, later.
	time.Sleep(10 * time.Millisecond)
	direct := e.api.do(t, http.MethodPost, "/v1/orders", seller, secBlankOrder(variant, 1), "Idempotency-Key", uuid.NewString())
	if direct.Status != http.StatusCreated {
		t.Fatalf("direct create: %d %s", direct.Status, direct.Body)
	}
	directID, directCreated := str(direct.JSON(t), "id"), str(direct.JSON(t), "created_at")

	list := func(query string) []string {
		t.Helper()
		got := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders?page_size=100"+query, seller, nil)
		var ids []string
		for _, o := range asSlice(dig(got, "orders")) {
			ids = append(ids, str(o, "id"))
		}
		return ids
	}
	expect := func(name, query string, want ...string) {
		t.Helper()
		if got := list(query); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s (%s): %v, want %v", name, query, got, want)
		}
	}
	expect("everything, newest first", "", directID, marketID)
	expect("by marketplace order number", "&external_order_id="+url.QueryEscape(ext), marketID)
	expect("by store", "&store_id="+shop.storeID, marketID)
	expect("by store and order number", "&store_id="+shop.storeID+"&external_order_id="+url.QueryEscape(ext), marketID)
	expect("by an order number nobody has", "&external_order_id=no-such-order")
	expect("created range", "&created_after="+url.QueryEscape(marketCreated)+"&created_before="+url.QueryEscape(directCreated), marketID)
	expect("created from the second", "&created_after="+url.QueryEscape(directCreated), directID)

	// Every owner's orders: an admin sees this seller's and another user's
	// with all_owners (newer orders of parallel tests come first, so page
	// on from the seller's first order); a user is refused.
	other := token(t, "lookup-other-"+uuid.NewString()[:8], "user", time.Hour)
	otherOrder := e.api.do(t, http.MethodPost, "/v1/orders", other, secBlankOrder(variant, 1), "Idempotency-Key", uuid.NewString())
	if otherOrder.Status != http.StatusCreated {
		t.Fatalf("other user's create: %d %s", otherOrder.Status, otherOrder.Body)
	}
	otherID := str(otherOrder.JSON(t), "id")
	admin := token(t, "lookup-admin", "admin", time.Hour)
	seen := map[string]bool{}
	for page, tok := 0, ""; page < 50; page++ {
		got := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders?all_owners=true&page_size=100&created_after="+
			url.QueryEscape(marketCreated)+"&page_token="+url.QueryEscape(tok), admin, nil)
		for _, o := range asSlice(dig(got, "orders")) {
			seen[str(o, "id")] = true
		}
		if tok = str(got, "next_page_token"); tok == "" {
			break
		}
	}
	if !seen[marketID] || !seen[directID] || !seen[otherID] {
		t.Errorf("admin with all_owners: seller's %v %v, other user's %v; want all listed", seen[marketID], seen[directID], seen[otherID])
	}
	if r := e.api.do(t, http.MethodGet, "/v1/orders?all_owners=true", seller, nil); r.Status != http.StatusForbidden {
		t.Errorf("a user with all_owners: %d %s, want 403", r.Status, r.Body)
	}

	// By status: the list by the order's status holds it, and only orders
	// of that status (the order moves on its own, so read until stable).
	eventually(t, 30*time.Second, "the status filter agrees with the order", func() (bool, string) {
		st := str(e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+directID, seller, nil), "status")
		got := e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders?page_size=100&status="+st, seller, nil)
		found, other := false, ""
		for _, o := range asSlice(dig(got, "orders")) {
			found = found || str(o, "id") == directID
			if s := str(o, "status"); s != st {
				other = s
			}
		}
		return found && other == "", st + " listed: " + secJSON(got)
	})

	// Unknown parameters and values are refused, naming what is allowed.
	refused := func(name, method, path string, body any, want string) {
		t.Helper()
		r := e.api.do(t, method, path, seller, body, "Idempotency-Key", uuid.NewString())
		msg := str(r.JSON(t), "error", "message")
		if r.Status != http.StatusBadRequest || !strings.HasPrefix(msg, want) {
			t.Errorf("%s: %d %q, want 400 starting %q", name, r.Status, msg, want)
		}
	}
	refused("unknown parameter", http.MethodGet, "/v1/orders?external_order=x", nil,
		`unknown query parameter "external_order" (allowed: page_size, page_token, user_id, status, store_id, external_order_id, created_after, created_before, all_owners)`)
	refused("invalid status in the query", http.MethodGet, "/v1/orders?status=SHIPPED", nil,
		`invalid value "SHIPPED" for status; allowed: ORDER_STATUS_PENDING, `)
	bad := secBlankOrder(variant, 1)
	bad["payment_method"] = "CASH"
	refused("invalid payment method in the body", http.MethodPost, "/v1/orders", bad,
		`invalid value "CASH" for payment_method; allowed: PAYMENT_METHOD_CARD`)
	bad["payment_method"] = 7
	r := e.api.do(t, http.MethodPost, "/v1/orders", seller, bad, "Idempotency-Key", uuid.NewString())
	if msg := str(r.JSON(t), "error", "message"); r.Status != http.StatusBadRequest ||
		!strings.Contains(msg, "payment_method: value must be one of PAYMENT_METHOD_CARD") {
		t.Errorf("undefined payment method number: %d %q", r.Status, msg)
	}
}
