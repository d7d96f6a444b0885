// Package domain is the marketplace worker's vocabulary: the stores it pushes
// for, the shipments it pushes, what a marketplace answered, how a push is
// classified when it fails, and the receipt and report of every push. It
// does no I/O and knows no wire format: the marketplace clients speak HTTP,
// the message side speaks protobuf.
package domain

import (
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Marketplace names a marketplace.
type Marketplace string

// The marketplaces the worker pushes to.
const (
	Shopify Marketplace = "shopify"
	Etsy    Marketplace = "etsy"
	Amazon  Marketplace = "amazon"
)

// Credentials are a store's marketplace secrets. They format as "[redacted]" so that
// logging a Store never leaks them.
type Credentials struct {
	APIKey       string // Etsy x-api-key
	AccessToken  string // Shopify admin token, Etsy bearer, Amazon LWA access token
	RefreshToken string // Etsy and Amazon OAuth refresh token
	ClientID     string // OAuth client id (Etsy: the API keystring when empty)
	ClientSecret string // Amazon LWA client secret
}

func (Credentials) String() string               { return "[redacted]" }
func (Credentials) GoString() string             { return "domain.Credentials{[redacted]}" }
func (Credentials) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (Credentials) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Store is one connected marketplace store.
type Store struct {
	ID          string // our store id; budgets and tokens are kept per store
	Marketplace Marketplace
	// ShopID is the Shopify shop ("acme" or "acme.myshopify.com"), the Etsy numeric
	// shop_id, or the Amazon marketplaceId (e.g. ATVPDKIKX0DER).
	ShopID      string
	Credentials Credentials
	// BaseURL overrides the marketplace's API root, e.g. the sandbox's
	// "http://127.0.0.1:9302/shopify/acme", ".../etsy" or ".../amazon".
	BaseURL string
	// TokenURL overrides the OAuth token endpoint (default: derived from BaseURL, or
	// the marketplace's production endpoint).
	TokenURL string
	// OwnerID is the seller who connected the store: imported orders are
	// theirs.
	OwnerID string
	// Region is an Amazon seller's Selling Partner API region: na, eu or fe
	// (empty: derived from the marketplace id, else na).
	Region string
	// PaymentMethod is how the seller pays for imported orders: card or
	// invoice.
	PaymentMethod string
}

// Item is one shipped order line, identified by the marketplace's line id.
type Item struct {
	ExternalID string // Amazon orderItemId, Shopify line item gid
	SKU        string
	Quantity   int
}

// Shipment is what a fulfillment partner shipped for one order.
type Shipment struct {
	ShipmentID      string // ours; stable across resends
	OrderID         string // ours
	ExternalOrderID string // the marketplace's order: Shopify order id or gid, Etsy receipt_id, Amazon order id
	Carrier         string
	TrackingNumber  string
	TrackingURL     string
	ShippedAt       time.Time
	Items           []Item
}

// Validate reports what a shipment lacks for any marketplace.
func (s Shipment) Validate() error {
	var missing []string
	for name, v := range map[string]string{"shipment id": s.ShipmentID, "external order id": s.ExternalOrderID,
		"carrier": s.Carrier, "tracking number": s.TrackingNumber} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return &Error{Kind: KindPermanent, Reason: ReasonInvalid, Op: "validate shipment",
			Message: "missing " + strings.Join(missing, ", ")}
	}
	return nil
}

// RequestSummary describes an outbound request for a receipt: no headers, and no
// body for credential exchanges.
type RequestSummary struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Body   string `json:"body,omitempty"`
}

// ResponseSummary describes a marketplace's answer for a receipt.
type ResponseSummary struct {
	Status    int    `json:"status"`
	RequestID string `json:"request_id,omitempty"`
	Body      string `json:"body,omitempty"`
}

// Call is one HTTP exchange made during a push.
type Call struct {
	Request  RequestSummary  `json:"request"`
	Response ResponseSummary `json:"response"`
	Duration time.Duration   `json:"duration"`
	Err      string          `json:"error,omitempty"`
	// Token marks an OAuth token exchange (not counted in Result.Attempts).
	Token bool `json:"token,omitempty"`
}

// Result is what a push did, for the order timeline and the receipt written to S3.
type Result struct {
	// Status is the HTTP status of the last marketplace API call.
	Status int `json:"status"`
	// Attempts counts HTTP requests sent to the marketplace API (token exchanges
	// excluded).
	Attempts int `json:"attempts"`
	// Duplicate is true when the marketplace already had this shipment, so nothing
	// new was pushed.
	Duplicate bool `json:"duplicate"`
	// Reference is the marketplace's id for the push: fulfillment gid, receipt
	// shipping id, or packageReferenceId.
	Reference string          `json:"reference,omitempty"`
	Request   RequestSummary  `json:"request"`
	Response  ResponseSummary `json:"response"`
	Calls     []Call          `json:"calls"`
	Duration  time.Duration   `json:"duration"`
}
