package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// ghostID is a well-formed id that names nothing.
func ghostID() string { return uuid.Must(uuid.NewV7()).String() }

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

// uploadedDesign creates a design and uploads its bytes without asking for
// processing.
func uploadedDesign(t *testing.T, e *environment, tok, filename, contentType string, data []byte) string {
	t.Helper()
	created := e.api.must(t, http.StatusCreated, http.MethodPost, "/v1/designs", tok, map[string]any{
		"filename": filename, "content_type": contentType, "size_bytes": len(data),
	})
	id := str(created, "design", "id")
	fields, _ := dig(created, "upload_headers").(map[string]any)
	if code := upload(t, str(created, "upload_method"), str(created, "upload_url"), fields, contentType, data); code >= 300 {
		t.Fatalf("upload through the presigned URL answered %d", code)
	}
	return id
}

// newStore connects a store with fresh, remembered credentials.
func newStore(t *testing.T, e *environment, tok, marketplace, shop, name string) (map[string]any, map[string]any) {
	t.Helper()
	creds := map[string]any{
		"api_key":       "sec-apikey-" + uuid.NewString(),
		"access_token":  "10001.sec-access-" + uuid.NewString(),
		"refresh_token": "sec-refresh-" + uuid.NewString(),
		"client_id":     "sec-client-" + uuid.NewString()[:8],
		"client_secret": "sec-clientsecret-" + uuid.NewString(),
	}
	for k, v := range creds {
		rememberSecretAs("store credential "+k, v.(string))
	}
	r := e.api.do(t, http.MethodPost, "/v1/stores", tok, map[string]any{
		"marketplace": marketplace, "shop_id": shop, "name": name, "credentials": creds,
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create store %s/%s: %d %s", marketplace, shop, r.Status, secClip(r.Body, 500))
	}
	assertNoSecretIn(t, "POST /v1/stores response", r.Body)
	return r.JSON(t), creds
}

// assertNoSecretIn fails when body holds any remembered secret.
func assertNoSecretIn(t *testing.T, where string, body []byte) {
	t.Helper()
	for _, s := range rememberedSecrets() {
		if bytes.Contains(body, []byte(s.Value)) {
			t.Errorf("%s carries a %s (%s): %s", where, s.Label, redact(s.Value),
				strings.ReplaceAll(secClip(body, 600), s.Value, "«"+s.Label+"»"))
		}
	}
}

// ---------------------------------------------------------------------------
// Broken object level authorization

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
		"POST /v1/orders/{order_id}:cancel":    map[string]any{"reason": "bola"},
		"POST /v1/orders/{order_id}/shipments": map[string]any{"carrier": "UPS", "tracking_number": "1ZBOLA" + strings.ToUpper(uuid.NewString()[:8])},
		"POST /v1/designs/{design_id}:process": map[string]any{},
		"PATCH /v1/products/{product_id}":      map[string]any{"title": "bola-pwned"},
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

// ---------------------------------------------------------------------------
// JWT negatives

// rawDo sends a request with full control over headers and body framing.
func secRawDo(t testing.TB, method, target string, header http.Header, body io.Reader) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// TestJWTNegatives sends every kind of bad credential to every route of the
// REST table: each is 401 with the JSON error body, a request id and a
// Bearer challenge; tokens whose only roles are unknown (including the
// internal "service" role) are 403 and grant nothing.
func TestJWTNegatives(t *testing.T) {
	e := need(t)
	secret := []byte(e.layout.JWTSecret)
	sub := newSubject("jwt")
	all := []string{"user", "admin", "fulfillment"}
	claims := func(mut func(c jwt.MapClaims)) jwt.MapClaims {
		c := devClaims(sub, all...)
		mut(c)
		return c
	}
	hs := func(c jwt.MapClaims) string { return mintJWT(t, jwt.SigningMethodHS256, secret, c) }
	valid := hs(claims(func(jwt.MapClaims) {}))
	now := time.Now()
	b64 := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(valid, ".")

	// A flipped signature byte (not the last character, whose low bits are
	// padding).
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[5] ^= 0x40
	badSig := parts[0] + "." + parts[1] + "." + b64(sig)
	// Payload swapped for another subject, original signature kept.
	tampered := parts[0] + "." + b64([]byte(fmt.Sprintf(`{"iss":"printfleet-dev","aud":"printfleet","sub":"victim","roles":["admin"],"iat":%d,"exp":%d}`,
		now.Unix(), now.Add(time.Hour).Unix()))) + "." + parts[2]
	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(func(jwt.MapClaims) {})).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	rememberSecretAs("bearer token", noneTok)
	noneCaps := b64([]byte(`{"alg":"NONE","typ":"JWT"}`)) + "." + parts[1] + "."
	noneWithSig := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]

	bad := []struct {
		name   string
		header []string // Authorization values; nil = none
		query  string
	}{
		{"no token", nil, ""},
		{"empty bearer", []string{"Bearer "}, ""},
		{"basic auth", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(sub+":password"))}, ""},
		{"not a jwt", []string{"Bearer not-a-jwt"}, ""},
		{"token without scheme", []string{valid}, ""},
		{"two Authorization headers", []string{"Bearer " + valid, "Bearer " + valid}, ""},
		{"token in the query string", nil, "access_token=" + valid},
		{"expired", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-10*time.Minute).Unix()
		}))}, ""},
		{"expired beyond the leeway", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-2*time.Minute).Unix()
		}))}, ""},
		{"not yet valid", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))}, ""},
		{"issued in the future", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() }))}, ""},
		{"no exp", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { delete(c, "exp") }))}, ""},
		{"wrong aud", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" }))}, ""},
		{"no aud", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { delete(c, "aud") }))}, ""},
		{"wrong iss", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))}, ""},
		{"no iss", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { delete(c, "iss") }))}, ""},
		{"alg none", []string{"Bearer " + noneTok}, ""},
		{"alg NONE", []string{"Bearer " + noneCaps}, ""},
		{"alg none with the original signature", []string{"Bearer " + noneWithSig}, ""},
		{"bad signature", []string{"Bearer " + badSig}, ""},
		{"tampered payload", []string{"Bearer " + tampered}, ""},
		{"signed with another secret", []string{"Bearer " + mintJWT(t, jwt.SigningMethodHS256,
			[]byte("another-secret-0123456789abcdef-0123456789"), claims(func(jwt.MapClaims) {}))}, ""},
		{"HS512 with the right secret", []string{"Bearer " + mintJWT(t, jwt.SigningMethodHS512, secret, claims(func(jwt.MapClaims) {}))}, ""},
		{"HS384 with the right secret", []string{"Bearer " + mintJWT(t, jwt.SigningMethodHS384, secret, claims(func(jwt.MapClaims) {}))}, ""},
		{"empty subject", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["sub"] = "" }))}, ""},
		{"subject with a space", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["sub"] = "alice bob" }))}, ""},
		{"roles not a list", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["roles"] = "admin" }))}, ""},
	}
	for _, rt := range restTable {
		if rt.Edge {
			continue
		}
		path := rt.fill(map[string]string{"order_id": ghostID(), "design_id": ghostID(), "product_id": ghostID()})
		for _, c := range bad {
			if rt.Public && (c.header == nil) {
				continue // no token at all is fine on a public route
			}
			t.Run(rt.String()+"/"+c.name, func(t *testing.T) {
				h := http.Header{}
				for _, v := range c.header {
					h.Add("Authorization", v)
				}
				var body io.Reader
				if rt.hasBody() {
					h.Set("Content-Type", "application/json")
					h.Set("Idempotency-Key", uuid.NewString())
					body = strings.NewReader("{}")
				}
				target := e.api.base + path
				if c.query != "" {
					target += "?" + c.query
				}
				got := secRawDo(t, rt.Method, target, h, body)
				if msg := checkErrorBody(got, http.StatusUnauthorized, "UNAUTHENTICATED"); msg != "" {
					t.Errorf("%s: %s", c.name, msg)
				}
				if ch := got.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", c.name, ch)
				}
			})
		}
	}

	// Roles a token cannot grant.
	victim := secToken(t, newSubject("jwt-victim"), "user", time.Hour)
	r := secCreateOrder(t, e, victim, secBlankOrder(mustSticker(t, e), 1))
	if r.Status != http.StatusCreated {
		t.Fatalf("victim's order: %d %s", r.Status, r.Body)
	}
	victimOrder := str(r.JSON(t), "id")
	roleCases := []struct {
		name  string
		roles []string
	}{
		{"service", []string{"service"}},
		{"Admin", []string{"Admin"}},
		{"ADMIN", []string{"ADMIN"}},
		{"admin with a space", []string{"admin "}},
		{"no roles", []string{}},
	}
	for _, rt := range restTable {
		if rt.Public {
			continue
		}
		path := rt.fill(map[string]string{"order_id": victimOrder, "design_id": ghostID(), "product_id": ghostID()})
		for _, c := range roleCases {
			t.Run(rt.String()+"/roles "+c.name, func(t *testing.T) {
				tok := hs(devClaims(newSubject("jwt-role"), c.roles...))
				var body any
				if rt.hasBody() {
					body = "{}"
				}
				got := e.api.do(t, rt.Method, path, tok, body, "Idempotency-Key", uuid.NewString())
				if msg := checkErrorBody(got, http.StatusForbidden, "PERMISSION_DENIED"); msg != "" {
					t.Errorf("roles %q: %s", c.roles, msg)
				}
			})
		}
	}
	// "service" next to a real role adds nothing: no foreign orders, no
	// user_id listing, no shipments.
	svcUser := hs(devClaims(newSubject("jwt-svc"), "user", "service"))
	if msg := checkErrorBody(e.api.do(t, "GET", "/v1/orders/"+victimOrder, svcUser, nil), http.StatusNotFound, "NOT_FOUND"); msg != "" {
		t.Errorf("user+service reading another user's order: %s", msg)
	}
	if msg := checkErrorBody(e.api.do(t, "GET", "/v1/orders?user_id="+url.QueryEscape(str(r.JSON(t), "user_id")), svcUser, nil), http.StatusNotFound, "NOT_FOUND"); msg != "" {
		t.Errorf("user+service listing another user's orders: %s", msg)
	}
	if msg := checkErrorBody(e.api.do(t, "POST", "/v1/orders/"+victimOrder+":cancel", svcUser, map[string]any{}), http.StatusNotFound, "NOT_FOUND"); msg != "" {
		t.Errorf("user+service cancelling another user's order: %s", msg)
	}
	if msg := checkErrorBody(e.api.do(t, "POST", "/v1/orders/"+victimOrder+"/shipments", svcUser,
		map[string]any{"carrier": "UPS", "tracking_number": "1ZSVC0001"}), http.StatusForbidden, "PERMISSION_DENIED"); msg != "" {
		t.Errorf("user+service shipping: %s", msg)
	}
	if s := orderStatus(t, e, victim, victimOrder); s == "ORDER_STATUS_CANCELLED" || s == "ORDER_STATUS_SHIPPED" {
		t.Errorf("victim's order is %s after the role attempts", s)
	}
	// The valid token itself works (the cases above fail for their one defect).
	e.api.must(t, http.StatusOK, "GET", "/v1/orders", valid, nil)
}

