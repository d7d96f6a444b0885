package domain

import "time"

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
}

// StoreCredentials are a store's secrets. String and GoString never print
// them, so a stray log line cannot leak one.
type StoreCredentials struct {
	APIKey       string `json:"api_key,omitempty"`
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

func (StoreCredentials) String() string   { return "StoreCredentials{***}" }
func (StoreCredentials) GoString() string { return "StoreCredentials{***}" }

// Empty reports whether no credential is set.
func (c StoreCredentials) Empty() bool { return c == StoreCredentials{} }
