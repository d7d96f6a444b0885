package marketplace

// The Etsy Open API v3 stand-in: list a shop's receipts, read one, add tracking
// to it, refresh an OAuth token; per-second and rolling per-day request budgets
// per API key. Shops, their credentials and their receipts come from the sandbox
// admin API (etsy_admin.go).

import (
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// etsyState is the Etsy stand-in's data. Reset replaces it whole; the maps
// other than receipts and budgets are made on first use.
type etsyState struct {
	receipts map[string]*etsyReceipt // by receipt id
	budgets  map[string]*etsyBudget  // by API key
	shops    map[int64]*etsyShop     // by shop id
	keys     map[string]bool         // the API keys issued, keystring:shared_secret
	users    map[string]int64        // the shop of each issued user id (the token's prefix)
	refresh  map[string]string       // issued refresh token -> user id
	// ids hands out shop, user, receipt and transaction ids.
	ids int64
}

type etsyShop struct {
	id, userID int64
	keystring  string
	key        string // keystring:shared_secret
}

type etsyReceipt struct {
	shopID, receiptID int64
	created, updated  time.Time
	status            string // Paid, Canceled, Completed
	currency          string
	address           etsyAddress
	transactions      []etsyTransaction
	shipments         []etsyShipment
}

type etsyAddress struct {
	name, firstLine, secondLine, city, state, zip, countryISO string
}

type etsyTransaction struct {
	transactionID, listingID, productID int64
	sku, title                          string
	quantity                            int
}

type etsyShipment struct {
	id      int64
	at      time.Time
	carrier string
	code    string
}

// etsyBudget is one API key's budget: a per-second token bucket, a per-day count,
// and the time before which the key was told (Retry-After) not to come back.
type etsyBudget struct {
	second bucket
	// day holds when each request admitted in the last 24 hours arrived,
	// oldest first: Etsy's per-day quota is a rolling 24-hour window, not a
	// calendar day.
	day       []time.Time
	notBefore time.Time
	// refusedAt is when the last 429 went out and refusedConns the client
	// connections that received one since the Retry-After window opened.
	refusedAt    time.Time
	refusedConns map[string]bool
}

// inFlight is how long after a 429 a request on ANOTHER connection still
// counts as sent before its client could have read the 429 (loopback latency
// plus scheduling on a busy machine). A request on a connection that was
// itself refused was sent after its client read the Retry-After (HTTP/1.1
// clients do not pipeline), so it always counts.
const inFlight = 250 * time.Millisecond

func etsyError(w http.ResponseWriter, status int, msg string) {
	sim.WriteJSON(w, status, map[string]string{"error": msg})
}

// etsyDay is the length of Etsy's rolling per-day quota window.
const etsyDay = 24 * time.Hour

// etsyAdmit runs what every Etsy API call goes through — errors, authentication,
// the budget — and spends one request of the key's budget. When the call may not
// proceed it has already written the reply.
//
// Authentication follows the request standards of Open API v3
// (developers.etsy.com/documentation/essentials/requests): every request
// carries x-api-key "keystring:shared_secret", and a scoped call an OAuth
// access token "<user_id>.<token>" of the shop's owner. Only keys and tokens
// this stand-in issued are accepted: an unknown key is refused 403, an unknown
// or expired token 401 invalid_token, and a token for another shop 403.
//
// The budget follows the rate-limits page
// (developers.etsy.com/documentation/essentials/rate-limits): per API key a
// per-second allowance and a per-day allowance over a rolling 24-hour window,
// announced in x-limit-per-second, x-remaining-this-second, x-limit-per-day
// and x-remaining-today; over either, 429 with retry-after.
func (s *Server) etsyAdmit(w http.ResponseWriter, r *http.Request) bool {
	if !s.arrive(r, Etsy) {
		return false
	}
	if s.injectError(Etsy) {
		etsyError(w, http.StatusInternalServerError, "Internal server error (injected)")
		return false
	}
	apiKey := r.Header.Get("x-api-key")
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	authFail := func(status int, body map[string]string) bool {
		s.countLocked(Etsy, func(c *Counters) { c.AuthFailures++ })
		sim.WriteJSON(w, status, body)
		return false
	}
	if apiKey == "" {
		return authFail(http.StatusForbidden, map[string]string{"error": "Missing x-api-key header"})
	}
	// Every Open API v3 request: x-api-key is "keystring:shared_secret" since
	// February 2026; a bare keystring is refused.
	if !etsyKeyRE.MatchString(apiKey) {
		return authFail(http.StatusForbidden, map[string]string{"error": "Invalid x-api-key: expected keystring:shared_secret"})
	}
	if !s.etsy.keys[apiKey] {
		return authFail(http.StatusForbidden, map[string]string{"error": "Invalid API key"})
	}
	if token == "" {
		return authFail(http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "access token is missing"})
	}
	it, known := s.markets[Etsy].tokens.issued[token]
	if !known {
		return authFail(http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "access token is invalid"})
	}
	if s.markets[Etsy].tokens.check(token, now) == tokenExpired {
		return authFail(http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "access token is expired"})
	}
	if shopID, ok := parseID(r.PathValue("shop_id")); ok && s.etsy.users[it.subject] != shopID {
		return authFail(http.StatusForbidden, map[string]string{"error": "The access token does not grant access to this shop"})
	}

	perSec, perDay := float64(s.limits.EtsyPerSecond), s.limits.EtsyPerDay
	b, ok := s.etsy.budgets[apiKey]
	if !ok {
		b = &etsyBudget{}
		s.etsy.budgets[apiKey] = b
	}
	b.second.refill(now, perSec, perSec)
	b.prune(now)
	early := now.Before(b.notBefore) && (b.refusedConns[r.RemoteAddr] || now.Sub(b.refusedAt) > inFlight)
	headers := func() {
		h := w.Header()
		h.Set("x-limit-per-second", strconv.Itoa(s.limits.EtsyPerSecond))
		h.Set("x-remaining-this-second", strconv.Itoa(int(math.Max(0, math.Floor(b.second.tokens)))))
		h.Set("x-limit-per-day", strconv.Itoa(perDay))
		h.Set("x-remaining-today", strconv.Itoa(max(0, perDay-len(b.day))))
	}
	refuse := func(wait time.Duration) bool {
		secs := max(1, int(math.Ceil(wait.Seconds())))
		if !now.Before(b.notBefore) {
			b.refusedConns = map[string]bool{}
		}
		b.notBefore, b.refusedAt = now.Add(time.Duration(secs)*time.Second), now
		b.refusedConns[r.RemoteAddr] = true
		headers()
		w.Header().Set("retry-after", strconv.Itoa(secs))
		etsyError(w, http.StatusTooManyRequests, "You have exceeded your rate limit. Please try again later.")
		return false
	}
	over := func(kind string) OverBudget {
		ob := OverBudget{At: now, Op: r.Method + " " + r.URL.Path, Kind: kind}
		if !b.refusedAt.IsZero() {
			ob.SinceRefusal, ob.SameConn = now.Sub(b.refusedAt).String(), b.refusedConns[r.RemoteAddr]
		}
		if kind == "early" {
			ob.Early = b.notBefore.Sub(now).String()
		}
		return ob
	}
	switch {
	case s.forcedThrottleLocked(Etsy):
		if early {
			s.overBudgetLocked(Etsy, over("early"), false)
		}
		b.second.tokens = 0 // another client of this key spent the second
		return refuse(time.Second)
	case len(b.day) >= perDay:
		// The window frees a request when its oldest one turns 24 hours old.
		s.overBudgetLocked(Etsy, over("budget"), true)
		return refuse(b.day[len(b.day)-perDay].Add(etsyDay).Sub(now))
	case b.second.tokens < 1:
		s.overBudgetLocked(Etsy, over("budget"), true)
		return refuse(time.Duration((1 - b.second.tokens) / perSec * float64(time.Second)))
	case early:
		s.overBudgetLocked(Etsy, over("early"), false)
	}
	b.second.tokens--
	b.day = append(b.day, now)
	headers()
	return true
}