func mustSticker(t *testing.T, e *environment) string {
	v, _ := sticker(t, e)
	return v
}

// ---------------------------------------------------------------------------
// Mass assignment

// TestMassAssignment posts server-owned fields with creates: each is refused
// as an unknown field (400) or ignored; no stored object ever carries the
// client's value, and an order's totals are the quote's.
func TestMassAssignment(t *testing.T) {
	e := need(t)
	sub := newSubject("mass")
	tok := secToken(t, sub, "user", time.Hour)
	variant, _ := sticker(t, e)
	fakeID := ghostID()
	money := func(n int) map[string]any { return map[string]any{"currency": "USD", "amount_minor": n} }

	quote := e.api.must(t, http.StatusOK, "POST", "/v1/quotes", "", map[string]any{
		"items": []any{map[string]any{"variant_id": variant, "quantity": 3}}, "country_code": "GB", "currency": "USD",
	})

	// Top-level and item-level server fields, one at a time and all at once.
	extras := []struct {
		name string
		set  func(b map[string]any)
	}{
		{"total", func(b map[string]any) { b["total"] = money(1) }},
		{"subtotal", func(b map[string]any) { b["subtotal"] = money(1) }},
		{"shipping", func(b map[string]any) { b["shipping"] = money(0) }},
		{"discount", func(b map[string]any) { b["discount"] = money(999999) }},
		{"status", func(b map[string]any) { b["status"] = "ORDER_STATUS_SHIPPED" }},
		{"user_id", func(b map[string]any) { b["user_id"] = "mass-victim" }},
		{"id", func(b map[string]any) { b["id"] = fakeID }},
		{"quote_id", func(b map[string]any) { b["quote_id"] = "quote-from-client" }},
		{"payment_id", func(b map[string]any) { b["payment_id"] = "pi_client" }},
		{"version", func(b map[string]any) { b["version"] = 42 }},
		{"failure_reason", func(b map[string]any) { b["failure_reason"] = "client" }},
		{"shipments", func(b map[string]any) {
			b["shipments"] = []any{map[string]any{"carrier": "UPS", "tracking_number": "1ZMASS"}}
		}},
		{"created_at", func(b map[string]any) { b["created_at"] = "2001-01-01T00:00:00Z" }},
		{"items[0].unit_price", func(b map[string]any) { firstItem(b)["unit_price"] = money(1) }},
		{"items[0].line_total", func(b map[string]any) { firstItem(b)["line_total"] = money(1) }},
		{"items[0].sku", func(b map[string]any) { firstItem(b)["sku"] = "CLIENT-SKU" }},
		{"items[0].print_file_key", func(b map[string]any) { firstItem(b)["print_file_key"] = "../../other/print.png" }},
		{"totalCamelCase", func(b map[string]any) { b["Total"] = money(1) }},
		{"all at once", func(b map[string]any) {
			b["total"], b["subtotal"], b["status"], b["user_id"], b["id"] = money(1), money(1), "ORDER_STATUS_SHIPPED", "mass-victim", fakeID
		}},
	}
	for _, x := range extras {
		t.Run("order/"+x.name, func(t *testing.T) {
			body := secBlankOrder(variant, 3)
			x.set(body)
			got := secCreateOrder(t, e, tok, body)
			switch {
			case got.Status == http.StatusBadRequest:
				if msg := checkErrorBody(got, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
					t.Error(msg)
				}
				t.Logf("refused: %s", secClip(got.Body, 200))
			case got.Status == http.StatusCreated:
				t.Logf("accepted and ignored")
				o := got.JSON(t)
				stored := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+str(o, "id"), tok, nil)
				assertServerOwned(t, stored, sub, fakeID, quote)
			default:
				t.Errorf("%s: %d %s, want 400 (unknown field) or 201 (ignored)", x.name, got.Status, got.Body)
			}
		})
	}
	// Query parameters cannot set them either.
	t.Run("order/query parameters", func(t *testing.T) {
		got := e.api.do(t, "POST", "/v1/orders?user_id=mass-victim&total.amount_minor=1&status=ORDER_STATUS_SHIPPED&id="+fakeID,
			tok, secBlankOrder(variant, 3), "Idempotency-Key", uuid.NewString())
		switch got.Status {
		case http.StatusCreated:
			stored := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+str(got.JSON(t), "id"), tok, nil)
			assertServerOwned(t, stored, sub, fakeID, quote)
		case http.StatusBadRequest:
		default:
			t.Errorf("%d %s", got.Status, got.Body)
		}
	})
	// Whatever happened above, every order the user holds is server-made,
	// and a clean create totals exactly the quote.
	clean := secCreateOrder(t, e, tok, secBlankOrder(variant, 3))
	if clean.Status != http.StatusCreated {
		t.Fatalf("clean create: %d %s", clean.Status, clean.Body)
	}
	assertServerOwned(t, clean.JSON(t), sub, fakeID, quote)
	list := e.api.must(t, http.StatusOK, "GET", "/v1/orders?page_size=100", tok, nil)
	for _, o := range dig(list, "orders").([]any) {
		assertServerOwned(t, o.(map[string]any), sub, fakeID, quote)
	}
	if victim := e.api.must(t, http.StatusOK, "GET", "/v1/orders?user_id=mass-victim", secToken(t, "mass-admin", "admin", time.Hour), nil); len(dig(victim, "orders").([]any)) != 0 {
		t.Errorf("orders were stored for the client-named user mass-victim: %s", secClip([]byte(secJSON(victim)), 800))
	}

	// Stores and designs.
	t.Run("store", func(t *testing.T) {
		got := e.api.do(t, "POST", "/v1/stores", tok, map[string]any{
			"marketplace": "MARKETPLACE_SHOPIFY", "shop_id": "mass-" + uuid.NewString()[:8], "name": "Mass",
			"credentials": map[string]any{"api_key": "sec-mass-" + uuid.NewString()},
			"id":          fakeID, "owner_id": "mass-victim", "created_at": "2001-01-01T00:00:00Z",
		})
		switch got.Status {
		case http.StatusBadRequest:
			if msg := checkErrorBody(got, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
				t.Error(msg)
			}
		case http.StatusCreated:
			s := got.JSON(t)
			if str(s, "id") == fakeID || str(s, "owner_id") != sub || strings.HasPrefix(str(s, "created_at"), "2001") {
				t.Errorf("the store carries client values: %s", got.Body)
			}
		default:
			t.Errorf("%d %s", got.Status, got.Body)
		}
	})
	t.Run("design", func(t *testing.T) {
		got := e.api.do(t, "POST", "/v1/designs", tok, map[string]any{
			"filename": "mass.png", "content_type": "image/png", "size_bytes": 1000,
			"id": fakeID, "owner_id": "mass-victim", "status": "DESIGN_STATUS_READY",
			"object_key": "designs/mass-victim/x.png", "master_key": "x", "report": map[string]any{"format": "png"},
		})
		switch got.Status {
		case http.StatusBadRequest:
			if msg := checkErrorBody(got, http.StatusBadRequest, "INVALID_ARGUMENT"); msg != "" {
				t.Error(msg)
			}
		case http.StatusCreated:
			d := dig(got.JSON(t), "design")
			if str(d, "id") == fakeID || str(d, "owner_id") != sub || str(d, "status") == "DESIGN_STATUS_READY" ||
				strings.Contains(str(d, "object_key"), "mass-victim") {
				t.Errorf("the design carries client values: %s", got.Body)
			}
		default:
			t.Errorf("%d %s", got.Status, got.Body)
		}
	})
}

