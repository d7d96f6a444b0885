package marketplace

// The Etsy part of the sandbox admin API: issue a shop with its credentials,
// place a paid receipt in it, cancel a receipt. The same operations are methods
// for tests in Go.

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// Base values of the ids the Etsy stand-in hands out; each issue adds one.
const (
	etsyShopBase        = 50_000_000
	etsyUserBase        = 700_000_000
	etsyReceiptBase     = 3_000_000_000
	etsyTransactionBase = 4_000_000_000
)

// etsyShopRequest is the body of POST /_sandbox/{marketplace}/shops.
type etsyShopRequest struct {
	ShopID string `json:"shop_id"`
	Region string `json:"region"`
}

// EtsyCredentials are the credentials issued with an Etsy shop, named as
// printfleet's POST /v1/stores takes them.
type EtsyCredentials struct {
	APIKey       string `json:"api_key"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ClientID     string `json:"client_id"`
}

// EtsyStore is the body to POST to printfleet's /v1/stores (plus a name).
type EtsyStore struct {
	Marketplace string          `json:"marketplace"`
	ShopID      string          `json:"shop_id"`
	Region      string          `json:"region"`
	Credentials EtsyCredentials `json:"credentials"`
}

// EtsyShop is the answer to POST /_sandbox/etsy/shops.
type EtsyShop struct {
	ShopID string    `json:"shop_id"`
	Store  EtsyStore `json:"store"`
}

// EtsyOrderLine is one line of the body of POST
// /_sandbox/etsy/shops/{shop_id}/orders (EtsyOrderRequest, with an
// OrderAddress).
type EtsyOrderLine struct {
	ProductID string `json:"product_id"`
	VariantID string `json:"variant_id"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	Title     string `json:"title"`
}

// OrderAddress is the ship-to address of an order placed through the
// admin API, the same for every marketplace; each stand-in renders it in
// its own wire format.
type OrderAddress struct {
	Name        string `json:"name"`
	Line1       string `json:"line1"`
	Line2       string `json:"line2"`
	City        string `json:"city"`
	Region      string `json:"region"`
	PostalCode  string `json:"postal_code"`
	CountryCode string `json:"country_code"`
}

// EtsyOrderRequest is a sandbox order to place.
type EtsyOrderRequest struct {
	Lines    []EtsyOrderLine `json:"lines"`
	Address  OrderAddress    `json:"address"`
	Currency string          `json:"currency"`
}

// EtsyPlacedOrder is the answer to a placed sandbox order: the marketplace's
// order id and its line ids, as the importer and the tracking push name them.
type EtsyPlacedOrder struct {
	OrderID string   `json:"order_id"`
	ItemIDs []string `json:"item_ids"`
}

// errEtsyNotFound marks an unknown shop or order.
var errEtsyNotFound = errors.New("not found")

// etsyNextLocked hands out the next id above base.
func (s *Server) etsyNextLocked(base int64) int64 {
	s.etsy.ids++
	return base + s.etsy.ids
}

// EtsyShop issues an Etsy shop (shopID "" picks a numeric id) with an app key
// "keystring:shared_secret", an access token "<user_id>.<random>" and a
// refresh token. Only credentials issued this way work at the Etsy API. A shop
// issued before is authorized again: the same key, a new token pair (the
// earlier tokens keep working).
func (s *Server) EtsyShop(shopID string) (EtsyShop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var id int64
	if shopID != "" {
		n, ok := parseID(shopID)
		if !ok {
			return EtsyShop{}, fmt.Errorf("shop_id %q is not a positive integer", shopID)
		}
		id = n
	} else {
		for id == 0 || s.etsy.shops[id] != nil {
			id = s.etsyNextLocked(etsyShopBase)
		}
	}
	if s.etsy.shops == nil {
		s.etsy.shops, s.etsy.keys, s.etsy.users = map[int64]*etsyShop{}, map[string]bool{}, map[string]int64{}
	}
	sh := s.etsy.shops[id]
	if sh == nil {
		sh = &etsyShop{id: id, userID: s.etsyNextLocked(etsyUserBase), keystring: "keystring" + s.dice.Hex(20)}
		sh.key = sh.keystring + ":secret" + s.dice.Hex(10)
		s.etsy.shops[id] = sh
		s.etsy.keys[sh.key] = true
	}
	key := sh.key
	user := strconv.FormatInt(sh.userID, 10)
	s.etsy.users[user] = id
	access, _, refresh := s.etsyIssueLocked(user)
	sid := strconv.FormatInt(id, 10)
	return EtsyShop{ShopID: sid, Store: EtsyStore{Marketplace: "MARKETPLACE_ETSY", ShopID: sid,
		Credentials: EtsyCredentials{APIKey: key, AccessToken: access, RefreshToken: refresh, ClientID: sh.keystring}}}, nil
}

