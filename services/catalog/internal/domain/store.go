package domain

import (
	"regexp"
	"time"
)

// Marketplace is where a store sells.
type Marketplace string

// Marketplaces.
const (
	Shopify Marketplace = "shopify"
	Etsy    Marketplace = "etsy"
	Amazon  Marketplace = "amazon"
)

// Store is a seller's marketplace connection. Its credentials live only in
// encrypted form outside of StoreCredentials.
type Store struct {
	ID                 string
	OwnerID            string
	Marketplace        Marketplace
	ShopID             string
	Name               string
	RateLimitPerSecond float64
	RateLimitBurst     int32
	CreatedAt          time.Time
	// NeedsReconnection is set when the marketplace refused the store's
	// credentials; saving refreshed tokens clears it.
	NeedsReconnection  bool
	ReconnectionReason string
	// PaymentMethod is how the seller pays for the production of the
	// store's imported orders: PaymentCard or PaymentInvoice.
	PaymentMethod string
	// Region is an Amazon store's Selling Partner API region (na, eu or
	// fe); empty for the other marketplaces.
	Region string
	// LastImportAt is when the importer last finished a poll of the store;
	// zero before the first.
	LastImportAt time.Time
	// OrderImport is ImportAuto (the importer brings the store's orders in)
	// or ImportOff (orders are typed in over REST; tracking is still pushed).
	OrderImport string
}

// Whether a store's orders are imported.
const (
	ImportAuto = "auto"
	ImportOff  = "off"
)

// Payment methods of a store's imported orders.
const (
	PaymentCard    = "card"
	PaymentInvoice = "invoice"
)

// Amazon's Selling Partner API regions; RegionNA is an Amazon store's
// default.
const (
	RegionNA = "na"
	RegionEU = "eu"
	RegionFE = "fe"
)

// ImportStore is a store as the importer polls it, with the marketplace
// adapter's opaque cursor of its last poll ("" before the first).
type ImportStore struct {
	Store  Store
	Cursor string
}

// StoreCredentials are a store's secrets. String and GoString never print
// them, so a stray log line cannot leak one.
type StoreCredentials struct {
	APIKey       string `json:"api_key,omitempty"`
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// WebhookSecret signs the marketplace's webhooks of the store (Shopify:
	// the app's client secret). It never leaves the catalog: the catalog
	// verifies the webhooks itself.
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

func (StoreCredentials) String() string   { return "StoreCredentials{***}" }
func (StoreCredentials) GoString() string { return "StoreCredentials{***}" }

// etsyKeyShape is the shape Etsy requires of x-api-key since February 2026:
// the app's keystring and shared secret joined by a colon.
var etsyKeyShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}:[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// ValidFor reports whether the credentials have the shape marketplace m
// requires, naming the field that does not.
func (c StoreCredentials) ValidFor(m Marketplace) (field, msg string, ok bool) {
	if m == Etsy && !etsyKeyShape.MatchString(c.APIKey) {
		return "credentials.api_key", "an Etsy API key is keystring:shared_secret (both from the app's page on Etsy)", false
	}
	return "", "", true
}

// Empty reports whether no credential is set.
func (c StoreCredentials) Empty() bool { return c == StoreCredentials{} }