func firstItem(b map[string]any) map[string]any { return b["items"].([]any)[0].(map[string]any) }

func secJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// assertServerOwned checks an order against the quote and the caller.
func assertServerOwned(t *testing.T, o map[string]any, sub, fakeID string, quote map[string]any) {
	t.Helper()
	var bad []string
	if str(o, "user_id") != sub {
		bad = append(bad, fmt.Sprintf("user_id %q, want %q", str(o, "user_id"), sub))
	}
	if str(o, "id") == fakeID {
		bad = append(bad, "id is the client's")
	}
	for _, k := range []string{"total", "subtotal", "shipping", "discount"} {
		if fmt.Sprint(dig(o, k, "amount_minor")) != fmt.Sprint(dig(quote, k, "amount_minor")) ||
			str(o, k, "currency") != str(quote, k, "currency") {
			bad = append(bad, fmt.Sprintf("%s %v, quote says %v", k, dig(o, k), dig(quote, k)))
		}
	}
	if s := str(o, "status"); s == "ORDER_STATUS_SHIPPED" || progress[s] < 0 {
		bad = append(bad, "status "+s)
	}
	for _, k := range []string{"quote_id", "payment_id", "failure_reason"} {
		if v := str(o, k); strings.Contains(v, "client") {
			bad = append(bad, k+" "+v)
		}
	}
	if strings.HasPrefix(str(o, "created_at"), "2001") {
		bad = append(bad, "created_at "+str(o, "created_at"))
	}
	for _, it := range dig(o, "items").([]any) {
		if str(it, "sku") == "CLIENT-SKU" || strings.Contains(str(it, "print_file_key"), "other") ||
			fmt.Sprint(dig(it, "unit_price", "amount_minor")) == "1" {
			bad = append(bad, "item carries client values: "+secJSON(it))
		}
	}
	if len(bad) > 0 {
		t.Errorf("order %s carries client values: %s\n order: %s", str(o, "id"), strings.Join(bad, "; "), secClip([]byte(secJSON(o)), 1200))
	}
}

// ---------------------------------------------------------------------------
// Body fuzz corpus

// fuzzCase is a body and the status it must get (0: anything below 500).
type fuzzCase struct {
	name        string
	body        []byte
	contentType string
	want        int
	chunked     bool
}

