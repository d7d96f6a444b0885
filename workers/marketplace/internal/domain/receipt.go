package domain

import (
	"bytes"
	"encoding/json"
	"strings"
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

// Redactor removes known secrets from text that leaves the process. The
// adapters already keep headers and token exchanges out of their summaries;
// this is the second line, for a marketplace that echoes a token in an error.
type Redactor []string

// minSecret is the shortest value treated as a secret; replacing shorter ones
// would shred ordinary text.
const minSecret = 6

// NewRedactor redacts secrets and, for "keystring:sharedsecret" API keys, each
// half on its own.
func NewRedactor(secrets ...string) Redactor {
	var r Redactor
	add := func(s string) {
		if len(s) >= minSecret {
			r = append(r, s)
			if js, err := json.Marshal(s); err == nil { // as it appears inside JSON
				if inner := string(js[1 : len(js)-1]); inner != s {
					r = append(r, inner)
				}
			}
		}
	}
	for _, s := range secrets {
		add(s)
		// "keystring:sharedsecret" API keys: each half on its own too.
		if a, b, ok := strings.Cut(s, ":"); ok {
			add(a)
			add(b)
		}
	}
	return r
}

// String returns s with every secret replaced by "[redacted]".
func (r Redactor) String(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// Bytes returns b with every secret replaced by "[redacted]".
func (r Redactor) Bytes(b []byte) []byte {
	for _, secret := range r {
		b = bytes.ReplaceAll(b, []byte(secret), []byte("[redacted]"))
	}
	return b
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
