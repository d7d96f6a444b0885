package payment

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// PaymentIntent is the provider's payment intent object.
type PaymentIntent struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Amount           int64             `json:"amount"`
	AmountReceived   int64             `json:"amount_received"`
	Currency         string            `json:"currency"`
	Status           string            `json:"status"`
	PaymentMethod    string            `json:"payment_method,omitempty"`
	ClientSecret     string            `json:"client_secret"`
	LatestCharge     string            `json:"latest_charge,omitempty"`
	LastPaymentError *apiError         `json:"last_payment_error"`
	Metadata         map[string]string `json:"metadata"`
	Created          int64             `json:"created"`
	Livemode         bool              `json:"livemode"`
}

// Refund is the provider's refund object.
type Refund struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	Amount        int64             `json:"amount"`
	Currency      string            `json:"currency"`
	PaymentIntent string            `json:"payment_intent"`
	Charge        string            `json:"charge"`
	Reason        string            `json:"reason,omitempty"`
	Status        string            `json:"status"`
	Metadata      map[string]string `json:"metadata"`
	Created       int64             `json:"created"`
}

// Charge is one confirmed charge attempt as the ledger records it.
type Charge struct {
	PaymentIntent  string    `json:"payment_intent"`
	OrderID        string    `json:"order_id"`
	Amount         int64     `json:"amount"`
	Currency       string    `json:"currency"`
	Status         string    `json:"status"` // succeeded or declined
	DeclineCode    string    `json:"decline_code,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	At             time.Time `json:"at"`
}

// RefundRecord is one refund as the ledger records it.
type RefundRecord struct {
	ID             string    `json:"id"`
	PaymentIntent  string    `json:"payment_intent"`
	OrderID        string    `json:"order_id"`
	Amount         int64     `json:"amount"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	At             time.Time `json:"at"`
}

// OrderSummary totals the ledger for one metadata[order_id].
type OrderSummary struct {
	// SuccessfulCharges counts distinct payment intents that succeeded; a correct
	// caller leaves it at 1 however often it retried.
	SuccessfulCharges int   `json:"successful_charges"`
	Declines          int   `json:"declines"`
	AmountCharged     int64 `json:"amount_charged"`
	AmountRefunded    int64 `json:"amount_refunded"`
}

// Ledger is everything the provider charged and refunded, as GET /_sandbox/payments
// returns it.
type Ledger struct {
	Charges []Charge                `json:"charges"`
	Refunds []RefundRecord          `json:"refunds"`
	Orders  map[string]OrderSummary `json:"orders"`
}

// Stats counts requests by outcome, as GET /_sandbox/stats returns them.
type Stats struct {
	Requests             int `json:"requests"`
	PaymentIntents       int `json:"payment_intents"`
	Succeeded            int `json:"succeeded"`
	Declines             int `json:"declines"`
	Refunds              int `json:"refunds"`
	Replays              int `json:"replays"`
	IdempotencyConflicts int `json:"idempotency_conflicts"`
	InFlightConflicts    int `json:"in_flight_conflicts"`
	InjectedErrors       int `json:"injected_errors"`
	OutageRejections     int `json:"outage_rejections"`
	AuthFailures         int `json:"auth_failures"`
	InvalidRequests      int `json:"invalid_requests"`
}

// Payments returns a copy of the ledger with per-order totals.
func (s *Server) Payments() Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := Ledger{
		Charges: slices.Clone(s.ledger.Charges),
		Refunds: slices.Clone(s.ledger.Refunds),
		Orders:  map[string]OrderSummary{},
	}
	for _, c := range l.Charges {
		if c.OrderID == "" {
			continue
		}
		o := l.Orders[c.OrderID]
		if c.Status == "succeeded" {
			o.SuccessfulCharges++
			o.AmountCharged += c.Amount
		} else {
			o.Declines++
		}
		l.Orders[c.OrderID] = o
	}
	for _, r := range l.Refunds {
		if r.OrderID == "" {
			continue
		}
		o := l.Orders[r.OrderID]
		o.AmountRefunded += r.Amount
		l.Orders[r.OrderID] = o
	}
	return l
}

// Stats returns the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

var currencyRE = regexp.MustCompile(`^[a-z]{3}$`)

func invalid(param, code, msg string) reply {
	return reply{status: http.StatusBadRequest, body: errorBody(apiError{
		Type: "invalid_request_error", Code: code, Param: param, Message: msg})}
}