// genericCorpus is the route-independent part, in the spirit of the
// gateway's FuzzRequestBody seeds.
func genericCorpus() []fuzzCase {
	deep := func(open, close string, n int, inner string) []byte {
		return []byte(strings.Repeat(open, n) + inner + strings.Repeat(close, n))
	}
	big := []byte(`{"name":"` + strings.Repeat("A", 2<<20) + `"}`)
	cs := []fuzzCase{
		{name: "empty", body: []byte("")},
		{name: "whitespace", body: []byte(" \n\t ")},
		{name: "open brace", body: []byte("{")},
		{name: "truncated", body: []byte(`{"items":[{"variant_id":"`)},
		{name: "two objects", body: []byte(`{}{}`)},
		{name: "missing colon", body: []byte(`{"a" 1}`)},
		{name: "single quotes", body: []byte(`{'items':[]}`)},
		{name: "trailing comma", body: []byte(`{"items":[],}`)},
		{name: "comment", body: []byte(`{/* x */}`)},
		{name: "bare word", body: []byte(`nul`)},
		{name: "null", body: []byte(`null`)},
		{name: "array", body: []byte(`[]`)},
		{name: "string", body: []byte(`"just a string"`)},
		{name: "number", body: []byte(`123`)},
		{name: "true", body: []byte(`true`)},
		{name: "bom", body: []byte("\xef\xbb\xbf{}")},
		{name: "utf16", body: []byte("\xff\xfe{\x00}\x00")},
		{name: "invalid utf8 key", body: []byte("{\"\xff\xfe\":1}")},
		{name: "invalid utf8 value", body: []byte("{\"name\":\"\xc3\x28\",\"filename\":\"\xed\xa0\x80\",\"title\":\"\xc0\xaf\"}")},
		{name: "lone surrogate", body: []byte(`{"name":"\ud800","title":"\udfff","filename":"\ud800.png"}`)},
		{name: "nul escapes", body: []byte(`{"name":"a\u0000b","title":"\u0000","reason":"\u0000","carrier":"\u0000","filename":"a\u0000.png"}`)},
		{name: "huge exponent", body: []byte(`{"quantity":1e400,"size_bytes":1e400,"page_size":1e400}`)},
		{name: "huge integer", body: []byte(`{"quantity":99999999999999999999999999,"size_bytes":99999999999999999999999999}`)},
		{name: "negative huge", body: []byte(`{"quantity":-1e308,"size_bytes":-9223372036854775809}`)},
		{name: "NaN token", body: []byte(`{"width_in":NaN,"rate_limit_per_second":NaN}`)},
		{name: "Infinity strings", body: []byte(`{"rate_limit_per_second":"Infinity","width_in":"-Infinity"}`)},
		{name: "int64 overflow string", body: []byte(`{"size_bytes":"9223372036854775808"}`)},
		{name: "deep arrays 10k", body: deep("[", "]", 10000, "")},
		{name: "deep objects 10k", body: deep(`{"a":`, "}", 10000, "1")},
		{name: "deep in items 10k", body: append(append([]byte(`{"items":`), deep("[", "]", 10000, "")...), '}')},
		{name: "deep in known object 10k", body: append(append([]byte(`{"shipping_address":`), deep(`{"name":`, "}", 10000, `"x"`)...), '}')},
		{name: "deep in credentials 10k", body: append(append([]byte(`{"credentials":`), deep(`{"api_key":`, "}", 10000, `"x"`)...), '}')},
		{name: "wrong types", body: []byte(`{"items":"x","shipping_address":[],"currency":1,"payment_method":{},"credentials":"x","filename":7,"size_bytes":"x","title":[],"variants":{},"reason":false,"carrier":[],"country_code":{}}`)},
		{name: "nulls", body: []byte(`{"items":null,"shipping_address":null,"currency":null,"credentials":null,"filename":null,"title":null,"variants":[null],"placements":null,"reason":null,"carrier":null,"country_code":null}`)},
		{name: "null items", body: []byte(`{"items":[null,null]}`)},
		{name: "duplicate keys", body: []byte(`{"items":[{"variant_id":"x"}],"items":[],"currency":"USD","currency":"EUR","title":"a","title":"b"}`)},
		{name: "unknown enum", body: []byte(`{"payment_method":"PAYMENT_METHOD_NOPE","marketplace":"MARKETPLACE_NOPE","status":"NOPE"}`)},
		{name: "enum numbers out of range", body: []byte(`{"payment_method":99,"marketplace":2147483647}`)},
		{name: "long string 900 KiB", body: []byte(`{"name":"` + strings.Repeat("x", 900<<10) + `","title":"` + strings.Repeat("y", 10) + `"}`)},
		{name: "many items", body: []byte(`{"items":[` + strings.TrimSuffix(strings.Repeat(`{"variant_id":"0190a000-0000-7000-8000-000000000004","quantity":1},`, 10000), ",") + `]}`)},
		{name: "form encoded", body: []byte("items=1&currency=USD"), contentType: "application/x-www-form-urlencoded"},
		{name: "text plain", body: []byte(`{}`), contentType: "text/plain"},
		{name: "2 MiB declared", body: big, want: http.StatusRequestEntityTooLarge},
		{name: "2 MiB chunked", body: big, want: http.StatusRequestEntityTooLarge, chunked: true},
	}
	return cs
}

// mutations derives malformed variants of a valid body: every field set to
// null, to the wrong type, to extreme numbers, to NUL, invalid UTF-8 and
// over-long strings.
func mutations(base map[string]any) []fuzzCase {
	const ph = "@@FUZZ-PLACEHOLDER@@"
	var out []fuzzCase
	var walk func(v any, path []any)
	var paths [][]any
	walk = func(v any, path []any) {
		paths = append(paths, slices.Clone(path))
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(c, append(path, k))
			}
		case []any:
			if len(x) > 0 {
				walk(x[0], append(path, 0))
			}
		}
	}
	walk(base, nil)
	for _, p := range paths {
		if len(p) == 0 {
			continue
		}
		orig := dig(base, p...)
		repl := []struct{ name, raw string }{
			{"null", "null"}, {"object", `{"x":1}`}, {"array", `[1,"a",null]`}, {"bool", "true"},
			{"huge exponent", "1e400"}, {"huge int", "123456789012345678901234567890"}, {"negative", "-1"},
			{"int32 overflow", "2147483648"}, {"int64 min", "-9223372036854775808"}, {"fraction", "1.5"},
			{"NaN", "NaN"}, {"Infinity string", `"Infinity"`},
			{"nul", `"a\u0000b"`}, {"invalid utf8", "\"\xff\xfe\xc3\x28\""}, {"lone surrogate", `"\ud800"`},
			{"long string", `"` + strings.Repeat("z", 100000) + `"`}, {"empty string", `""`},
			{"sql", `"'; DROP TABLE orders; --"`}, {"number as string", `"1"`},
		}
		if arr, ok := orig.([]any); ok && len(arr) > 0 {
			elem, _ := json.Marshal(arr[0])
			n := max(1, 800_000/(len(elem)+1))
			repl = append(repl, struct{ name, raw string }{"huge array", "[" + strings.TrimSuffix(strings.Repeat(string(elem)+",", n), ",") + "]"},
				struct{ name, raw string }{"empty array", "[]"})
		}
		for _, r := range repl {
			b := deepCopy(base)
			setAt(b, p, ph)
			raw, _ := json.Marshal(b)
			raw = bytes.Replace(raw, []byte(`"`+ph+`"`), []byte(r.raw), 1)
			out = append(out, fuzzCase{name: fmt.Sprintf("%v=%s", p, r.name), body: raw})
		}
	}
	return out
}

