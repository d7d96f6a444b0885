package marketplace

// The Amazon SP-API Orders v0 stand-in: confirmShipment with a token bucket per
// seller, packages keyed by packageReferenceId, and the LWA token refresh.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

type amazonState struct {
	orders  map[string]map[string]int // order id → packageReferenceId → index in pushes
	buckets map[string]*bucket        // by seller
}

type spError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details string `json:"details"`
}

func spErrors(w http.ResponseWriter, status int, errs ...spError) {
	sim.WriteJSON(w, status, map[string][]spError{"errors": errs})
}

type confirmShipmentRequest struct {
	MarketplaceID       string         `json:"marketplaceId"`
	CodCollectionMethod string         `json:"codCollectionMethod,omitempty"`
	PackageDetail       *packageDetail `json:"packageDetail"`
}

type packageDetail struct {
	PackageReferenceID     string          `json:"packageReferenceId"`
	CarrierCode            string          `json:"carrierCode"`
	CarrierName            string          `json:"carrierName,omitempty"`
	ShippingMethod         string          `json:"shippingMethod,omitempty"`
	TrackingNumber         string          `json:"trackingNumber"`
	ShipDate               string          `json:"shipDate"`
	ShipFromSupplySourceID string          `json:"shipFromSupplySourceId,omitempty"`
	OrderItems             []confirmedItem `json:"orderItems"`
}

type confirmedItem struct {
	OrderItemID       string   `json:"orderItemId"`
	Quantity          int      `json:"quantity"`
	TransparencyCodes []string `json:"transparencyCodes,omitempty"`
}

var (
	amazonOrderRE       = regexp.MustCompile(`^\d{3}-\d{7}-\d{7}$`)
	amazonMarketplaceRE = regexp.MustCompile(`^[A-Z0-9]{10,14}$`)
	amazonPackageRefRE  = regexp.MustCompile(`^[1-9][0-9]{0,17}$`)
	amazonTrackingRE    = regexp.MustCompile(`^[A-Za-z0-9-]{4,64}$`)
	amazonItemRE        = regexp.MustCompile(`^[0-9]{1,20}$`)
)

func (req *confirmShipmentRequest) validate(now time.Time) []spError {
	var errs []spError
	bad := func(field, msg string) {
		errs = append(errs, spError{Code: "InvalidInput", Message: "Invalid input", Details: field + ": " + msg})
	}
	if !amazonMarketplaceRE.MatchString(req.MarketplaceID) {
		bad("marketplaceId", "is required and must be a marketplace identifier")
	}
	p := req.PackageDetail
	if p == nil {
		bad("packageDetail", "is required")
		return errs
	}
	if !amazonPackageRefRE.MatchString(p.PackageReferenceID) {
		bad("packageDetail.packageReferenceId", "is required and must be a positive number")
	}
	if p.CarrierCode == "" {
		bad("packageDetail.carrierCode", "is required")
	}
	if p.CarrierCode == "Other" && p.CarrierName == "" {
		bad("packageDetail.carrierName", "is required when carrierCode is Other")
	}
	if !amazonTrackingRE.MatchString(p.TrackingNumber) {
		bad("packageDetail.trackingNumber", "is required and must be 4-64 letters, digits or dashes")
	}
	if d, err := time.Parse(time.RFC3339, p.ShipDate); err != nil {
		bad("packageDetail.shipDate", "is required in ISO 8601 date-time format")
	} else if d.After(now.Add(48 * time.Hour)) {
		bad("packageDetail.shipDate", "must not be in the future")
	}
	if len(p.OrderItems) == 0 {
		bad("packageDetail.orderItems", "must list at least one item")
	}
	for i, it := range p.OrderItems {
		if !amazonItemRE.MatchString(it.OrderItemID) {
			bad(fmt.Sprintf("packageDetail.orderItems[%d].orderItemId", i), "is required and must be numeric")
		}
		if it.Quantity < 1 {
			bad(fmt.Sprintf("packageDetail.orderItems[%d].quantity", i), "must be at least 1")
		}
	}
	return errs
}