func missing(param string) reply {
	return invalid(param, "parameter_missing", "Missing required param: "+param+".")
}

// metadata collects metadata[key]=value parameters.
func metadata(form url.Values) (map[string]string, error) {
	md := map[string]string{}
	for k, v := range form {
		if !strings.HasPrefix(k, "metadata[") {
			continue
		}
		if !strings.HasSuffix(k, "]") || len(k) <= len("metadata[]") {
			return nil, fmt.Errorf("invalid metadata parameter %q", k)
		}
		if len(v[0]) > 500 {
			return nil, fmt.Errorf("metadata value for %q is longer than 500 characters", k)
		}
		md[k[len("metadata["):len(k)-1]] = v[0]
	}
	if len(md) > 50 {
		return nil, fmt.Errorf("metadata has more than 50 keys")
	}
	return md, nil
}

// declineFor tells whether a payment method is one of the provider's decline test
// methods, and with which codes.
func declineFor(pm string) (code, declineCode string, declined bool) {
	switch pm {
	case "pm_card_chargeDeclined", "pm_card_visa_chargeDeclined":
		return "card_declined", "generic_decline", true
	case "pm_card_chargeDeclinedInsufficientFunds":
		return "card_declined", "insufficient_funds", true
	case "pm_card_chargeDeclinedExpiredCard":
		return "expired_card", "expired_card", true
	}
	return "", "", false
}

func (s *Server) createIntent(form url.Values, idemKey string) reply {
	fail := func(r reply) reply { s.count(func(st *Stats) { st.InvalidRequests++ }); return r }
	amountText := form.Get("amount")
	if amountText == "" {
		return fail(missing("amount"))
	}
	amount, err := strconv.ParseInt(amountText, 10, 64)
	if err != nil || amount < 1 || amount > 99_999_999 {
		return fail(invalid("amount", "parameter_invalid_integer", "Invalid integer: "+amountText+"; amount must be between 1 and 99999999."))
	}
	currency := strings.ToLower(form.Get("currency"))
	if currency == "" {
		return fail(missing("currency"))
	}
	if !currencyRE.MatchString(currency) {
		return fail(invalid("currency", "parameter_invalid_string", "Invalid currency: "+currency+"."))
	}
	md, err := metadata(form)
	if err != nil {
		return fail(invalid("metadata", "parameter_invalid", err.Error()))
	}
	pm := form.Get("payment_method")
	if pm != "" && !strings.HasPrefix(pm, "pm_") {
		return fail(invalid("payment_method", "resource_missing", "No such PaymentMethod: '"+pm+"'"))
	}
	confirm := false
	if c := form.Get("confirm"); c != "" {
		if confirm, err = strconv.ParseBool(c); err != nil {
			return fail(invalid("confirm", "parameter_invalid_boolean", "Invalid boolean: "+c))
		}
	}
	if confirm && pm == "" {
		return fail(invalid("payment_method", "payment_intent_unexpected_state",
			"You cannot confirm this PaymentIntent because it's missing a payment method."))
	}

	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	pi := &PaymentIntent{
		ID: fmt.Sprintf("pi_%04d%s", s.seq, s.dice.Hex(20)), Object: "payment_intent",
		Amount: amount, Currency: currency, Status: "requires_confirmation",
		PaymentMethod: pm, Metadata: md, Created: now.Unix(),
	}
	pi.ClientSecret = pi.ID + "_secret_" + s.dice.Hex(16)
	if pm == "" {
		pi.Status = "requires_payment_method"
	}
	s.intents[pi.ID] = pi
	s.orderOf[pi.ID] = md["order_id"]
	s.stats.PaymentIntents++
	if !confirm {
		return reply{status: http.StatusOK, body: pi, save: true}
	}

	code, declineCode, declined := declineFor(pm)
	if !declined && s.dice.Hit(s.faults.DeclineRate) {
		code, declineCode, declined = "card_declined", "generic_decline", true
	}
	charge := Charge{PaymentIntent: pi.ID, OrderID: md["order_id"], Amount: amount, Currency: currency,
		IdempotencyKey: idemKey, At: now}
	if declined {
		e := apiError{Type: "card_error", Code: code, DeclineCode: declineCode, Param: "payment_method",
			Message: "Your card was declined."}
		if code == "expired_card" {
			e.Message = "Your card has expired."
		}
		pi.Status = "requires_payment_method"
		last := e // without the intent inside, or the two would point at each other
		pi.LastPaymentError = &last
		snapshot := *pi
		e.PaymentIntent = &snapshot
		charge.Status, charge.DeclineCode = "declined", declineCode
		s.ledger.Charges = append(s.ledger.Charges, charge)
		s.stats.Declines++
		// The provider ran the charge, so the decline is the key's answer from now on.
		return reply{status: http.StatusPaymentRequired, body: errorBody(e), save: true}
	}
	pi.Status = "succeeded"
	pi.AmountReceived = amount
	pi.LatestCharge = "ch_" + s.dice.Hex(24)
	charge.Status = "succeeded"
	s.ledger.Charges = append(s.ledger.Charges, charge)
	s.stats.Succeeded++
	return reply{status: http.StatusOK, body: pi, save: true}
}