func deepCopy(v map[string]any) map[string]any {
	raw, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

func setAt(v any, path []any, val any) {
	for i, p := range path {
		last := i == len(path)-1
		switch k := p.(type) {
		case string:
			m := v.(map[string]any)
			if last {
				m[k] = val
				return
			}
			v = m[k]
		case int:
			a := v.([]any)
			if last {
				a[k] = val
				return
			}
			v = a[k]
		}
	}
}

// TestBodyFuzzCorpus sends the malformed-body corpus and the field mutations
// of a valid body to every POST and PATCH route of the REST table as a
// caller holding every role, so that nothing stops before decoding: no 5xx,
// every answer has a request id and every error the JSON error body; 2 MiB
// is 413 whether declared or chunked.
func TestBodyFuzzCorpus(t *testing.T) {
	e := need(t)
	sub := newSubject("fuzz")
	tok := secToken(t, sub, "user,admin,fulfillment", time.Hour)
	variant, front := sticker(t, e)
	r := secCreateOrder(t, e, tok, secBlankOrder(variant, 1))
	if r.Status != http.StatusCreated {
		t.Fatalf("fuzz order: %d %s", r.Status, r.Body)
	}
	order := str(r.JSON(t), "id")
	design := uploadedDesign(t, e, tok, "fuzz.png", "image/png", designPNG(t, 64, 64))
	productBody := map[string]any{
		"title": "fuzz-" + uuid.NewString()[:8], "description": "fuzzed product", "active": false, "image_key": "",
		"variants": []any{map[string]any{"sku": "FUZZ-" + strings.ToUpper(uuid.NewString()[:8]), "title": "One",
			"price": map[string]any{"currency": "USD", "amount_minor": 100}, "size": "OS", "color": "White", "weight_grams": 10,
			"active": true, "stock_tracked": true, "stock_available": 5}},
		"placements": []any{map[string]any{"name": "front", "width_in": 4, "height_in": 4, "min_dpi": 150, "recommended_dpi": 300, "technique": "dtg"}},
	}
	pr := e.api.do(t, "POST", "/v1/products", tok, productBody)
	if pr.Status != http.StatusCreated && pr.Status != http.StatusOK {
		t.Fatalf("fuzz product: %d %s", pr.Status, pr.Body)
	}
	product := str(pr.JSON(t), "id")

	bases := map[string]map[string]any{
		"POST /v1/orders": {
			"items": []any{map[string]any{"variant_id": variant, "quantity": 1, "design_id": design, "placement_id": front, "external_item_id": "42"}},
			"shipping_address": map[string]any{"name": "Fuzz", "line1": "1 Fuzz St", "line2": "Apt 2", "city": "Fuzzton",
				"region": "FZ", "postal_code": "12345", "country_code": "US"},
			"currency": "USD", "coupon_code": "NOPE", "payment_method": "PAYMENT_METHOD_CARD",
			"store_id": ghostID(), "external_order_id": "fuzz-1",
		},
		"POST /v1/orders/{order_id}:cancel":    {"reason": "fuzz"},
		"POST /v1/orders/{order_id}/shipments": {"carrier": "UPS", "tracking_number": "1ZFUZZ", "tracking_url": "https://example.com/t?n=1"},
		"POST /v1/products":                    productBody,
		"PATCH /v1/products/{product_id}":      {"title": "fuzz-upd", "description": "d", "active": false},
		"POST /v1/designs":                     {"filename": "a.png", "content_type": "image/png", "size_bytes": 1000},
		"POST /v1/designs/{design_id}:process": {"design_id": design},
		"POST /v1/quotes": {"items": []any{map[string]any{"variant_id": variant, "quantity": 1, "placement_ids": []any{front}}},
			"country_code": "US", "currency": "USD", "coupon_code": "NOPE", "shipping_method": "standard"},
		"POST /v1/stores": {"marketplace": "MARKETPLACE_SHOPIFY", "shop_id": "fuzz-shop", "name": "Fuzz",
			"credentials":           map[string]any{"api_key": "sec-fuzz-" + uuid.NewString(), "access_token": "sec-fuzz-" + uuid.NewString()},
			"rate_limit_per_second": 2, "rate_limit_burst": 4},
	}
	for _, b := range bases {
		if c, ok := b["credentials"].(map[string]any); ok {
			for _, v := range c {
				rememberSecretAs("store credential", v.(string))
			}
		}
	}
	ids := map[string]string{"order_id": order, "design_id": design, "product_id": product}
	generic := genericCorpus()
	var failures []string
	sent := 0
	start := time.Now()
	for _, rt := range restTable {
		if !rt.hasBody() || rt.Edge {
			continue
		}
		base, ok := bases[rt.String()]
		if !ok {
			t.Fatalf("no base body for %s", rt)
		}
		cases := append(slices.Clone(generic), mutations(base)...)
		for _, c := range cases {
			sent++
			h := http.Header{}
			h.Set("Authorization", "Bearer "+tok)
			h.Set("Idempotency-Key", uuid.NewString())
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			h.Set("Content-Type", ct)
			var body io.Reader = bytes.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(bytes.NewReader(c.body)) // unknown length: sent chunked
			}
			got := secRawDo(t, rt.Method, e.api.base+rt.fill(ids), h, body)
			var problem string
			switch {
			case got.Status >= 500:
				problem = fmt.Sprintf("status %d", got.Status)
			case c.want != 0 && got.Status != c.want:
				problem = fmt.Sprintf("status %d, want %d", got.Status, c.want)
			case got.Header.Get("X-Request-Id") == "":
				problem = "no X-Request-Id"
			case got.Status >= 400:
				problem = checkErrorBody(got, got.Status, "")
			}
			if problem != "" {
				failures = append(failures, redactSecrets(fmt.Sprintf("%s %s [%s] body %s: %s: %s", rt.Method, rt.Path, c.name, secClip(c.body, 160), problem, secClip(got.Body, 300))))
			}
		}
	}
	t.Logf("%d fuzz requests in %v", sent, time.Since(start).Round(time.Millisecond))
	if sent < 500 {
		t.Errorf("only %d fuzz requests generated", sent)
	}
	for i, f := range failures {
		if i == 60 {
			t.Errorf("… and %d more", len(failures)-60)
			break
		}
		t.Error(f)
	}
	// Every process is still up.
	for _, p := range []string{"gateway", "orders", "catalog", "pricing", "images", "orders-worker", "marketplace"} {
		if e.fleet.Pid(p) == 0 {
			t.Errorf("%s is not running after the fuzz corpus", p)
		}
	}
}

// ---------------------------------------------------------------------------
// SQL metacharacters

var sqlMeta = []string{
	`'; DROP TABLE orders; --`,
	`" OR 1=1 --`,
	`\x27 \' \\ \"`,
	`%_ %% _%`,
	`Zoë Ünïcødé — 東京都 🚀 עברית ‮olleh $1 ; /* */`,
}

// fit cuts s to n runes.
func fitRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

