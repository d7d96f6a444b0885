package marketplace

// The Etsy Open API v3 stand-in: read a shop receipt, add tracking to it, refresh an
// OAuth token; per-second and per-day request budgets per API key.

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

type etsyState struct {
	receipts map[string]*etsyReceipt // by shop id + "/" + receipt id
	budgets  map[string]*etsyBudget  // by API key
}

type etsyReceipt struct {
	shopID, receiptID int64
	created, updated  time.Time
	shipments         []etsyShipment
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
	second    bucket
	day       string
	usedToday int
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

// etsyAdmit runs what every Etsy API call goes through — errors, authentication,
// the budget — and spends one request of the key's budget. When the call may not
// proceed it has already written the reply.
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
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if apiKey == "" {
		s.countLocked(Etsy, func(c *Counters) { c.AuthFailures++ })
		etsyError(w, http.StatusForbidden, "Missing x-api-key header")
		return false
	}
	// Every Open API v3 request: x-api-key is "keystring:shared_secret" since
	// February 2026; a bare keystring is refused.
	if !etsyKeyRE.MatchString(apiKey) {
		s.countLocked(Etsy, func(c *Counters) { c.AuthFailures++ })
		etsyError(w, http.StatusForbidden, "Invalid x-api-key: expected keystring:shared_secret")
		return false
	}
	switch s.markets[Etsy].tokens.check(strings.TrimSpace(token), now) {
	case tokenMissing:
		s.countLocked(Etsy, func(c *Counters) { c.AuthFailures++ })
		sim.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "access token is missing"})
		return false
	case tokenExpired:
		s.countLocked(Etsy, func(c *Counters) { c.AuthFailures++ })
		sim.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "access token is expired"})
		return false
	}

	perSec, perDay := float64(s.limits.EtsyPerSecond), s.limits.EtsyPerDay
	b, ok := s.etsy.budgets[apiKey]
	if !ok {
		b = &etsyBudget{}
		s.etsy.budgets[apiKey] = b
	}
	b.second.refill(now, perSec, perSec)
	if day := now.UTC().Format(time.DateOnly); day != b.day {
		b.day, b.usedToday = day, 0
	}
	early := now.Before(b.notBefore) && (b.refusedConns[r.RemoteAddr] || now.Sub(b.refusedAt) > inFlight)
	headers := func() {
		h := w.Header()
		h.Set("x-limit-per-second", strconv.Itoa(s.limits.EtsyPerSecond))
		h.Set("x-remaining-this-second", strconv.Itoa(int(math.Max(0, math.Floor(b.second.tokens)))))
		h.Set("x-limit-per-day", strconv.Itoa(perDay))
		h.Set("x-remaining-today", strconv.Itoa(max(0, perDay-b.usedToday)))
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
	switch {
	case s.forcedThrottleLocked(Etsy):
		if early {
			s.countLocked(Etsy, func(c *Counters) { c.OverBudget++ })
		}
		b.second.tokens = 0 // another client of this key spent the second
		return refuse(time.Second)
	case b.usedToday >= perDay:
		s.countLocked(Etsy, func(c *Counters) { c.RejectedBudget++; c.OverBudget++ })
		midnight := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		return refuse(midnight.Sub(now))
	case b.second.tokens < 1:
		s.countLocked(Etsy, func(c *Counters) { c.RejectedBudget++; c.OverBudget++ })
		return refuse(time.Duration((1 - b.second.tokens) / perSec * float64(time.Second)))
	case early:
		s.countLocked(Etsy, func(c *Counters) { c.OverBudget++ })
	}
	b.second.tokens--
	b.usedToday++
	headers()
	return true
}

func parseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0 && n < 1<<53
}

// receipt returns the receipt, creating a paid, unshipped one the first time.
func (s *Server) etsyReceiptLocked(shopID, receiptID int64, now time.Time) *etsyReceipt {
	key := fmt.Sprintf("%d/%d", shopID, receiptID)
	rc, ok := s.etsy.receipts[key]
	if !ok {
		rc = &etsyReceipt{shopID: shopID, receiptID: receiptID, created: now, updated: now}
		s.etsy.receipts[key] = rc
	}
	return rc
}

func (rc *etsyReceipt) json() map[string]any {
	shipments := make([]map[string]any, len(rc.shipments))
	for i, sh := range rc.shipments {
		shipments[i] = map[string]any{"receipt_shipping_id": sh.id, "shipment_notification_timestamp": sh.at.Unix(),
			"carrier_name": sh.carrier, "tracking_code": sh.code}
	}
	status := "Paid"
	if len(rc.shipments) > 0 {
		status = "Completed"
	}
	return map[string]any{
		"receipt_id": rc.receiptID, "receipt_type": 0, "seller_user_id": rc.shopID + 1_000_000,
		"seller_email": "seller@example.com", "buyer_user_id": rc.receiptID%1_000_000 + 1, "name": "Sandbox Buyer",
		"status": status, "is_paid": true, "is_shipped": len(rc.shipments) > 0,
		"create_timestamp": rc.created.Unix(), "created_timestamp": rc.created.Unix(),
		"update_timestamp": rc.updated.Unix(), "updated_timestamp": rc.updated.Unix(),
		"grandtotal": map[string]any{"amount": 2499, "divisor": 100, "currency_code": "USD"},
		"shipments":  shipments, "transactions": []any{},
	}
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
	body := s.etsyReceiptLocked(shopID, receiptID, time.Now()).json()
	s.mu.Unlock()
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
	rc := s.etsyReceiptLocked(shopID, receiptID, now)
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
	subject := subjectOf(form.Get("refresh_token"))
	s.mu.Lock()
	access, ttl := s.issueLocked(Etsy, subject+".", subject)
	refresh := subject + "." + s.dice.Hex(32)
	s.countLocked(Etsy, func(c *Counters) { c.TokenRefreshes++ })
	s.mu.Unlock()
	sim.WriteJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer",
		"expires_in": int(ttl.Seconds()), "refresh_token": refresh})
}
