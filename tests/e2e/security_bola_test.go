package e2e

// Broken object level authorization.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// productOf returns the id of the product that has variant.
func productOf(t *testing.T, e *environment, variant string) string {
	t.Helper()
	next := ""
	for page := 0; page < 20; page++ {
		path := "/v1/products?page_size=50"
		if next != "" {
			path += "&page_token=" + url.QueryEscape(next)
		}
		body := e.api.must(t, http.StatusOK, http.MethodGet, path, "", nil)
		for _, p := range dig(body, "products").([]any) {
			for _, v := range dig(p, "variants").([]any) {
				if str(v, "id") == variant {
					return str(p, "id")
				}
			}
		}
		if next = str(body, "next_page_token"); next == "" {
			break
		}
	}
	t.Fatalf("no product has variant %s", variant)
	return ""
}

// TestBOLAMatrix: user B touches each of user A's objects through every
// route of the REST table that takes an object id, and lists what A owns;
// every attempt is 404 (owner routes), 403 (routes B's role does not open)
// or an empty list, indistinguishable from a missing object, and nothing of
// A's changes.
func TestBOLAMatrix(t *testing.T) {
	e := need(t)
	aliceSub, bobSub := newSubject("bola-alice"), newSubject("bola-bob")
	alice := secToken(t, aliceSub, "user", time.Hour)
	bob := secToken(t, bobSub, "user", time.Hour)
	admin := secToken(t, newSubject("bola-admin"), "admin", time.Hour)
	variant, front := sticker(t, e)
	product := productOf(t, e, variant)

	// Alice's objects: a ready design, an uploaded but unprocessed one, two
	// stores, an order printed with the design and a blank order.
	design := readyDesign(t, e, alice, designPNG(t, 1800, 1800))
	uploaded := uploadedDesign(t, e, alice, "unprocessed.png", "image/png", designPNG(t, 300, 300))
	var stores []string
	for i := range 2 {
		st, _ := newStore(t, e, alice, "MARKETPLACE_SHOPIFY", fmt.Sprintf("bola-alice-%d-%s", i, uuid.NewString()[:6]), "Alice's shop")
		stores = append(stores, str(st, "id"))
	}
	r := secCreateOrder(t, e, alice, map[string]any{
		"items":            []any{map[string]any{"variant_id": variant, "quantity": 1, "design_id": design, "placement_id": front}},
		"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("alice's order: %d %s", r.Status, r.Body)
	}
	order := str(r.JSON(t), "id")
	r = secCreateOrder(t, e, alice, secBlankOrder(variant, 1))
	if r.Status != http.StatusCreated {
		t.Fatalf("alice's blank order: %d %s", r.Status, r.Body)
	}
	order2 := str(r.JSON(t), "id")
	aliceOrders := []string{order, order2}
	titleBefore := str(e.api.must(t, http.StatusOK, http.MethodGet, "/v1/products/"+product, "", nil), "title")

	// Positive controls: the ids are right, the owner and an admin see them.
	for _, id := range aliceOrders {
		e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, alice, nil)
		e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id, admin, nil)
		e.api.must(t, http.StatusOK, http.MethodGet, "/v1/orders/"+id+"/events", alice, nil)
	}
	for _, id := range []string{design, uploaded} {
		e.api.must(t, http.StatusOK, http.MethodGet, "/v1/designs/"+id, alice, nil)
	}

	t.Logf("alice's orders before bob's attempts: %s %s, %s %s", order, orderStatus(t, e, alice, order), order2, orderStatus(t, e, alice, order2))
	bodies := map[string]any{
		"POST /v1/orders/{order_id}:cancel":                          map[string]any{"reason": "bola"},
		"POST /v1/orders/{order_id}/shipments":                       map[string]any{"carrier": "UPS", "tracking_number": "1ZBOLA" + strings.ToUpper(uuid.NewString()[:8])},
		"POST /v1/designs/{design_id}:process":                       map[string]any{},
		"PATCH /v1/products/{product_id}":                            map[string]any{"title": "bola-pwned"},
		"PATCH /v1/orders/{order_id}":                                map[string]any{"shipping_method": "express"},
		"POST /v1/orders/{order_id}:confirm":                         map[string]any{},
		"POST /v1/orders/{order_id}/shipments/{shipment_id}:deliver": map[string]any{},
	}
	targets := map[string][]string{"order_id": aliceOrders, "design_id": {design, uploaded}, "product_id": {product}}
	cases := 0
	for _, rt := range restTable {
		param := rt.idParam()
		if param == "" || rt.Public {
			continue
		}
		wantStatus, wantCode := http.StatusNotFound, "NOT_FOUND"
		if !rt.Owner && !slices.Contains(rt.Roles, "user") {
			wantStatus, wantCode = http.StatusForbidden, "PERMISSION_DENIED"
		}
		for _, id := range targets[param] {
			cases++
			t.Run(rt.String()+"/"+id[len(id)-6:], func(t *testing.T) {
				body := bodies[rt.String()]
				got := e.api.do(t, rt.Method, rt.fill(map[string]string{param: id}), bob, body)
				if msg := checkErrorBody(got, wantStatus, wantCode); msg != "" {
					t.Errorf("bob %s on alice's %s: %s", rt, param, msg)
				}
				if !rt.Owner {
					return
				}
				// A foreign object answers exactly like a missing one.
				ghost := ghostID()
				miss := e.api.do(t, rt.Method, rt.fill(map[string]string{param: ghost}), bob, body)
				var a, b secErrorBody
				_ = json.Unmarshal(got.Body, &a)
				_ = json.Unmarshal(miss.Body, &b)
				am := strings.ReplaceAll(a.Error.Message, id, "<id>")
				bm := strings.ReplaceAll(b.Error.Message, ghost, "<id>")
				if got.Status != miss.Status || a.Error.Code != b.Error.Code || am != bm {
					t.Errorf("alice's object is distinguishable from a missing one:\n foreign: %d %s\n missing: %d %s",
						got.Status, got.Body, miss.Status, miss.Body)
				}
			})
		}
	}
	if cases < 10 {
		t.Fatalf("the route table produced only %d id cases", cases)
	}

	noneOfAlices := func(t *testing.T, what string, r response, listKey string, ids []string) {
		t.Helper()
		if r.Status >= 500 {
			t.Fatalf("%s: %d %s", what, r.Status, r.Body)
		}
		if r.Status != http.StatusOK {
			if msg := checkErrorBody(r, r.Status, ""); msg != "" {
				t.Errorf("%s: %s", what, msg)
			}
			return
		}
		list, _ := dig(r.JSON(t), listKey).([]any)
		for _, it := range list {
			if slices.Contains(ids, str(it, "id")) || str(it, "user_id") == aliceSub || str(it, "owner_id") == aliceSub {
				t.Errorf("%s shows alice's %s: %s", what, listKey, secClip(r.Body, 800))
			}
		}
	}
	t.Run("GET /v1/orders as bob", func(t *testing.T) {
		noneOfAlices(t, "bob's order list", e.api.do(t, "GET", "/v1/orders?page_size=100", bob, nil), "orders", aliceOrders)
	})
	t.Run("GET /v1/orders?user_id=alice as bob", func(t *testing.T) {
		r := e.api.do(t, "GET", "/v1/orders?user_id="+url.QueryEscape(aliceSub), bob, nil)
		if r.Status == http.StatusOK {
			noneOfAlices(t, "user_id=alice as bob", r, "orders", aliceOrders)
		} else if msg := checkErrorBody(r, http.StatusNotFound, "NOT_FOUND"); msg != "" {
			t.Errorf("user_id=alice as bob: %s", msg)
		}
	})
	t.Run("GET /v1/orders with alice's page token", func(t *testing.T) {
		page := e.api.must(t, http.StatusOK, "GET", "/v1/orders?page_size=1", alice, nil)
		tok := str(page, "next_page_token")
		if tok == "" {
			t.Fatalf("alice has two orders but no next page: %v", page)
		}
		noneOfAlices(t, "bob replaying alice's page token", e.api.do(t, "GET", "/v1/orders?page_size=1&page_token="+url.QueryEscape(tok), bob, nil), "orders", aliceOrders)
	})
	t.Run("GET /v1/stores as bob", func(t *testing.T) {
		noneOfAlices(t, "bob's store list", e.api.do(t, "GET", "/v1/stores?page_size=100", bob, nil), "stores", stores)
	})
	t.Run("GET /v1/stores with alice's page token", func(t *testing.T) {
		page := e.api.must(t, http.StatusOK, "GET", "/v1/stores?page_size=1", alice, nil)
		tok := str(page, "next_page_token")
		if tok == "" {
			t.Fatalf("alice has two stores but no next page: %v", page)
		}
		noneOfAlices(t, "bob replaying alice's store page token", e.api.do(t, "GET", "/v1/stores?page_size=1&page_token="+url.QueryEscape(tok), bob, nil), "stores", stores)
	})

	// References to alice's objects inside bob's own requests.
	t.Run("bob orders with alice's design", func(t *testing.T) {
		body := map[string]any{
			"items":            []any{map[string]any{"variant_id": variant, "quantity": 1, "design_id": design, "placement_id": front}},
			"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
		}
		got := secCreateOrder(t, e, bob, body)
		if msg := checkErrorBody(got, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
			t.Errorf("bob's order printing alice's design: %s", msg)
		}
		body["items"] = []any{map[string]any{"variant_id": variant, "quantity": 1, "design_id": ghostID(), "placement_id": front}}
		miss := secCreateOrder(t, e, bob, body)
		if got.Status != miss.Status || !sameErrorMessage(got, miss) {
			t.Errorf("alice's design is distinguishable from a missing one:\n foreign: %d %s\n missing: %d %s", got.Status, got.Body, miss.Status, miss.Body)
		}
	})
	t.Run("bob orders into alice's store", func(t *testing.T) {
		body := secBlankOrder(variant, 1)
		body["store_id"] = stores[0]
		body["external_order_id"] = "bola-" + uuid.NewString()[:8]
		got := secCreateOrder(t, e, bob, body)
		if got.Status == http.StatusCreated {
			id := str(got.JSON(t), "id")
			// Keep the order from reaching production and alice's marketplace.
			e.api.do(t, "POST", "/v1/orders/"+id+":cancel", bob, map[string]any{"reason": "bola cleanup"})
			t.Errorf("orders accepted bob's order %s attached to alice's store %s (the marketplace worker would push bob's "+
				"shipment to alice's shop with alice's credentials); want 400/404 like an unknown store: %s", id, stores[0], secClip(got.Body, 600))
			return
		}
		if got.Status >= 500 || got.Status < 400 {
			t.Errorf("bob's order into alice's store: %d %s", got.Status, got.Body)
		}
	})

	// Alice's Idempotency-Key in bob's hands replays nothing of hers.
	t.Run("bob reuses alice's idempotency key", func(t *testing.T) {
		key := "bola-key-" + uuid.NewString()
		body := secBlankOrder(variant, 1)
		first := e.api.do(t, "POST", "/v1/orders", alice, body, "Idempotency-Key", key)
		if first.Status != http.StatusCreated {
			t.Fatalf("alice's keyed order: %d %s", first.Status, first.Body)
		}
		aliceKeyed := str(first.JSON(t), "id")
		aliceOrders = append(aliceOrders, aliceKeyed)
		for _, b := range []any{body, secBlankOrder(variant, 2)} {
			got := e.api.do(t, "POST", "/v1/orders", bob, b, "Idempotency-Key", key)
			if got.Status >= 500 || bytes.Contains(got.Body, []byte(aliceKeyed)) || bytes.Contains(got.Body, []byte(aliceSub)) {
				t.Errorf("bob replaying alice's Idempotency-Key got %d %s", got.Status, secClip(got.Body, 600))
			}
			if got.Status == http.StatusCreated {
				if u := str(got.JSON(t), "user_id"); u != bobSub {
					t.Errorf("bob's keyed order belongs to %q", u)
				}
			}
		}
	})
	// Principal headers from the client are dropped: bob cannot claim to be
	// alice, with or without his own token.
	t.Run("principal header injection", func(t *testing.T) {
		forged := []string{"X-Printfleet-Sub", aliceSub, "X-Printfleet-Roles", "user,admin", "Grpc-Metadata-X-Printfleet-Sub", aliceSub,
			"Grpc-Metadata-X-Printfleet-Roles", "admin", "X-Forwarded-User", aliceSub, "X-User-Id", aliceSub}
		got := e.api.do(t, "GET", "/v1/orders/"+order, bob, nil, forged...)
		if msg := checkErrorBody(got, http.StatusNotFound, "NOT_FOUND"); msg != "" {
			t.Errorf("bob with forged principal headers: %s", msg)
		}
		got = e.api.do(t, "GET", "/v1/orders/"+order, "", nil, forged...)
		if msg := checkErrorBody(got, http.StatusUnauthorized, "UNAUTHENTICATED"); msg != "" {
			t.Errorf("forged principal headers without a token: %s", msg)
		}
		got = e.api.do(t, "GET", "/v1/orders?page_size=100", bob, nil, forged...)
		noneOfAlices(t, "bob's list with forged principal headers", got, "orders", aliceOrders)
	})

	// Parameter smuggling: the path names bob's object, the body or query
	// names alice's.
	bobOrderResp := secCreateOrder(t, e, bob, secBlankOrder(variant, 1))
	if bobOrderResp.Status != http.StatusCreated {
		t.Fatalf("bob's order: %d %s", bobOrderResp.Status, bobOrderResp.Body)
	}
	bobOrder := str(bobOrderResp.JSON(t), "id")
	bobDesign := uploadedDesign(t, e, bob, "bob.png", "image/png", designPNG(t, 300, 300))
	smuggle := []struct {
		name, method, path string
		body               any
		own                string
	}{
		{"cancel body order_id", "POST", "/v1/orders/" + bobOrder + ":cancel", map[string]any{"order_id": order2, "reason": "smuggled"}, bobOrder},
		{"process body design_id", "POST", "/v1/designs/" + bobDesign + ":process", map[string]any{"design_id": uploaded}, bobDesign},
		{"get order query order_id", "GET", "/v1/orders/" + bobOrder + "?order_id=" + order, nil, bobOrder},
		{"get design query design_id", "GET", "/v1/designs/" + bobDesign + "?design_id=" + design, nil, bobDesign},
		{"events query order_id", "GET", "/v1/orders/" + bobOrder + "/events?order_id=" + order, nil, ""},
	}
	for _, s := range smuggle {
		t.Run("smuggle "+s.name, func(t *testing.T) {
			got := e.api.do(t, s.method, s.path, bob, s.body)
			if got.Status >= 500 {
				t.Fatalf("%s %s: %d %s", s.method, s.path, got.Status, got.Body)
			}
			if bytes.Contains(got.Body, []byte(order)) || bytes.Contains(got.Body, []byte(order2)) ||
				bytes.Contains(got.Body, []byte(design)) || bytes.Contains(got.Body, []byte(uploaded)) {
				t.Errorf("%s %s answered with alice's object: %d %s", s.method, s.path, got.Status, secClip(got.Body, 800))
			}
			if got.Status == http.StatusOK && s.own != "" {
				if id := str(got.JSON(t), "id"); id != s.own {
					t.Errorf("%s %s acted on %s, not on bob's %s", s.method, s.path, id, s.own)
				}
			}
		})
	}

	// Nothing of alice's changed.
	t.Run("alice's objects unchanged", func(t *testing.T) {
		for _, id := range aliceOrders {
			o := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id, alice, nil)
			if s := str(o, "status"); progress[s] < 0 {
				t.Errorf("alice's order %s is %s (%s) after bob's attempts", id, s, str(o, "failure_reason"))
			}
			if sh, _ := dig(o, "shipments").([]any); len(sh) != 0 {
				t.Errorf("alice's order %s has shipments after bob's attempts: %v", id, sh)
			}
			ev := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id+"/events", alice, nil)
			for _, x := range dig(ev, "events").([]any) {
				ty := strings.ToLower(str(x, "type"))
				if strings.Contains(ty, "cancel") || strings.Contains(ty, "ship") || strings.Contains(str(x, "message"), "bola") ||
					strings.Contains(str(x, "message"), "smuggled") {
					t.Errorf("alice's order %s timeline has %s %q after bob's attempts", id, str(x, "type"), str(x, "message"))
				}
			}
		}
		if s := str(e.api.must(t, http.StatusOK, "GET", "/v1/designs/"+design, alice, nil), "status"); s != "DESIGN_STATUS_READY" {
			t.Errorf("alice's ready design is %s after bob's attempts", s)
		}
		if s := str(e.api.must(t, http.StatusOK, "GET", "/v1/designs/"+uploaded, alice, nil), "status"); s != "DESIGN_STATUS_PENDING_UPLOAD" {
			t.Errorf("alice's unprocessed design is %s after bob's :process attempts, want DESIGN_STATUS_PENDING_UPLOAD", s)
		}
		if tt := str(e.api.must(t, http.StatusOK, "GET", "/v1/products/"+product, "", nil), "title"); tt != titleBefore {
			t.Errorf("product title %q changed to %q by bob's PATCH", titleBefore, tt)
		}
		list := e.api.must(t, http.StatusOK, "GET", "/v1/stores?page_size=100", alice, nil)
		var have []string
		for _, s := range dig(list, "stores").([]any) {
			have = append(have, str(s, "id"))
		}
		for _, id := range stores {
			if !slices.Contains(have, id) {
				t.Errorf("alice's store %s vanished from her list: %v", id, have)
			}
		}
		// The printed order carries on to production as if nothing happened.
		waitStatus(t, e, alice, order, "ORDER_STATUS_IN_PRODUCTION", 120*time.Second)
	})
}

// sameErrorMessage compares two error answers' code and message.
func sameErrorMessage(a, b response) bool {
	var x, y secErrorBody
	_ = json.Unmarshal(a.Body, &x)
	_ = json.Unmarshal(b.Body, &y)
	return x.Error.Code == y.Error.Code && x.Error.Message == y.Error.Message
}