// TestSQLMetacharacters stores SQL metacharacters in every free-text field a
// client can set and reads them back verbatim, through orders, catalog and
// the marketplace push; ids and query parameters made of metacharacters are
// refused with 400/404, never 5xx.
func TestSQLMetacharacters(t *testing.T) {
	e := need(t)
	sub := newSubject("sqlmeta")
	tok := secToken(t, sub, "user", time.Hour)
	partner := secToken(t, newSubject("sqlmeta-partner"), "fulfillment", time.Hour)
	variant, front := sticker(t, e)
	for i, s := range sqlMeta {
		t.Run(fmt.Sprintf("value %d", i), func(t *testing.T) {
			t.Parallel()
			// Store name; shop ids only allow [A-Za-z0-9._-] (and Shopify
			// lower-case letters, digits and hyphens), so "--" is all they get.
			shop := "sql--meta-" + uuid.NewString()[:8]
			st, _ := newStore(t, e, tok, "MARKETPLACE_SHOPIFY", shop, fitRunes(s, 200))
			if str(st, "name") != fitRunes(s, 200) || str(st, "shop_id") != shop {
				t.Errorf("store answered name %q shop %q, sent %q %q", str(st, "name"), str(st, "shop_id"), s, shop)
			}
			list := e.api.must(t, http.StatusOK, "GET", "/v1/stores?page_size=100", tok, nil)
			found := false
			for _, x := range dig(list, "stores").([]any) {
				if str(x, "id") == str(st, "id") {
					found = true
					if str(x, "name") != fitRunes(s, 200) {
						t.Errorf("listed store name %q, sent %q", str(x, "name"), s)
					}
				}
			}
			if !found {
				t.Errorf("store %s not listed", str(st, "id"))
			}

			// Design filename.
			design := uploadedDesign(t, e, tok, fitRunes(s, 255), "image/png", designPNG(t, 1800, 1800))
			if f := str(e.api.must(t, http.StatusOK, "GET", "/v1/designs/"+design, tok, nil), "filename"); f != fitRunes(s, 255) {
				t.Errorf("design filename %q, sent %q", f, s)
			}
			e.api.must(t, http.StatusOK, "POST", "/v1/designs/"+design+":process", tok, map[string]any{})

			// Address and external id on an order, then a cancel reason.
			addr := map[string]any{"name": fitRunes(s, 200), "line1": fitRunes(s, 200), "line2": fitRunes(s, 200), "city": fitRunes(s, 100),
				"region": fitRunes(s, 100), "postal_code": fitRunes(s, 20), "country_code": "US"}
			body := secBlankOrder(variant, 1)
			body["shipping_address"], body["external_order_id"] = addr, fitRunes(s, 128)
			// A blank order can reach production within a few hundred
			// milliseconds: cancel right after the create, and try again with
			// a fresh order when the pipeline won the race.
			var id string
			var created map[string]any
			for attempt := 1; ; attempt++ {
				r := secCreateOrder(t, e, tok, body)
				if r.Status != http.StatusCreated {
					t.Fatalf("order with metacharacters: %d %s", r.Status, r.Body)
				}
				created = r.JSON(t)
				id = str(created, "id")
				c := e.api.do(t, "POST", "/v1/orders/"+id+":cancel", tok, map[string]any{"reason": fitRunes(s, 500)})
				if c.Status == http.StatusOK {
					break
				}
				if c.Status != http.StatusBadRequest || !strings.Contains(string(c.Body), "FAILED_PRECONDITION") || attempt == 5 {
					t.Fatalf("cancel with a metacharacter reason (attempt %d): %d %s", attempt, c.Status, c.Body)
				}
			}
			for _, o := range []map[string]any{created, e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id, tok, nil)} {
				for k, v := range addr {
					if got := str(o, "shipping_address", k); got != v {
						t.Errorf("shipping_address.%s = %q, sent %q", k, got, v)
					}
				}
				if got := str(o, "external_order_id"); got != fitRunes(s, 128) {
					t.Errorf("external_order_id = %q, sent %q", got, s)
				}
			}
			if got := str(e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id, tok, nil), "failure_reason"); got != fitRunes(s, 500) {
				t.Errorf("failure_reason = %q, sent %q", got, s)
			}
			ev := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id+"/events", tok, nil)
			if !strings.Contains(secJSON(ev), mustJSONString(fitRunes(s, 500))) {
				t.Errorf("the timeline does not carry the reason %q verbatim: %s", s, secClip([]byte(secJSON(ev)), 1000))
			}

			// A printed order in that store, shipped with a metacharacter
			// carrier; the push reaches the marketplace intact.
			eventually(t, 90*time.Second, "design ready", func() (bool, string) {
				d := e.api.must(t, http.StatusOK, "GET", "/v1/designs/"+design, tok, nil)
				if str(d, "status") == "DESIGN_STATUS_REJECTED" {
					t.Fatalf("design rejected: %v", dig(d, "report", "problems"))
				}
				return str(d, "status") == "DESIGN_STATUS_READY", str(d, "status")
			})
			external := fmt.Sprint(5_000_000_000 + time.Now().UnixNano()%1_000_000_000 + int64(i))
			r := secCreateOrder(t, e, tok, map[string]any{
				"items":            []any{map[string]any{"variant_id": variant, "quantity": 1, "design_id": design, "placement_id": front}},
				"shipping_address": addr, "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
				"store_id": str(st, "id"), "external_order_id": external,
			})
			if r.Status != http.StatusCreated {
				t.Fatalf("printed order: %d %s", r.Status, r.Body)
			}
			printed := str(r.JSON(t), "id")
			waitStatus(t, e, tok, printed, "ORDER_STATUS_IN_PRODUCTION", 120*time.Second)
			tracking := fmt.Sprintf("1Z--OR-1-1--%d", i) + strings.ToUpper(uuid.NewString()[:6])
			trackURL := "https://track.example/t?q='%20OR%201=1--&n=" + tracking
			sh := e.api.do(t, "POST", "/v1/orders/"+printed+"/shipments", partner, map[string]any{
				"carrier": fitRunes(s, 64), "tracking_number": tracking, "tracking_url": trackURL,
			})
			if sh.Status != http.StatusCreated {
				t.Fatalf("shipment with a metacharacter carrier: %d %s", sh.Status, sh.Body)
			}
			if str(sh.JSON(t), "carrier") != fitRunes(s, 64) || str(sh.JSON(t), "tracking_url") != trackURL {
				t.Errorf("shipment answered %s, sent carrier %q url %q", sh.Body, s, trackURL)
			}
			o := waitStatus(t, e, tok, printed, "ORDER_STATUS_SHIPPED", 30*time.Second)
			if got := str(o, "shipments", 0, "carrier"); got != fitRunes(s, 64) {
				t.Errorf("stored carrier %q, sent %q", got, s)
			}
			eventually(t, 60*time.Second, "the push at shopify", func() (bool, string) {
				got := sandboxReceived(t, e, "shopify")
				return strings.Contains(got, tracking), fmt.Sprintf("%d bytes recorded", len(got))
			})
		})
	}

	// Ids and query parameters made of metacharacters.
	t.Run("path and query", func(t *testing.T) {
		admin := secToken(t, newSubject("sqlmeta-admin"), "user,admin,fulfillment", time.Hour)
		badIDs := []string{`' OR '1'='1`, `1;DROP TABLE orders`, `%27`, `00000000-0000-0000-0000-000000000000' OR '1'='1`,
			`%_`, `\x27`, `東京`, strings.Repeat("9", 5000)}
		for _, rt := range restTable {
			param := rt.idParam()
			if param == "" {
				continue
			}
			for _, id := range badIDs {
				p := rt.fill(map[string]string{param: url.PathEscape(id)})
				var body any
				if rt.hasBody() {
					body = map[string]any{}
				}
				got := e.api.do(t, rt.Method, p, admin, body, "Idempotency-Key", uuid.NewString())
				if got.Status != http.StatusBadRequest && got.Status != http.StatusNotFound {
					t.Errorf("%s %s: %d %s, want 400 or 404", rt.Method, p, got.Status, secClip(got.Body, 300))
				} else if msg := checkErrorBody(got, got.Status, ""); msg != "" {
					t.Errorf("%s %s: %s", rt.Method, p, msg)
				}
			}
		}
		queries := []string{
			"/v1/orders?page_token=" + url.QueryEscape(`' OR 1=1 --`),
			"/v1/orders?page_token=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(`{"id":"' OR 1=1 --"}`))),
			"/v1/orders?status=" + url.QueryEscape(`ORDER_STATUS_PAID' OR 1=1 --`),
			"/v1/orders?page_size=" + url.QueryEscape(`1;DROP TABLE orders`),
			"/v1/orders?page_size=99999999999999",
			"/v1/orders?user_id=" + url.QueryEscape(`' OR '1'='1`),
			"/v1/orders/" + ghostID() + "/events?page_token=" + url.QueryEscape(`%_'`),
			"/v1/stores?page_token=" + url.QueryEscape(`' UNION SELECT credentials FROM stores --`),
			"/v1/products?page_token=" + url.QueryEscape(`'; DROP TABLE products; --`),
			"/v1/products?page_size=-1",
		}
		for _, q := range queries {
			got := e.api.do(t, "GET", q, admin, nil)
			switch {
			case got.Status >= 500 || (got.Status >= 300 && got.Status != 400 && got.Status != 404):
				t.Errorf("GET %s: %d %s", q, got.Status, secClip(got.Body, 300))
			case got.Status >= 400:
				if msg := checkErrorBody(got, got.Status, ""); msg != "" {
					t.Errorf("GET %s: %s", q, msg)
				}
			case strings.Contains(q, "user_id=") && len(dig(got.JSON(t), "orders").([]any)) != 0:
				t.Errorf("GET %s listed orders: %s", q, secClip(got.Body, 500))
			}
		}
	})
}

