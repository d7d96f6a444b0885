package marketplace

// The Amazon SP-API Orders v0 stand-in (selling-partner-api-models,
// models/orders-api-model/ordersV0.json): confirmShipment with a token bucket per
// seller, packages keyed by packageReferenceId, and the Login with Amazon token
// exchange. The order side (getOrders, getOrderItems, the sellers and their
// orders) is in amazon_orders.go.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// amazonState is Amazon's state; Server.mu guards it. Reset replaces it with
// one holding only orders and buckets; amazonLocked fills in the rest.
type amazonState struct {
	orders  map[string]map[string]int // order id → packageReferenceId → index in pushes
	buckets map[string]*bucket        // by seller (confirmShipment) or operation/seller

	sellers  map[string]*amazonSeller // by selling partner id
	byClient map[string]*amazonSeller // by LWA client id
	book     map[string]*amazonOrder  // by AmazonOrderId
	pages    map[string]*amazonPage   // getOrders NextToken → the rest of its listing
	// strict: a seller has been issued, so from now on only issued credentials
	// and tokens work.
	strict bool
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

// amazonConfirm serves confirmShipment (POST /orders/v0/orders/{orderId}/shipmentConfirmation):
// 204 on success; 400 InvalidInput for a malformed body, an order item the order
// does not have or more units of one than are left to ship, a marketplace that
// is not the seller's, or a cancelled order;
// 404 NotFound for an order the seller does not have. Sellers that were never
// issued (the tokens a test makes up before any shop exists) may confirm any
// well-formed order id.
func (s *Server) amazonConfirm(w http.ResponseWriter, r *http.Request, reg amazonRegion) {
	c, ok := s.amazonAdmit(w, r, reg, opConfirmShipment)
	if !ok {
		return
	}
	now := time.Now()
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
	// A resend of a known package edits it rather than adding another: its
	// earlier items are not counted against what is left to ship.
	var before []PushLine
	i, seen := pkgs[p.PackageReferenceID]
	if seen {
		before = mk.pushes[i].Lines
	}
	var order *amazonOrder
	if c.issued != nil {
		order = s.amazon.book[orderID]
		if order == nil || order.seller != c.seller {
			s.countLocked(Amazon, func(c *Counters) { c.ValidationErrors++ })
			spErrors(w, http.StatusNotFound, spError{Code: "NotFound", Message: "The resource specified does not exist.",
				Details: "orderId: no such order for this seller"})
			return
		}
		if errs := order.checkConfirm(req, c.issued, before); len(errs) > 0 {
			s.countLocked(Amazon, func(c *Counters) { c.ValidationErrors++ })
			spErrors(w, http.StatusBadRequest, errs...)
			return
		}
	}
	lines := make([]PushLine, len(p.OrderItems))
	for j, it := range p.OrderItems {
		lines[j] = PushLine{Item: it.OrderItemID, Quantity: it.Quantity}
	}
	if seen {
		push := &mk.pushes[i]
		push.Carrier, push.TrackingNumber, push.Lines = carrier, p.TrackingNumber, lines
		push.Updates++
		mk.counters.Updates++
	} else {
		s.recordLocked(Amazon, Push{Store: c.seller, Order: orderID, Ref: p.PackageReferenceID, Carrier: carrier,
			TrackingNumber: p.TrackingNumber, Lines: lines})
		pkgs[p.PackageReferenceID] = len(mk.pushes) - 1
	}
	if order != nil {
		order.ship(before, p.OrderItems, now)
	}
	w.WriteHeader(http.StatusNoContent)
}

// amazonToken is the Login with Amazon token exchange (POST /auth/o2/token,
// grant_type=refresh_token with client_id and client_secret): a 1 h access
// token. Once a seller has been issued, only an issued client with its own
// seller's refresh token is exchanged (401 invalid_client, 400 invalid_grant).
func (s *Server) amazonToken(w http.ResponseWriter, r *http.Request) {
	if !s.arrive(r, Amazon) {
		return
	}
	form, err := formOrJSON(w, r)
	oauthErr := func(status int, code, desc string) {
		s.count(Amazon, func(c *Counters) { c.AuthFailures++ })
		sim.WriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	switch {
	case err != nil:
		oauthErr(http.StatusBadRequest, "invalid_request", err.Error())
		return
	case form.Get("client_id") == "" || form.Get("client_secret") == "":
		oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	case form.Get("grant_type") != "refresh_token":
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "this sandbox supports grant_type=refresh_token")
		return
	case !strings.HasPrefix(form.Get("refresh_token"), "Atzr|"):
		oauthErr(http.StatusBadRequest, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
		return
	}
	refresh := form.Get("refresh_token")
	subject := subjectOf(refresh)
	s.mu.Lock()
	st := s.amazonLocked()
	if st.strict {
		sel := st.byClient[form.Get("client_id")]
		if sel == nil || !equalSecret(sel.clientSecret, form.Get("client_secret")) {
			s.mu.Unlock()
			oauthErr(http.StatusUnauthorized, "invalid_client", "Client authentication failed")
			return
		}
		if !equalSecret(sel.refresh, refresh) {
			s.mu.Unlock()
			oauthErr(http.StatusBadRequest, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
			return
		}
		subject = sel.id
	}
	access, ttl := s.issueLocked(Amazon, "Atza|"+subject+".", subject)
	s.countLocked(Amazon, func(c *Counters) { c.TokenRefreshes++ })
	s.mu.Unlock()
	sim.WriteJSON(w, http.StatusOK, map[string]any{"access_token": access, "refresh_token": refresh,
		"token_type": "bearer", "expires_in": int(ttl.Seconds())})
}
