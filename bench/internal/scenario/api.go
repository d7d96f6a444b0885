// Package scenario drives the fleet over its public REST surface the way a
// client does: JWTs minted like the gateway's token command, the order,
// quote and product shapes of DESIGN.md, and one load.Op per scenario.
package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/printfleet/printfleet/bench/internal/client"
)

// Token mints a development JWT the gateway accepts in HS256 mode: iss
// printfleet-dev, aud printfleet, sub, roles, exp.
func Token(secret, sub string, roles []string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": "printfleet-dev", "aud": "printfleet", "sub": sub, "roles": roles,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// API is the fleet's REST edge.
type API struct {
	Base string
	HTTP *http.Client
}

// NewAPI checks that base is a loopback URL.
func NewAPI(base string, conns int) (*API, error) {
	if err := client.Loopback(base); err != nil {
		return nil, err
	}
	return &API{Base: strings.TrimRight(base, "/"), HTTP: client.New(conns)}, nil
}

// User is a caller with a token.
type User struct {
	ID     string
	header http.Header
}

// NewUser mints a token for id with the user role.
func NewUser(secret, id string) (*User, error) {
	tok, err := Token(secret, id, []string{"user"}, 2*time.Hour)
	if err != nil {
		return nil, err
	}
	return &User{ID: id, header: http.Header{"Authorization": {"Bearer " + tok}}}, nil
}

func (u *User) with(k, v string) http.Header {
	h := http.Header{}
	if u != nil {
		for k, v := range u.header {
			h[k] = v
		}
	}
	if k != "" {
		h.Set(k, v)
	}
	return h
}

// Money is the REST money shape.
type Money struct {
	Currency    string `json:"currency"`
	AmountMinor int64  `json:"amount_minor"`
}

// UnmarshalJSON accepts amount_minor as a string (protojson's int64) or a
// number.
func (m *Money) UnmarshalJSON(b []byte) error {
	var raw struct {
		Currency    string          `json:"currency"`
		AmountMinor json.RawMessage `json:"amount_minor"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	m.Currency = raw.Currency
	s := strings.Trim(string(raw.AmountMinor), `"`)
	if s == "" || s == "null" {
		m.AmountMinor = 0
		return nil
	}
	_, err := fmt.Sscan(s, &m.AmountMinor)
	return err
}

// Variant and Product are the fields of the product shape the benchmark uses.
type Variant struct {
	ID           string `json:"id"`
	SKU          string `json:"sku"`
	InStock      bool   `json:"in_stock"`
	StockTracked bool   `json:"stock_tracked"`
	Price        Money  `json:"price"`
}

// Product is a catalog product.
type Product struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Variants []Variant `json:"variants"`
}

// Order is the order shape's fields the benchmark reads.
type Order struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Status    string    `json:"status"`
	Total     Money     `json:"total"`
	CreatedAt time.Time `json:"created_at"`
}

// ListProducts reads the first page of products (anonymous).
func (a *API) ListProducts(ctx context.Context) ([]Product, error) {
	b, err := client.Do(ctx, a.HTTP, http.MethodGet, a.Base+"/v1/products?page_size=100", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	var out struct {
		Products []Product `json:"products"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	return out.Products, nil
}

// GetProduct reads one product (anonymous).
func (a *API) GetProduct(ctx context.Context, id string) error {
	_, err := client.Do(ctx, a.HTTP, http.MethodGet, a.Base+"/v1/products/"+url.PathEscape(id), nil, nil)
	return err
}

// Item is one line of an order or a quote.
type Item struct {
	VariantID string `json:"variant_id"`
	Quantity  int    `json:"quantity"`
}

// Address is a shipping address.
type Address struct {
	Name        string `json:"name"`
	Line1       string `json:"line1"`
	City        string `json:"city"`
	Region      string `json:"region,omitempty"`
	PostalCode  string `json:"postal_code"`
	CountryCode string `json:"country_code"`
}

// CreateOrderBody is POST /v1/orders.
type CreateOrderBody struct {
	Items           []Item  `json:"items"`
	ShippingAddress Address `json:"shipping_address"`
	Currency        string  `json:"currency"`
	PaymentMethod   string  `json:"payment_method"`
}

// NewOrderBody is a two-item blank order shipped within the US, paid by
// card.
func NewOrderBody(variants []string) []byte {
	body := CreateOrderBody{
		ShippingAddress: Address{Name: "Ada Bench", Line1: "1 Load St", City: "Springfield", Region: "IL", PostalCode: "62701", CountryCode: "US"},
		Currency:        "USD", PaymentMethod: "PAYMENT_METHOD_CARD",
	}
	for _, v := range variants {
		body.Items = append(body.Items, Item{VariantID: v, Quantity: 1})
	}
	b, _ := json.Marshal(body)
	return b
}

// CreateOrder places an order with a fresh Idempotency-Key and returns it.
func (a *API) CreateOrder(ctx context.Context, u *User, key string, body []byte) (*Order, error) {
	b, err := client.Do(ctx, a.HTTP, http.MethodPost, a.Base+"/v1/orders", u.with("Idempotency-Key", key), body)
	if err != nil {
		return nil, err
	}
	var o Order
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("decode order: %w", err)
	}
	if o.ID == "" {
		return nil, fmt.Errorf("created order without an id: %.200s", b)
	}
	return &o, nil
}

// GetOrder reads one order as its owner.
func (a *API) GetOrder(ctx context.Context, u *User, id string) (*Order, error) {
	b, err := client.Do(ctx, a.HTTP, http.MethodGet, a.Base+"/v1/orders/"+url.PathEscape(id), u.with("", ""), nil)
	if err != nil {
		return nil, err
	}
	var o Order
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("decode order: %w", err)
	}
	return &o, nil
}

// ListOrders reads one page of the caller's orders and the next token.
func (a *API) ListOrders(ctx context.Context, u *User, pageSize int, token string) (n int, next string, err error) {
	q := url.Values{"page_size": {fmt.Sprint(pageSize)}}
	if token != "" {
		q.Set("page_token", token)
	}
	b, err := client.Do(ctx, a.HTTP, http.MethodGet, a.Base+"/v1/orders?"+q.Encode(), u.with("", ""), nil)
	if err != nil {
		return 0, "", err
	}
	var out struct {
		Orders        []json.RawMessage `json:"orders"`
		NextPageToken string            `json:"next_page_token"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, "", fmt.Errorf("decode order list: %w", err)
	}
	return len(out.Orders), out.NextPageToken, nil
}

// QuoteBody is POST /v1/quotes.
type QuoteBody struct {
	Items       []Item `json:"items"`
	CountryCode string `json:"country_code"`
	Currency    string `json:"currency"`
}

// Quote prices items (anonymous) and checks the answer has a total.
func (a *API) Quote(ctx context.Context, body []byte) error {
	b, err := client.Do(ctx, a.HTTP, http.MethodPost, a.Base+"/v1/quotes", nil, body)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), `"total"`) {
		return fmt.Errorf("quote without a total: %.200s", b)
	}
	return nil
}

// Ids hands out unique idempotency keys for this run.
type Ids struct {
	prefix string
	n      atomic.Int64
}

// NewIds prefixes keys with the run's start time.
func NewIds() *Ids { return &Ids{prefix: fmt.Sprintf("bench-%d-", time.Now().UnixNano())} }

// Next is a new key.
func (i *Ids) Next() string { return fmt.Sprintf("%s%d", i.prefix, i.n.Add(1)) }