// mustJSONString is s as it appears inside a JSON document.
func mustJSONString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(s)
	out := strings.TrimSpace(buf.String())
	return out[1 : len(out)-1]
}

// ---------------------------------------------------------------------------
// Image bombs

// pngChunk frames one PNG chunk.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	_ = writeBE32(&b, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	_ = writeBE32(&b, crc32PNG(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngBomb is a PNG whose IHDR claims w×h pixels of colorType at depth
// bits, followed by idat (already zlib-compressed).
func pngBomb(w, h uint32, depth, colorType byte, idat []byte) []byte {
	var ihdr bytes.Buffer
	_ = writeBE32(&ihdr, w)
	_ = writeBE32(&ihdr, h)
	ihdr.Write([]byte{depth, colorType, 0, 0, 0})
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	out.Write(pngChunk("IHDR", ihdr.Bytes()))
	out.Write(pngChunk("IDAT", idat))
	out.Write(pngChunk("IEND", nil))
	return out.Bytes()
}

// jpegBomb is a baseline JPEG whose frame header claims w×h.
func jpegBomb(w, h uint16) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xFF, 0xD8})
	// SOF0: length 17, precision 8, height, width, 3 components.
	b.Write([]byte{0xFF, 0xC0, 0x00, 0x11, 0x08, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 0x03,
		0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00})
	// SOS: length 12, 3 components.
	b.Write([]byte{0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x3F, 0x00})
	b.Write(bytes.Repeat([]byte{0x00}, 64))
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// TestImageBombs uploads decompression bombs through the real presigned
// upload path and processes them: each design is REJECTED with a problem
// that names the size, no call answers 5xx, the images worker stays alive
// (same pid, admin /healthz 200) without a memory spike, and it still
// processes a normal design afterwards.
func TestImageBombs(t *testing.T) {
	e := need(t)
	tok := secToken(t, newSubject("bomb"), "user", time.Hour)
	pid := e.fleet.Pid("images")
	if pid == 0 {
		t.Fatal("images worker not running")
	}
	hwmBefore := vmHWM(pid)

	zeros := func(n int) []byte {
		var buf bytes.Buffer
		zw := newZlib(&buf)
		chunk := make([]byte, 1<<20)
		for n > 0 {
			k := min(n, len(chunk))
			_, _ = zw.Write(chunk[:k])
			n -= k
		}
		_ = zw.Close()
		return buf.Bytes()
	}
	bombs := []struct {
		name, contentType string
		data              []byte
	}{
		// IHDR claims 100,000 × 100,000 RGBA (40 GB decoded); a token IDAT.
		{"png 100000x100000 header", "image/png", pngBomb(100_000, 100_000, 8, 6, zeros(1024))},
		// A complete, valid 1-bit grey PNG of 20,000 × 20,000 (400 MP): every
		// row is a filter byte and 2,500 zero bytes, 50 MB inflated from ~50 KB.
		{"png 20000x20000 complete 1-bit", "image/png", pngBomb(20_000, 20_000, 1, 0, zeros(20_000*(1+2_500)))},
		// A JPEG frame header claiming 65,500 × 65,500.
		{"jpeg 65500x65500 header", "image/jpeg", jpegBomb(65_500, 65_500)},
	}
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			t.Logf("%s: %d bytes", b.name, len(b.data))
			id := uploadedDesign(t, e, tok, "bomb.png", b.contentType, b.data)
			r := e.api.do(t, "POST", "/v1/designs/"+id+":process", tok, map[string]any{})
			if r.Status >= 500 {
				t.Fatalf(":process answered %d %s", r.Status, r.Body)
			}
			var last map[string]any
			eventually(t, 60*time.Second, "bomb rejected", func() (bool, string) {
				g := e.api.do(t, "GET", "/v1/designs/"+id, tok, nil)
				if g.Status != http.StatusOK {
					t.Fatalf("GET design: %d %s", g.Status, g.Body)
				}
				last = g.JSON(t)
				if s := str(last, "status"); s == "DESIGN_STATUS_READY" {
					t.Fatalf("a bomb became READY: %s", g.Body)
				}
				return str(last, "status") == "DESIGN_STATUS_REJECTED", str(last, "status")
			})
			problems, _ := dig(last, "report", "problems").([]any)
			joined := strings.ToLower(fmt.Sprint(problems...))
			if len(problems) == 0 || !(strings.Contains(joined, "limit") || strings.Contains(joined, "exceed") || strings.Contains(joined, "pixel") ||
				strings.Contains(joined, "mp")) {
				t.Errorf("rejection without a clear problem naming the size: %s", secJSON(dig(last, "report")))
			}
			if p := e.fleet.Pid("images"); p != pid {
				t.Fatalf("the images worker is gone or restarted (pid %d → %d); log: %s", pid, p, e.fleet.LogPath("images"))
			}
			resp, err := http.Get("http://" + e.layout.Admin(9204) + "/healthz")
			if err != nil {
				t.Fatalf("images /healthz: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("images /healthz: %s", resp.Status)
			}
		})
	}
	if before, after := hwmBefore, vmHWM(pid); before > 0 && after-before > 512<<20 {
		t.Errorf("the images worker's peak memory grew by %d MiB while rejecting bombs (%d → %d MiB)", (after-before)>>20, before>>20, after>>20)
	} else {
		t.Logf("images worker peak RSS %d → %d MiB", before>>20, after>>20)
	}
	// Still working.
	readyDesign(t, e, tok, designPNG(t, 600, 600))
}

// vmHWM is a process's peak resident set in bytes (0 when unknown).
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			_, _ = fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10
		}
	}
	return 0
}

// ---------------------------------------------------------------------------
// Credentials

