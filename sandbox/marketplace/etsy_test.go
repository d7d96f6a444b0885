package marketplace_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/sandbox/marketplace"
)

// --- Etsy ---

func etsyHeaders(token string) map[string]string {
	return map[string]string{"x-api-key": "keystring1:sharedsecret1", "Authorization": "Bearer " + token,
		"Content-Type": "application/json"}
}

// etsyTrack posts tracking with a key the sandbox never issued.
func etsyTrack(t *testing.T, base, token, receipt, code string) answer {
	t.Helper()
	body := fmt.Sprintf(`{"tracking_code":%q,"carrier_name":"usps","send_bcc":false}`, code)
	return do(t, "POST", base+"/etsy/v3/application/shops/555/receipts/"+receipt+"/tracking", etsyHeaders(token), []byte(body))
}

// etsyShop issues a shop through the admin API.
func etsyShop(t *testing.T, base string) marketplace.EtsyShop {
	t.Helper()
	a := do(t, "POST", base+"/_sandbox/etsy/shops", nil, []byte(`{}`))
	var sh marketplace.EtsyShop
	if err := json.Unmarshal([]byte(a.raw), &sh); a.status != 201 || err != nil {
		t.Fatalf("issue shop: %d %s", a.status, a.raw)
	}
	return sh
}

func etsyAuth(sh marketplace.EtsyShop) map[string]string {
	return map[string]string{"x-api-key": sh.Store.Credentials.APIKey, "Authorization": "Bearer " + sh.Store.Credentials.AccessToken,
		"Content-Type": "application/json"}
}

// etsyReceipt places a one-line paid receipt through the admin API.
func etsyReceipt(t *testing.T, base, shopID string) string {
	t.Helper()
	body := `{"lines":[{"product_id":"1234567","variant_id":"7654321","sku":"TEE-M","quantity":2,"title":"Tee"}],
		"address":{"name":"Ada Buyer","line1":"1 Main St","line2":"Apt 2","city":"Portland","region":"OR","postal_code":"97201","country_code":"us"},
		"currency":"usd"}`
	a := do(t, "POST", base+"/_sandbox/etsy/shops/"+shopID+"/orders", nil, []byte(body))
	id, _ := a.body["order_id"].(string)
	if a.status != 201 || id == "" {
		t.Fatalf("place order: %d %s", a.status, a.raw)
	}
	return id
}

func etsyPost(t *testing.T, base string, sh marketplace.EtsyShop, receipt, body string) answer {
	t.Helper()
	return do(t, "POST", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+receipt+"/tracking", etsyAuth(sh), []byte(body))
}

func etsyShip(t *testing.T, base string, sh marketplace.EtsyShop, receipt, code string) answer {
	t.Helper()
	return etsyPost(t, base, sh, receipt, fmt.Sprintf(`{"tracking_code":%q,"carrier_name":"usps","send_bcc":false}`, code))
}