// EtsyOrder places a paid receipt in the shop: each line's product_id is the
// listing_id, variant_id the product_id (both numeric; empty picks one).
func (s *Server) EtsyOrder(shopID string, o EtsyOrderRequest) (EtsyPlacedOrder, error) {
	if len(o.Lines) == 0 || len(o.Lines) > 50 {
		return EtsyPlacedOrder{}, errors.New("an order needs 1 to 50 lines")
	}
	cur := strings.ToUpper(strings.TrimSpace(o.Currency))
	if cur == "" {
		cur = "USD"
	}
	if len(cur) != 3 {
		return EtsyPlacedOrder{}, fmt.Errorf("currency %q is not an ISO 4217 code", o.Currency)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := parseID(shopID)
	if s.etsy.shops[id] == nil {
		return EtsyPlacedOrder{}, fmt.Errorf("shop %q: %w", shopID, errEtsyNotFound)
	}
	num := func(v, name string) (int64, error) {
		if v == "" {
			return s.etsyNextLocked(1_000_000_000), nil
		}
		n, ok := parseID(v)
		if !ok {
			return 0, fmt.Errorf("%s %q is not an Etsy id (a positive integer)", name, v)
		}
		return n, nil
	}
	now := time.Now()
	rc := &etsyReceipt{shopID: id, created: now, updated: now, status: "Paid", currency: cur,
		address: etsyAddress{name: o.Address.Name, firstLine: o.Address.Line1, secondLine: o.Address.Line2, city: o.Address.City,
			state: o.Address.Region, zip: o.Address.PostalCode, countryISO: strings.ToUpper(o.Address.CountryCode)}}
	for _, l := range o.Lines {
		listing, err := num(l.ProductID, "product_id")
		if err != nil {
			return EtsyPlacedOrder{}, err
		}
		product, err := num(l.VariantID, "variant_id")
		if err != nil {
			return EtsyPlacedOrder{}, err
		}
		if l.Quantity < 1 || l.Quantity > 999 {
			return EtsyPlacedOrder{}, fmt.Errorf("quantity %d out of range 1..999", l.Quantity)
		}
		rc.transactions = append(rc.transactions, etsyTransaction{listingID: listing, productID: product, sku: l.SKU,
			title: l.Title, quantity: l.Quantity})
	}
	rc.receiptID = s.etsyNextLocked(etsyReceiptBase)
	out := EtsyPlacedOrder{OrderID: strconv.FormatInt(rc.receiptID, 10)}
	for i := range rc.transactions {
		rc.transactions[i].transactionID = s.etsyNextLocked(etsyTransactionBase)
		out.ItemIDs = append(out.ItemIDs, strconv.FormatInt(rc.transactions[i].transactionID, 10))
	}
	s.etsy.receipts[out.OrderID] = rc
	return out, nil
}

// EtsyCancel cancels the shop's receipt: its status reads Canceled and its
// update timestamp moves.
func (s *Server) EtsyCancel(shopID, receiptID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sid, _ := parseID(shopID)
	rid, _ := parseID(receiptID)
	rc := s.etsyReceiptLocked(sid, rid)
	if rc == nil {
		return fmt.Errorf("receipt %q of shop %q: %w", receiptID, shopID, errEtsyNotFound)
	}
	rc.status = "Canceled"
	// Timestamps are whole seconds at Etsy: move the update to a later second
	// so that a poll by min_last_modified sees the change.
	rc.updated = time.Now()
	if rc.updated.Unix() <= rc.created.Unix() {
		rc.updated = time.Unix(rc.created.Unix()+1, 0)
	}
	return nil
}

func etsyAdminError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, errEtsyNotFound):
		status = http.StatusNotFound
	}
	sim.WriteJSON(w, status, map[string]string{"error": err.Error()})
}

func (s *Server) postEtsyShop(w http.ResponseWriter, r *http.Request) {
	var req etsyShopRequest
	if r.ContentLength != 0 {
		if err := sim.DecodeJSON(w, r, &req); err != nil {
			etsyAdminError(w, fmt.Errorf("invalid JSON: %w", err))
			return
		}
	}
	shop, err := s.EtsyShop(strings.TrimSpace(req.ShopID))
	if err != nil {
		etsyAdminError(w, err)
		return
	}
	sim.WriteJSON(w, http.StatusCreated, shop)
}

func (s *Server) postEtsyOrder(w http.ResponseWriter, r *http.Request) {
	var req EtsyOrderRequest
	if err := sim.DecodeJSON(w, r, &req); err != nil {
		etsyAdminError(w, fmt.Errorf("invalid JSON: %w", err))
		return
	}
	placed, err := s.EtsyOrder(r.PathValue("shop_id"), req)
	if err != nil {
		etsyAdminError(w, err)
		return
	}
	sim.WriteJSON(w, http.StatusCreated, placed)
}

func (s *Server) postEtsyCancel(w http.ResponseWriter, r *http.Request) {
	if err := s.EtsyCancel(r.PathValue("shop_id"), r.PathValue("order_id")); err != nil {
		etsyAdminError(w, err)
		return
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{})
}