// TestStoreCredentialsNeverEchoed connects stores with distinctive secrets
// and checks that no answer — create, list, refused creates — carries them.
func TestStoreCredentialsNeverEchoed(t *testing.T) {
	e := need(t)
	tok := secToken(t, newSubject("creds"), "user", time.Hour)
	var all []map[string]any
	for _, m := range []struct{ mk, shop string }{
		{"MARKETPLACE_SHOPIFY", "creds-" + uuid.NewString()[:8]}, {"MARKETPLACE_ETSY", "31337"}, {"MARKETPLACE_AMAZON", "ATVPDKIKX0DER"},
	} {
		st, creds := newStore(t, e, tok, m.mk, m.shop, "Creds "+m.mk)
		all = append(all, creds)
		if c, ok := st["credentials"]; ok && c != nil {
			if cm, _ := c.(map[string]any); len(cm) > 0 {
				t.Errorf("the created store returns credentials: %v", secJSON(st))
			}
		}
	}
	list := e.api.do(t, "GET", "/v1/stores?page_size=100", tok, nil)
	if list.Status != http.StatusOK || len(dig(list.JSON(t), "stores").([]any)) < 3 {
		t.Fatalf("store list: %d %s", list.Status, secClip(list.Body, 500))
	}
	assertNoSecretIn(t, "GET /v1/stores", list.Body)
	for _, s := range dig(list.JSON(t), "stores").([]any) {
		if c := dig(s, "credentials"); c != nil {
			t.Errorf("a listed store carries credentials: %s", secJSON(s))
		}
	}

	// Refused creates must not echo the secrets either.
	secret := "sec-refused-" + uuid.NewString()
	rememberSecretAs("store credential (refused)", secret)
	refused := []struct {
		name string
		body any
	}{
		{"unknown marketplace", map[string]any{"marketplace": "MARKETPLACE_NOPE", "shop_id": "x", "name": "x", "credentials": map[string]any{"api_key": secret}}},
		{"api key too long", map[string]any{"marketplace": "MARKETPLACE_SHOPIFY", "shop_id": "x", "name": "x", "credentials": map[string]any{"api_key": secret + strings.Repeat("k", 600)}}},
		{"bad shop id", map[string]any{"marketplace": "MARKETPLACE_SHOPIFY", "shop_id": "bad shop!", "name": "x", "credentials": map[string]any{"client_secret": secret}}},
		{"credential of the wrong type", `{"marketplace":"MARKETPLACE_SHOPIFY","shop_id":"x","name":"x","credentials":{"api_key":["` + secret + `"]}}`},
		{"unknown credential field", `{"marketplace":"MARKETPLACE_SHOPIFY","shop_id":"x","name":"x","credentials":{"password":"` + secret + `"}}`},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			got := e.api.do(t, "POST", "/v1/stores", tok, r.body)
			if got.Status < 400 || got.Status >= 500 {
				t.Errorf("%d %s, want a 4xx", got.Status, secClip(got.Body, 300))
			}
			assertNoSecretIn(t, "refused POST /v1/stores ("+r.name+")", got.Body)
		})
	}
	_ = all

	// Credentials in use: the marketplace worker pushes shipments with them,
	// and with every access token expired it refreshes through the OAuth
	// endpoints (refresh token, client id and secret on the wire). The log
	// scan at the end of the run covers whatever those paths log.
	t.Run("in use with token refresh", func(t *testing.T) {
		tok := secToken(t, newSubject("creds-in-use"), "user", time.Hour) // the shops above are this user's already
		partner := secToken(t, newSubject("creds-partner"), "fulfillment", time.Hour)
		variant, front := sticker(t, e)
		design := readyDesign(t, e, tok, designPNG(t, 1800, 1800))
		setMarketplaceFaults(t, e, `{"expire_tokens":true}`)
		t.Cleanup(func() { setMarketplaceFaults(t, e, `{"expire_tokens":false}`) })
		n := time.Now().UnixNano()
		for _, m := range []struct{ mk, name, shop, access, refresh, externalOrder, externalItem string }{
			{"MARKETPLACE_ETSY", "etsy", "31337", "10001.sec-access-", "10001.sec-refresh-",
				fmt.Sprint(3_000_000_000 + n%1_000_000_000), fmt.Sprint(4_000_000_000 + n%1_000_000)},
			{"MARKETPLACE_AMAZON", "amazon", "ATVPDKIKX0DER", "Atza|seller1.sec-access-", "Atzr|seller1.sec-refresh-",
				fmt.Sprintf("113-%07d-%07d", n%10_000_000, (n/7)%10_000_000), fmt.Sprintf("%014d", n%100_000_000_000_000)},
		} {
			before := refreshCount(t, e, m.name)
			creds := map[string]any{"api_key": "sec-apikey-" + uuid.NewString(), "access_token": m.access + uuid.NewString(),
				"refresh_token": m.refresh + uuid.NewString(), "client_id": "sec-client-" + uuid.NewString()[:8],
				"client_secret": "sec-clientsecret-" + uuid.NewString()}
			for k, v := range creds {
				rememberSecretAs("store credential "+k, v.(string))
			}
			r := e.api.do(t, "POST", "/v1/stores", tok, map[string]any{"marketplace": m.mk, "shop_id": m.shop, "name": "In use", "credentials": creds})
			if r.Status != http.StatusCreated {
				t.Fatalf("store: %d %s", r.Status, r.Body)
			}
			assertNoSecretIn(t, "POST /v1/stores", r.Body)
			o := secCreateOrder(t, e, tok, map[string]any{
				"items": []any{map[string]any{"variant_id": variant, "quantity": 1, "design_id": design, "placement_id": front,
					"external_item_id": m.externalItem}},
				"shipping_address": address(), "currency": "USD", "payment_method": "PAYMENT_METHOD_CARD",
				"store_id": str(r.JSON(t), "id"), "external_order_id": m.externalOrder,
			})
			if o.Status != http.StatusCreated {
				t.Fatalf("order: %d %s", o.Status, o.Body)
			}
			id := str(o.JSON(t), "id")
			waitStatus(t, e, tok, id, "ORDER_STATUS_IN_PRODUCTION", 120*time.Second)
			tracking := "1ZCRED" + strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))[:12]
			e.api.must(t, http.StatusCreated, "POST", "/v1/orders/"+id+"/shipments", partner, map[string]any{"carrier": "UPS", "tracking_number": tracking})
			eventually(t, 60*time.Second, "the push at "+m.name+" after a token refresh", func() (bool, string) {
				got := sandboxReceived(t, e, m.name)
				return strings.Contains(got, tracking), fmt.Sprintf("%d bytes recorded", len(got))
			})
			if after := refreshCount(t, e, m.name); after <= before {
				t.Errorf("%s: no token refresh happened (%d → %d): the refresh path was not exercised", m.name, before, after)
			}
			ev := e.api.must(t, http.StatusOK, "GET", "/v1/orders/"+id+"/events", tok, nil)
			assertNoSecretIn(t, "GET /v1/orders/{id}/events", []byte(secJSON(ev)))
		}
	})
}

// setMarketplaceFaults patches the switches of all three marketplace
// stand-ins.
func setMarketplaceFaults(t *testing.T, e *environment, patch string) {
	t.Helper()
	resp, err := http.Post(e.layout.MarketplacesURL()+"/_sandbox/faults", "application/json", strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("marketplace faults %s: %s", patch, resp.Status)
	}
}

// refreshCount is the stand-in's count of token refreshes.
func refreshCount(t *testing.T, e *environment, marketplace string) int {
	t.Helper()
	var rec struct {
		Counters struct {
			TokenRefreshes int `json:"token_refreshes"`
		} `json:"counters"`
	}
	if err := json.Unmarshal([]byte(sandboxReceived(t, e, marketplace)), &rec); err != nil {
		t.Fatalf("sandbox received: %v", err)
	}
	return rec.Counters.TokenRefreshes
}