// Only what the sandbox issued works: its keys, its tokens, each token for
// its own shop, each shop's own receipts.
func TestEtsyIssuedCredentialsOnly(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	a, b := etsyShop(t, base), etsyShop(t, base)
	if a.ShopID == b.ShopID || a.Store.Marketplace != "MARKETPLACE_ETSY" || a.Store.ShopID != a.ShopID ||
		!strings.Contains(a.Store.Credentials.APIKey, ":") || a.Store.Credentials.RefreshToken == "" {
		t.Fatalf("issued: %+v %+v", a, b)
	}
	if user, _, _ := strings.Cut(a.Store.Credentials.AccessToken, "."); user == "" || strings.HasPrefix(a.Store.Credentials.AccessToken, ".") {
		t.Fatalf("token %q is not <user_id>.<random>", a.Store.Credentials.AccessToken)
	}
	ra, rb := etsyReceipt(t, base, a.ShopID), etsyReceipt(t, base, b.ShopID)
	get := func(sh marketplace.EtsyShop, key, token, receipt string) answer {
		return do(t, "GET", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+receipt,
			map[string]string{"x-api-key": key, "Authorization": "Bearer " + token}, nil)
	}
	ca, cb := a.Store.Credentials, b.Store.Credentials
	for _, tc := range []struct {
		name       string
		shop       marketplace.EtsyShop
		key, token string
		receipt    string
		status     int
	}{
		{"own shop", a, ca.APIKey, ca.AccessToken, ra, 200},
		{"another shop's key is still the app's", a, cb.APIKey, ca.AccessToken, ra, 200},
		{"unknown key", a, "keystring1:sharedsecret1", ca.AccessToken, ra, 403},
		{"bare keystring", a, ca.ClientID, ca.AccessToken, ra, 403},
		{"key with another secret", a, ca.ClientID + ":othersecret", ca.AccessToken, ra, 403},
		{"unknown token", a, ca.APIKey, "1001.tok", ra, 401},
		{"no token", a, ca.APIKey, "", ra, 401},
		{"another shop's token", a, ca.APIKey, cb.AccessToken, ra, 403},
		{"another shop's receipt", a, ca.APIKey, ca.AccessToken, rb, 404},
		{"unknown receipt", a, ca.APIKey, ca.AccessToken, "3999999999", 404},
	} {
		if got := get(tc.shop, tc.key, tc.token, tc.receipt); got.status != tc.status {
			t.Errorf("%s: %d %s", tc.name, got.status, got.raw)
		} else if tc.status == 401 && got.body["error"] != "invalid_token" {
			t.Errorf("%s: %s", tc.name, got.raw)
		}
	}
	if got := etsyShip(t, base, a, "3999999999", "9400111899223"); got.status != 404 {
		t.Errorf("tracking for an unknown receipt: %d %s", got.status, got.raw)
	}

	refresh := func(clientID, token string) answer {
		return do(t, "POST", base+"/etsy/v3/public/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			[]byte(url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {token}}.Encode()))
	}
	if r := refresh(ca.ClientID, "1001.refresh"); r.status != 400 || r.body["error"] != "invalid_grant" {
		t.Errorf("unknown refresh token: %d %s", r.status, r.raw)
	}
	if r := refresh(cb.ClientID, ca.RefreshToken); r.status != 400 {
		t.Errorf("refresh token of another app: %d %s", r.status, r.raw)
	}
	if err := s.SetFaults(marketplace.Etsy, marketplace.Faults{ExpireTokens: true}); err != nil {
		t.Fatal(err)
	}
	if got := get(a, ca.APIKey, ca.AccessToken, ra); got.status != 401 || got.body["error"] != "invalid_token" {
		t.Errorf("expired: %d %s", got.status, got.raw)
	}
	r := refresh(ca.ClientID, ca.RefreshToken)
	access, _ := r.body["access_token"].(string)
	user, _, _ := strings.Cut(ca.AccessToken, ".")
	if r.status != 200 || !strings.HasPrefix(access, user+".") || r.body["expires_in"] != float64(3600) || r.body["refresh_token"] == "" {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	if got := get(a, ca.APIKey, access, ra); got.status != 200 {
		t.Errorf("refreshed token: %d %s", got.status, got.raw)
	}
	// The first refresh token stays valid, as racing replicas need.
	if r := refresh(ca.ClientID, ca.RefreshToken); r.status != 200 {
		t.Errorf("refresh again: %d %s", r.status, r.raw)
	}
	if c := s.Received(marketplace.Etsy).Counters; c.TokenRefreshes != 2 {
		t.Errorf("counters: %+v", c)
	}
}

// The admin API issues shops, places receipts with Etsy's fields and
// cancels them; reset forgets them.
func TestEtsyAdminShopsAndOrders(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{})
	first := do(t, "POST", base+"/_sandbox/etsy/shops", nil, []byte(`{"shop_id":"31337"}`))
	if first.status != 201 || first.body["shop_id"] != "31337" ||
		dig(first.body, "store", "shop_id") != "31337" || dig(first.body, "store", "credentials", "api_key") == nil {
		t.Fatalf("shop with an id: %d %s", first.status, first.raw)
	}
	// The same shop again: the same app key, a new token pair, and the
	// first pair still works.
	again := do(t, "POST", base+"/_sandbox/etsy/shops", nil, []byte(`{"shop_id":"31337"}`))
	if again.status != 201 || dig(again.body, "store", "credentials", "api_key") != dig(first.body, "store", "credentials", "api_key") ||
		dig(again.body, "store", "credentials", "access_token") == dig(first.body, "store", "credentials", "access_token") {
		t.Fatalf("same id again: %d %s", again.status, again.raw)
	}
	for _, a := range []answer{first, again} {
		var sh marketplace.EtsyShop
		_ = json.Unmarshal([]byte(a.raw), &sh)
		rid := etsyReceipt(t, base, sh.ShopID)
		if g := do(t, "GET", base+"/etsy/v3/application/shops/31337/receipts/"+rid, etsyAuth(sh), nil); g.status != 200 {
			t.Fatalf("issued pair: %d %s", g.status, g.raw)
		}
	}
	if a := do(t, "POST", base+"/_sandbox/etsy/shops", nil, []byte(`{"shop_id":"acme"}`)); a.status != 400 {
		t.Fatalf("non-numeric id: %d %s", a.status, a.raw)
	}
	sh := etsyShop(t, base)
	placed := do(t, "POST", base+"/_sandbox/etsy/shops/"+sh.ShopID+"/orders", nil, []byte(`{"lines":[
		{"product_id":"111","variant_id":"222","sku":"A","quantity":1,"title":"A"},{"sku":"B","quantity":3}],
		"address":{"name":"N","line1":"L1","city":"C","region":"ST","postal_code":"Z","country_code":"DE"},"currency":"EUR"}`))
	id, _ := placed.body["order_id"].(string)
	items, _ := placed.body["item_ids"].([]any)
	if placed.status != 201 || id == "" || len(items) != 2 {
		t.Fatalf("place: %d %s", placed.status, placed.raw)
	}
	get := func() answer {
		return do(t, "GET", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+id, etsyAuth(sh), nil)
	}
	g := get()
	rid := strconv.FormatFloat(dig(g.body, "receipt_id").(float64), 'f', 0, 64)
	if g.status != 200 || rid != id || g.body["status"] != "Paid" || g.body["is_paid"] != true ||
		g.body["name"] != "N" || g.body["first_line"] != "L1" || g.body["second_line"] != nil || g.body["city"] != "C" ||
		g.body["state"] != "ST" || g.body["zip"] != "Z" || g.body["country_iso"] != "DE" ||
		dig(g.body, "grandtotal", "currency_code") != "EUR" || dig(g.body, "grandtotal", "amount") != float64(4*2499) ||
		dig(g.body, "transactions", 0, "listing_id") != float64(111) || dig(g.body, "transactions", 0, "product_id") != float64(222) ||
		dig(g.body, "transactions", 1, "sku") != "B" || dig(g.body, "transactions", 1, "quantity") != float64(3) ||
		fmt.Sprint(int64(dig(g.body, "transactions", 1, "transaction_id").(float64))) != items[1] ||
		g.body["create_timestamp"] == nil || g.body["update_timestamp"] != g.body["create_timestamp"] {
		t.Fatalf("receipt: %d %s", g.status, g.raw)
	}
	for _, bad := range []string{`{"lines":[]}`, `{"lines":[{"product_id":"x","quantity":1}]}`, `{"lines":[{"quantity":0}]}`} {
		if a := do(t, "POST", base+"/_sandbox/etsy/shops/"+sh.ShopID+"/orders", nil, []byte(bad)); a.status != 400 {
			t.Errorf("order %s: %d %s", bad, a.status, a.raw)
		}
	}
	if a := do(t, "POST", base+"/_sandbox/etsy/shops/999/orders", nil, []byte(`{"lines":[{"quantity":1}]}`)); a.status != 404 {
		t.Errorf("order in an unknown shop: %d", a.status)
	}
	if a := do(t, "POST", base+"/_sandbox/etsy/shops/"+sh.ShopID+"/orders/"+id+"/cancel", nil, nil); a.status != 200 {
		t.Fatalf("cancel: %d %s", a.status, a.raw)
	}
	if c := get(); c.body["status"] != "Canceled" || c.body["update_timestamp"].(float64) <= c.body["create_timestamp"].(float64) {
		t.Fatalf("cancelled receipt: %s", c.raw)
	}
	if a := do(t, "POST", base+"/_sandbox/etsy/shops/"+sh.ShopID+"/orders/1/cancel", nil, nil); a.status != 404 {
		t.Errorf("cancel unknown: %d", a.status)
	}
	s.Reset()
	if a := do(t, "GET", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+id, etsyAuth(sh), nil); a.status != 403 {
		t.Errorf("after reset the key is forgotten: %d", a.status)
	}
}

// getShopReceipts filters by last change and payment, sorts on the update,
// and pages by limit and offset with the total in count.
func TestEtsyListReceipts(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{Limits: marketplace.Limits{EtsyPerSecond: 100}})
	sh := etsyShop(t, base)
	other := etsyShop(t, base)
	etsyReceipt(t, base, other.ShopID)
	var ids []string
	for range 7 {
		ids = append(ids, etsyReceipt(t, base, sh.ShopID))
	}
	if err := s.EtsyCancel(sh.ShopID, ids[2]); err != nil {
		t.Fatal(err)
	}
	list := func(q string) answer {
		t.Helper()
		return do(t, "GET", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts?"+q, etsyAuth(sh), nil)
	}
	idsOf := func(a answer) []string {
		var out []string
		for _, r := range a.body["results"].([]any) {
			out = append(out, strconv.FormatFloat(r.(map[string]any)["receipt_id"].(float64), 'f', 0, 64))
		}
		return out
	}
	all := list("sort_on=updated&sort_order=asc&limit=3")
	if all.status != 200 || all.body["count"] != float64(7) || fmt.Sprint(idsOf(all)) != fmt.Sprint([]string{ids[0], ids[1], ids[3]}) {
		t.Fatalf("first page: %d %v %s", all.status, idsOf(all), all.raw)
	}
	if p := list("sort_on=updated&sort_order=asc&limit=3&offset=6"); fmt.Sprint(idsOf(p)) != fmt.Sprint([]string{ids[2]}) {
		t.Fatalf("last page (the cancelled receipt changed last): %v", idsOf(p))
	}
	if p := list(""); p.body["count"] != float64(7) || len(idsOf(p)) != 7 || idsOf(p)[0] != ids[6] {
		t.Fatalf("default: newest created first, 25 a page: %v", idsOf(p))
	}
	// Changed since the cancellation: the cancelled receipt (its change is
	// at least a second after its creation), and whichever others were
	// created in that second or later; nothing older.
	since, newer := 0.0, map[string]bool{}
	for _, r := range list("limit=100").body["results"].([]any) {
		if id := strconv.FormatFloat(r.(map[string]any)["receipt_id"].(float64), 'f', 0, 64); id == ids[2] {
			since = r.(map[string]any)["updated_timestamp"].(float64)
		}
	}
	for _, r := range list("limit=100").body["results"].([]any) {
		if r.(map[string]any)["updated_timestamp"].(float64) >= since {
			newer[strconv.FormatFloat(r.(map[string]any)["receipt_id"].(float64), 'f', 0, 64)] = true
		}
	}
	cancelled := list("sort_on=updated&sort_order=desc&min_last_modified=" + strconv.FormatFloat(since, 'f', 0, 64))
	got := idsOf(cancelled)
	if since == 0 || cancelled.body["count"] != float64(len(newer)) || !slices.Contains(got, ids[2]) || len(got) != len(newer) {
		t.Fatalf("changed since %v: %s (want %v)", since, cancelled.raw, newer)
	}
	for i, id := range got {
		if !newer[id] {
			t.Fatalf("changed since %v: receipt %s changed before", since, id)
		}
		if id == ids[2] && dig(cancelled.body, "results", i, "status") != "Canceled" {
			t.Fatalf("the cancelled receipt: %s", cancelled.raw)
		}
	}
	if p := list("max_last_modified=1"); p.body["count"] != float64(0) {
		t.Fatalf("max_last_modified: %s", p.raw)
	}
	if p := list("was_paid=false"); p.body["count"] != float64(0) {
		t.Fatalf("was_paid=false: %s", p.raw)
	}
	for _, q := range []string{"limit=0", "limit=101", "offset=-1", "sort_on=price", "sort_order=sideways", "was_paid=maybe", "min_last_modified=x"} {
		if a := list(q); a.status != 400 {
			t.Errorf("%s: %d", q, a.status)
		}
	}
	if a := list("limit=1"); a.header.Get("x-limit-per-day") == "" || a.header.Get("x-remaining-this-second") == "" {
		t.Errorf("rate headers: %v", a.header)
	}
}

// The per-day quota is a rolling 24-hour window: a request frees its place
// 24 hours after it was made, not at midnight.
func TestEtsyRollingDayQuota(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{Limits: marketplace.Limits{EtsyPerSecond: 100, EtsyPerDay: 3}})
	sh := etsyShop(t, base)
	id := etsyReceipt(t, base, sh.ShopID)
	get := func() answer {
		return do(t, "GET", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+id, etsyAuth(sh), nil)
	}
	if a := get(); a.status != 200 || a.header.Get("x-remaining-today") != "2" {
		t.Fatalf("first: %d %v", a.status, a.header)
	}
	s.EtsyAge(12 * time.Hour)
	get()
	if a := get(); a.status != 200 || a.header.Get("x-remaining-today") != "0" {
		t.Fatalf("third: %d %v", a.status, a.header)
	}
	over := get()
	wait, _ := strconv.Atoi(over.header.Get("retry-after"))
	if over.status != 429 || wait < 12*3600-5 || wait > 12*3600+1 {
		t.Fatalf("over the day: %d retry-after %q (want the first request's 24 hours to end, in 12h)", over.status, over.header.Get("retry-after"))
	}
	s.EtsyAge(12 * time.Hour)
	time.Sleep(time.Second) // the refusal's retry-after for the per-second part
	if a := get(); a.status != 200 || a.header.Get("x-remaining-today") != "0" {
		t.Fatalf("after the first request left the window: %d %v", a.status, a.header)
	}
	if c := s.Received(marketplace.Etsy).Counters; c.RejectedBudget != 1 {
		t.Fatalf("counters: %+v", c)
	}
}