func (s *Server) amazonConfirm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", s.dice.Hex(8)+"-"+s.dice.Hex(4)+"-"+s.dice.Hex(4)+"-"+s.dice.Hex(4)+"-"+s.dice.Hex(12))
	if !s.arrive(r, Amazon) {
		return
	}
	if s.injectError(Amazon) {
		spErrors(w, http.StatusInternalServerError, spError{Code: "InternalFailure",
			Message: "We encountered an internal error. Please try again.", Details: "injected"})
		return
	}
	token := r.Header.Get("x-amz-access-token")
	now := time.Now()
	s.mu.Lock()
	book := &s.markets[Amazon].tokens
	state := book.check(token, now)
	if state != tokenOK {
		s.countLocked(Amazon, func(c *Counters) { c.AuthFailures++ })
		s.mu.Unlock()
		details := "The access token you provided is revoked, malformed or invalid."
		if state == tokenExpired {
			details = "The access token you provided has expired."
		}
		spErrors(w, http.StatusForbidden, spError{Code: "Unauthorized", Message: "Access to requested resource is denied.", Details: details})
		return
	}
	seller := subjectOf(token)
	if it, ok := book.issued[token]; ok {
		seller = it.subject
	}
	b, ok := s.amazon.buckets[seller]
	if !ok {
		b = &bucket{}
		s.amazon.buckets[seller] = b
	}
	rate, burst := s.limits.AmazonRate, float64(s.limits.AmazonBurst)
	b.refill(now, rate, burst)
	w.Header().Set("x-amzn-RateLimit-Limit", strconv.FormatFloat(rate, 'f', -1, 64))
	throttled := false
	if s.forcedThrottleLocked(Amazon) {
		b.tokens = 0 // another application of this seller spent the bucket
		throttled = true
	} else if b.tokens < 1 {
		s.countLocked(Amazon, func(c *Counters) { c.RejectedBudget++; c.OverBudget++ })
		throttled = true
	}
	if throttled {
		s.mu.Unlock()
		spErrors(w, http.StatusTooManyRequests, spError{Code: "QuotaExceeded",
			Message: "You exceeded your quota for the requested resource."})
		return
	}
	b.tokens--
	s.mu.Unlock()

	invalid := func(errs ...spError) {
		s.count(Amazon, func(c *Counters) { c.ValidationErrors++ })
		spErrors(w, http.StatusBadRequest, errs...)
	}
	orderID := r.PathValue("orderId")
	if !amazonOrderRE.MatchString(orderID) {
		invalid(spError{Code: "InvalidInput", Message: "Invalid input", Details: "orderId: must look like 123-1234567-1234567"})
		return
	}
	var req confirmShipmentRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, sim.MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		invalid(spError{Code: "InvalidInput", Message: "Invalid input", Details: "body: " + err.Error()})
		return
	}
	if errs := req.validate(now); len(errs) > 0 {
		invalid(errs...)
		return
	}
	p := req.PackageDetail
	carrier := p.CarrierCode
	if carrier == "Other" {
		carrier = p.CarrierName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pkgs, ok := s.amazon.orders[orderID]
	if !ok {
		pkgs = map[string]int{}
		s.amazon.orders[orderID] = pkgs
	}
	mk := s.markets[Amazon]
	if i, seen := pkgs[p.PackageReferenceID]; seen {
		// A resend of a known package edits it rather than adding another.
		push := &mk.pushes[i]
		push.Carrier, push.TrackingNumber = carrier, p.TrackingNumber
		push.Updates++
		mk.counters.Updates++
	} else {
		s.recordLocked(Amazon, Push{Store: seller, Order: orderID, Ref: p.PackageReferenceID, Carrier: carrier,
			TrackingNumber: p.TrackingNumber})
		pkgs[p.PackageReferenceID] = len(mk.pushes) - 1
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) amazonToken(w http.ResponseWriter, r *http.Request) {
	if !s.arrive(r, Amazon) {
		return
	}
	form, err := formOrJSON(w, r)
	oauthErr := func(status int, code, desc string) {
		sim.WriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	switch {
	case err != nil:
		oauthErr(http.StatusBadRequest, "invalid_request", err.Error())
	case form.Get("client_id") == "" || form.Get("client_secret") == "":
		oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed")
	case form.Get("grant_type") != "refresh_token":
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "this sandbox supports grant_type=refresh_token")
	case !strings.HasPrefix(form.Get("refresh_token"), "Atzr|"):
		oauthErr(http.StatusBadRequest, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
	default:
		refresh := form.Get("refresh_token")
		subject := subjectOf(refresh)
		s.mu.Lock()
		access, ttl := s.issueLocked(Amazon, "Atza|"+subject+".", subject)
		s.countLocked(Amazon, func(c *Counters) { c.TokenRefreshes++ })
		s.mu.Unlock()
		sim.WriteJSON(w, http.StatusOK, map[string]any{"access_token": access, "refresh_token": refresh,
			"token_type": "bearer", "expires_in": int(ttl.Seconds())})
	}
}
