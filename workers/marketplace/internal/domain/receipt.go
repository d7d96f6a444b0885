package domain

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// ReceiptKey is where the receipt of a shipment's push lives. It is the same
// for every resend, so a redelivery overwrites it instead of adding one.
func ReceiptKey(storeID, shipmentID string) string {
	return "receipts/" + storeID + "/" + shipmentID + ".json"
}

// Receipt is what the worker keeps of a push: what was asked of the
// marketplace and what it answered, without headers, credentials or tokens.
type Receipt struct {
	Version         int    `json:"version"`
	Outcome         string `json:"outcome"` // SUCCEEDED or FAILED_PERMANENT
	OrderID         string `json:"order_id"`
	ShipmentID      string `json:"shipment_id"`
	StoreID         string `json:"store_id"`
	Marketplace     string `json:"marketplace"`
	ShopID          string `json:"shop_id,omitempty"`
	ExternalOrderID string `json:"external_order_id"`
	Carrier         string `json:"carrier"`
	TrackingNumber  string `json:"tracking_number"`
	// MessageID and DeliveryAttempt name the OrderShipped delivery handled.
	MessageID       string `json:"message_id"`
	DeliveryAttempt int    `json:"delivery_attempt"`

	// Duplicate: the marketplace already had this shipment; nothing new was
	// pushed.
	Duplicate  bool          `json:"duplicate"`
	Reference  string        `json:"reference,omitempty"`
	HTTPStatus int           `json:"http_status"`
	Attempts   int           `json:"attempts"`
	Error      *ReceiptError `json:"error,omitempty"`

	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	DurationMS float64         `json:"duration_ms"`
	Request    RequestSummary  `json:"request"`
	Response   ResponseSummary `json:"response"`
	Calls      []ReceiptCall   `json:"calls"`
}

// ReceiptError is why a push failed.
type ReceiptError struct {
	Reason  string `json:"reason,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// ReceiptCall is one HTTP exchange of the push.
type ReceiptCall struct {
	Request    RequestSummary  `json:"request"`
	Response   ResponseSummary `json:"response"`
	DurationMS float64         `json:"duration_ms"`
	Error      string          `json:"error,omitempty"`
	Token      bool            `json:"token_exchange,omitempty"`
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func toReceiptCalls(calls []Call) []ReceiptCall {
	out := make([]ReceiptCall, len(calls))
	for i, c := range calls {
		out[i] = ReceiptCall{Request: c.Request, Response: c.Response, DurationMS: millis(c.Duration), Error: c.Err, Token: c.Token}
	}
	return out
}

func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