// The stand-in is at least as strict as Open API v3: x-api-key must be
// keystring:shared_secret, and carrier_name one of Etsy's names or "other".
func TestEtsyKeyShapeAndCarriers(t *testing.T) {
	t.Parallel()
	_, base := start(t, marketplace.Options{})
	sh := etsyShop(t, base)
	id := etsyReceipt(t, base, sh.ShopID)
	for _, key := range []string{"keystring1", "keystring1:", ":secret", "key string:secret", "a:b:c"} {
		h := etsyAuth(sh)
		h["x-api-key"] = key
		if a := do(t, "GET", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+id, h, nil); a.status != 403 {
			t.Fatalf("key %q: %d %s", key, a.status, a.raw)
		}
	}
	for carrier, want := range map[string]int{"usps": 200, "other": 200, "Posten Norge": 400, "posten": 400} {
		a := etsyPost(t, base, sh, id, fmt.Sprintf(`{"tracking_code":"LX123456789NO","carrier_name":%q}`, carrier))
		if a.status != want {
			t.Fatalf("carrier %q: %d %s", carrier, a.status, a.raw)
		}
	}
}

func TestEtsyTrackingAndBudget(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{Limits: marketplace.Limits{EtsyPerSecond: 3, EtsyPerDay: 100}})
	sh := etsyShop(t, base)
	r1, r2, r3 := etsyReceipt(t, base, sh.ShopID), etsyReceipt(t, base, sh.ShopID), etsyReceipt(t, base, sh.ShopID)
	a := etsyShip(t, base, sh, r1, "9400111899223")
	if a.status != 200 || dig(a.body, "is_shipped") != true || dig(a.body, "status") != "Completed" ||
		dig(a.body, "shipments", 0, "tracking_code") != "9400111899223" {
		t.Fatalf("tracking: %d %s", a.status, a.raw)
	}
	if a.header.Get("x-limit-per-second") != "3" || a.header.Get("x-remaining-this-second") != "2" ||
		a.header.Get("x-limit-per-day") != "100" || a.header.Get("x-remaining-today") != "99" {
		t.Fatalf("headers: %v", a.header)
	}
	// createReceiptShipment takes JSON only: a form body is refused (and,
	// like every admitted call, spends a request of the budget).
	h := etsyAuth(sh)
	h["Content-Type"] = "application/x-www-form-urlencoded"
	f := do(t, "POST", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+r2+"/tracking", h,
		[]byte(url.Values{"tracking_code": {"9400111899224"}, "carrier_name": {"usps"}}.Encode()))
	if f.status != 415 {
		t.Fatalf("form body: %d %s", f.status, f.raw)
	}
	g := do(t, "GET", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+r1, etsyAuth(sh), nil)
	if g.status != 200 || g.header.Get("x-remaining-this-second") != "0" {
		t.Fatalf("get: %d %v", g.status, g.header)
	}
	over := etsyShip(t, base, sh, r3, "9400111899225")
	if over.status != 429 || over.header.Get("retry-after") == "" {
		t.Fatalf("over budget: %d %v", over.status, over.header)
	}
	early := etsyShip(t, base, sh, r3, "9400111899225")
	if early.status != 429 {
		t.Fatalf("early retry should still be refused: %d", early.status)
	}
	time.Sleep(time.Second)
	if late := etsyShip(t, base, sh, r3, "9400111899225"); late.status != 200 {
		t.Fatalf("after retry-after: %d %s", late.status, late.raw)
	}
	rep := s.Received(marketplace.Etsy)
	if rep.Counters.RejectedBudget != 2 || rep.Counters.OverBudget != 2 || rep.Counters.ValidationErrors != 1 || len(rep.Pushes) != 2 {
		t.Fatalf("report: %+v", rep.Counters)
	}
	if evs := rep.OverBudgetEvents; len(evs) != 2 || evs[0].Kind != "budget" || evs[1].Kind != "budget" {
		t.Fatalf("over-budget record: %+v", evs)
	}
	dup := etsyShip(t, base, sh, r1, "9400111899223")
	if dup.status != 200 || s.Received(marketplace.Etsy).Counters.Duplicates != 1 || s.Received(marketplace.Etsy).PushesByOrder[r1] != 2 {
		t.Fatalf("duplicate not visible: %d %+v", dup.status, s.Received(marketplace.Etsy))
	}
}