// prune forgets the requests that left the rolling window.
func (b *etsyBudget) prune(now time.Time) {
	n := 0
	for n < len(b.day) && !b.day[n].Add(etsyDay).After(now) {
		n++
	}
	b.day = b.day[n:]
}

// EtsyAge makes every request Etsy has counted against a per-day quota d
// older, so tests can watch the rolling 24-hour window free requests without
// waiting a day.
func (s *Server) EtsyAge(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.etsy.budgets {
		for i := range b.day {
			b.day[i] = b.day[i].Add(-d)
		}
	}
}

func parseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0 && n < 1<<53
}

// etsyReceiptLocked returns the shop's receipt, or nil when the shop has no
// such receipt (the sandbox admin API creates receipts).
func (s *Server) etsyReceiptLocked(shopID, receiptID int64) *etsyReceipt {
	rc, ok := s.etsy.receipts[strconv.FormatInt(receiptID, 10)]
	if !ok || rc.shopID != shopID {
		return nil
	}
	return rc
}

// etsyMoney is Etsy's Money object.
func etsyMoney(amount int64, currency string) map[string]any {
	return map[string]any{"amount": amount, "divisor": 100, "currency_code": currency}
}

// json is the receipt as Open API v3's ShopReceipt schema has it (the fields
// the importer and the push read, and enough of the rest to look real).
func (rc *etsyReceipt) json() map[string]any {
	shipments := make([]map[string]any, len(rc.shipments))
	for i, sh := range rc.shipments {
		shipments[i] = map[string]any{"receipt_shipping_id": sh.id, "shipment_notification_timestamp": sh.at.Unix(),
			"carrier_name": sh.carrier, "tracking_code": sh.code}
	}
	sellerID, buyerID := rc.shopID+1_000_000, rc.receiptID%1_000_000+1
	var total int64
	transactions := make([]map[string]any, len(rc.transactions))
	for i, tx := range rc.transactions {
		const price = 2499
		total += price * int64(tx.quantity)
		transactions[i] = map[string]any{
			"transaction_id": tx.transactionID, "title": tx.title, "description": "", "seller_user_id": sellerID,
			"buyer_user_id": buyerID, "create_timestamp": rc.created.Unix(), "created_timestamp": rc.created.Unix(),
			"paid_timestamp": rc.created.Unix(), "shipped_timestamp": nil, "quantity": tx.quantity, "listing_image_id": nil,
			"receipt_id": rc.receiptID, "is_digital": false, "file_data": "", "listing_id": tx.listingID,
			"transaction_type": "listing", "product_id": tx.productID, "sku": tx.sku, "price": etsyMoney(price, rc.currency),
			"shipping_cost": etsyMoney(0, rc.currency), "variations": []any{}, "product_data": []any{},
		}
	}
	status := rc.status
	if status == "Paid" && len(rc.shipments) > 0 {
		status = "Completed"
	}
	ad := rc.address
	return map[string]any{
		"receipt_id": rc.receiptID, "receipt_type": 0, "seller_user_id": sellerID,
		"seller_email": "seller@example.com", "buyer_user_id": buyerID, "buyer_email": "buyer@example.com", "name": ad.name,
		"first_line": ad.firstLine, "second_line": etsyNullable(ad.secondLine), "city": ad.city, "state": etsyNullable(ad.state),
		"zip": ad.zip, "country_iso": ad.countryISO, "formatted_address": strings.Join(etsyNonEmpty(ad.name, ad.firstLine, ad.secondLine,
			strings.TrimSpace(ad.city+" "+ad.state+" "+ad.zip), ad.countryISO), "\n"),
		"payment_method": "cc", "status": status, "is_paid": status != "Open" && status != "Payment Processing",
		"is_shipped": len(rc.shipments) > 0, "is_gift": false,
		"create_timestamp": rc.created.Unix(), "created_timestamp": rc.created.Unix(),
		"update_timestamp": rc.updated.Unix(), "updated_timestamp": rc.updated.Unix(),
		"grandtotal": etsyMoney(total, rc.currency), "subtotal": etsyMoney(total, rc.currency), "total_price": etsyMoney(total, rc.currency),
		"total_shipping_cost": etsyMoney(0, rc.currency), "total_tax_cost": etsyMoney(0, rc.currency),
		"shipments": shipments, "transactions": transactions, "refunds": []any{},
	}
}