func (s *Server) createRefund(form url.Values, idemKey string) reply {
	fail := func(r reply) reply { s.count(func(st *Stats) { st.InvalidRequests++ }); return r }
	piID := form.Get("payment_intent")
	if piID == "" {
		return fail(missing("payment_intent"))
	}
	md, err := metadata(form)
	if err != nil {
		return fail(invalid("metadata", "parameter_invalid", err.Error()))
	}
	var amount int64 = -1
	if a := form.Get("amount"); a != "" {
		amount, err = strconv.ParseInt(a, 10, 64)
		if err != nil || amount < 1 {
			return fail(invalid("amount", "parameter_invalid_integer", "Invalid positive integer: "+a))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.intents[piID]
	if !ok {
		s.stats.InvalidRequests++
		return reply{status: http.StatusNotFound, body: errorBody(apiError{Type: "invalid_request_error",
			Code: "resource_missing", Param: "payment_intent", Message: "No such payment_intent: '" + piID + "'"})}
	}
	if pi.Status != "succeeded" {
		s.stats.InvalidRequests++
		return invalid("payment_intent", "charge_not_refundable",
			"This PaymentIntent does not have a successful charge to refund.")
	}
	var refunded int64
	for _, r := range s.ledger.Refunds {
		if r.PaymentIntent == piID {
			refunded += r.Amount
		}
	}
	left := pi.AmountReceived - refunded
	if left == 0 {
		s.stats.InvalidRequests++
		return invalid("payment_intent", "charge_already_refunded",
			"Charge "+pi.LatestCharge+" has already been refunded.")
	}
	if amount < 0 {
		amount = left
	}
	if amount > left {
		s.stats.InvalidRequests++
		return invalid("amount", "amount_too_large", fmt.Sprintf(
			"Refund amount (%d) is greater than unrefunded amount on charge (%d).", amount, left))
	}
	now := time.Now()
	s.seq++
	rf := &Refund{ID: fmt.Sprintf("re_%04d%s", s.seq, s.dice.Hex(20)), Object: "refund", Amount: amount,
		Currency: pi.Currency, PaymentIntent: piID, Charge: pi.LatestCharge, Reason: form.Get("reason"),
		Status: "succeeded", Metadata: md, Created: now.Unix()}
	s.ledger.Refunds = append(s.ledger.Refunds, RefundRecord{ID: rf.ID, PaymentIntent: piID,
		OrderID: s.orderOf[piID], Amount: amount, IdempotencyKey: idemKey, At: now})
	s.stats.Refunds++
	return reply{status: http.StatusOK, body: rf, save: true}
}

func (s *Server) getIntent(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Requests++ })
	if _, ok := bearerKey(r); !ok {
		s.count(func(st *Stats) { st.AuthFailures++ })
		writeError(w, http.StatusUnauthorized, apiError{Type: "invalid_request_error", Message: "Invalid API Key provided."})
		return
	}
	s.mu.Lock()
	pi, ok := s.intents[r.PathValue("id")]
	var cp PaymentIntent
	if ok {
		cp = *pi
		cp.Metadata = maps.Clone(pi.Metadata)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, apiError{Type: "invalid_request_error", Code: "resource_missing",
			Param: "intent", Message: "No such payment_intent: '" + r.PathValue("id") + "'"})
		return
	}
	sim.WriteJSON(w, http.StatusOK, cp)
}