func TestEtsyValidation(t *testing.T) {
	t.Parallel()
	_, base := start(t, marketplace.Options{})
	sh := etsyShop(t, base)
	id := etsyReceipt(t, base, sh.ShopID)
	if a := etsyShip(t, base, sh, id, "no!"); a.status != 400 || a.body["error"] == nil {
		t.Fatalf("bad code: %d %s", a.status, a.raw)
	}
	if a := etsyShip(t, base, sh, "abc", "9400111899223"); a.status != 400 {
		t.Fatalf("bad receipt id: %d", a.status)
	}
	bad := do(t, "POST", base+"/etsy/v3/public/oauth/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		[]byte("grant_type=password"))
	if bad.status != 400 {
		t.Fatalf("bad grant: %d", bad.status)
	}
}

// During a forced throttle, a request that was already on its way on another
// connection when the 429 went out is not a client ignoring Retry-After; a
// retry on the refused connection itself is.
func TestEtsyInFlightRequestsAreNotOverBudget(t *testing.T) {
	t.Parallel()
	s, base := start(t, marketplace.Options{Limits: marketplace.Limits{EtsyPerSecond: 100, EtsyPerDay: 1000}})
	sh := etsyShop(t, base)
	s.SetFaults(marketplace.Etsy, marketplace.Faults{Throttle: true})
	post := func(c *http.Client, receipt string) int {
		body := fmt.Sprintf(`{"tracking_code":"9400111899%s","carrier_name":"usps"}`, receipt)
		req, _ := http.NewRequest("POST", base+"/etsy/v3/application/shops/"+sh.ShopID+"/receipts/"+receipt+"/tracking", strings.NewReader(body))
		for k, v := range etsyAuth(sh) {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	first := &http.Client{Transport: &http.Transport{}}
	other := &http.Client{Transport: &http.Transport{}}
	if code := post(first, "801"); code != 429 {
		t.Fatalf("throttled: %d", code)
	}
	if code := post(other, "802"); code != 429 { // in flight on another connection
		t.Fatalf("second connection: %d", code)
	}
	if n := s.Received(marketplace.Etsy).Counters.OverBudget; n != 0 {
		t.Fatalf("a request in flight on another connection counted over budget (%d)", n)
	}
	if code := post(first, "803"); code != 429 { // the refused connection retries at once
		t.Fatalf("retry: %d", code)
	}
	rep := s.Received(marketplace.Etsy)
	if n := rep.Counters.OverBudget; n != 1 {
		t.Fatalf("an immediate retry on the refused connection must count over budget, got %d", n)
	}
	// The record says which request it was and how it came.
	if evs := rep.OverBudgetEvents; len(evs) != 1 || evs[0].Kind != "early" || !evs[0].SameConn ||
		!strings.HasSuffix(evs[0].Op, "/receipts/803/tracking") || evs[0].Early == "" || evs[0].SinceRefusal == "" {
		t.Fatalf("over-budget record: %+v", evs)
	}
}