func etsyNullable(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func etsyNonEmpty(vs ...string) []string {
	var out []string
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (s *Server) etsyIDs(w http.ResponseWriter, r *http.Request) (int64, int64, bool) {
	shopID, ok1 := parseID(r.PathValue("shop_id"))
	receiptID, ok2 := parseID(r.PathValue("receipt_id"))
	if !ok1 || !ok2 {
		s.count(Etsy, func(c *Counters) { c.ValidationErrors++ })
		etsyError(w, http.StatusBadRequest, "shop_id and receipt_id must be positive integers")
		return 0, 0, false
	}
	return shopID, receiptID, true
}

// etsyGetReceipt is getShopReceipt (GET /v3/application/shops/{shop_id}/receipts/
// {receipt_id}); a receipt the shop does not have is 404.
func (s *Server) etsyGetReceipt(w http.ResponseWriter, r *http.Request) {
	if !s.etsyAdmit(w, r) {
		return
	}
	shopID, receiptID, ok := s.etsyIDs(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	s.countLocked(Etsy, func(c *Counters) { c.Reads++ })
	rc := s.etsyReceiptLocked(shopID, receiptID)
	var body map[string]any
	if rc != nil {
		body = rc.json()
	}
	s.mu.Unlock()
	if rc == nil {
		etsyError(w, http.StatusNotFound, fmt.Sprintf("Receipt with id %d not found", receiptID))
		return
	}
	sim.WriteJSON(w, http.StatusOK, body)
}

var (
	etsyTrackingRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{3,63}$`)
	etsyKeyRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}:[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)
	// etsyCarriers are the carrier_name values the stand-in accepts: Etsy's
	// names for the carriers it knows, and "other" for any carrier it does
	// not (a raw name is refused here, where the real API may accept it and
	// drop the tracking).
	etsyCarriers = map[string]bool{"usps": true, "ups": true, "fedex": true, "dhl": true, "canada-post": true,
		"royal-mail": true, "australia-post": true, "deutsche-post": true, "other": true}
)

// jsonBody reads a JSON object of scalars; any other content type is refused.
func jsonBody(w http.ResponseWriter, r *http.Request) (url.Values, int, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type must be application/json")
	}
	v, err := formOrJSON(w, r)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	return v, 0, nil
}

// formOrJSON reads a body sent either form-encoded or as a JSON object of scalars.
func formOrJSON(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		var m map[string]any
		if err := sim.DecodeJSON(w, r, &m); err != nil {
			return nil, fmt.Errorf("invalid JSON body")
		}
		v := url.Values{}
		for k, x := range m {
			switch x := x.(type) {
			case string:
				v.Set(k, x)
			case bool:
				v.Set(k, strconv.FormatBool(x))
			case nil:
			default:
				v.Set(k, fmt.Sprint(x))
			}
		}
		return v, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("invalid form body")
	}
	return r.PostForm, nil
}

// etsyTracking is createReceiptShipment (POST /v3/application/shops/{shop_id}/
// receipts/{receipt_id}/tracking).
func (s *Server) etsyTracking(w http.ResponseWriter, r *http.Request) {
	if !s.etsyAdmit(w, r) {
		return
	}
	shopID, receiptID, ok := s.etsyIDs(w, r)
	if !ok {
		return
	}
	// ShopReceipt_CreateShipment (POST /v3/application/shops/{shop_id}/receipts/
	// {receipt_id}/tracking) takes its body as application/json in the current
	// specification; a form body is refused.
	form, status, err := jsonBody(w, r)
	invalid := func(msg string) {
		s.count(Etsy, func(c *Counters) { c.ValidationErrors++ })
		etsyError(w, http.StatusBadRequest, msg)
	}
	if err != nil {
		s.count(Etsy, func(c *Counters) { c.ValidationErrors++ })
		etsyError(w, status, err.Error())
		return
	}
	code, carrier := strings.TrimSpace(form.Get("tracking_code")), strings.TrimSpace(form.Get("carrier_name"))
	switch {
	case code == "":
		invalid("tracking_code is required")
		return
	case !etsyTrackingRE.MatchString(code):
		invalid("tracking_code is invalid")
		return
	case carrier == "":
		invalid("carrier_name is required")
		return
	case !etsyCarriers[carrier]:
		invalid("carrier_name is not a supported carrier; send other for a carrier not listed")
		return
	}
	if v := form.Get("send_bcc"); v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			invalid("send_bcc must be a boolean")
			return
		}
	}
	now := time.Now()
	s.mu.Lock()
	rc := s.etsyReceiptLocked(shopID, receiptID)
	if rc == nil {
		s.mu.Unlock()
		etsyError(w, http.StatusNotFound, fmt.Sprintf("Receipt with id %d not found", receiptID))
		return
	}
	for _, sh := range rc.shipments {
		if strings.EqualFold(sh.code, code) {
			// The real API adds the shipment again and notifies the buyer again, so a
			// repeat is recorded as a push and counted as a duplicate.
			s.countLocked(Etsy, func(c *Counters) { c.Duplicates++ })
			break
		}
	}
	s.seq++
	ship := etsyShipment{id: 900_000_000 + int64(s.seq), at: now, carrier: carrier, code: code}
	rc.shipments = append(rc.shipments, ship)
	rc.updated = now
	s.recordLocked(Etsy, Push{Store: strconv.FormatInt(shopID, 10), Order: strconv.FormatInt(receiptID, 10),
		Ref: strconv.FormatInt(ship.id, 10), Carrier: carrier, TrackingNumber: code})
	body := rc.json()
	s.mu.Unlock()
	sim.WriteJSON(w, http.StatusOK, body)
}

func (s *Server) etsyToken(w http.ResponseWriter, r *http.Request) {
	if !s.arrive(r, Etsy) {
		return
	}
	form, err := formOrJSON(w, r)
	if err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	switch {
	case form.Get("grant_type") != "refresh_token":
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type",
			"error_description": "this sandbox supports grant_type=refresh_token"})
		return
	case form.Get("client_id") == "":
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "client_id is required"})
		return
	case form.Get("refresh_token") == "":
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "refresh_token is required"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only refresh tokens this stand-in issued, presented by the app they
	// were issued to, are exchanged. Every refresh token issued stays valid
	// (Etsy's last 90 days), so replicas racing to refresh all succeed.
	subject, known := s.etsy.refresh[form.Get("refresh_token")]
	shop := s.etsy.shops[s.etsy.users[subject]]
	if !known || shop == nil || shop.keystring != form.Get("client_id") {
		s.countLocked(Etsy, func(c *Counters) { c.AuthFailures++ })
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "refresh_token is invalid"})
		return
	}
	access, ttl, refresh := s.etsyIssueLocked(subject)
	s.countLocked(Etsy, func(c *Counters) { c.TokenRefreshes++ })
	sim.WriteJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer",
		"expires_in": int(ttl.Seconds()), "refresh_token": refresh})
}

// etsyIssueLocked mints an access token "<user_id>.<random>" and a refresh
// token for the user.
func (s *Server) etsyIssueLocked(userID string) (access string, ttl time.Duration, refresh string) {
	access, ttl = s.issueLocked(Etsy, userID+".", userID)
	refresh = userID + "." + s.dice.Hex(32)
	if s.etsy.refresh == nil {
		s.etsy.refresh = map[string]string{}
	}
	s.etsy.refresh[refresh] = userID
	return access, ttl, refresh
}
