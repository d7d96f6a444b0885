package marketplace

// The order side of the Amazon stand-in, after selling-partner-api-models
// (models/orders-api-model/ordersV0.json): the operations getOrders
// (GET /orders/v0/orders) and getOrderItems (GET /orders/v0/orders/{orderId}/orderItems)
// with their GetOrdersResponse / GetOrderItemsResponse envelopes ("payload"),
// the usage plans of the model (getOrders 0.0167 requests per second, burst 20;
// getOrderItems 0.5, burst 30; confirmShipment 2, burst 10) as token buckets per
// operation and seller announced in x-amzn-RateLimit-Limit, and 429 QuotaExceeded
// over budget. Sellers live in one of three regions, each served under its own
// root like the SP-API's regional endpoints: na at /amazon
// (sellingpartnerapi-na), eu at /amazon-eu, fe at /amazon-fe; a seller's token
// is refused at another region's root.
//
// The admin routes issue sellers (LWA client, refresh token) and place and
// cancel their orders:
//
//	POST /_sandbox/amazon/shops                                {"shop_id":"optional seller id","region":"na|eu|fe"}
//	POST /_sandbox/amazon/shops/{seller}/orders                the common order body
//	GET  /_sandbox/amazon/shops/{seller}/orders/{orderId}      the order and its items as getOrders shows them
//	POST /_sandbox/amazon/shops/{seller}/orders/{orderId}/cancel

import (
	"cmp"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// The operations with a usage plan of their own.
const (
	opConfirmShipment = "confirmShipment"
	opGetOrders       = "getOrders"
	opGetOrderItems   = "getOrderItems"
)

// amazonItemsPerPage is how many order items one getOrderItems page holds; the
// model leaves the size to Amazon.
const amazonItemsPerPage = 5

// amazonRegion is one SP-API region as the sandbox serves it.
type amazonRegion struct {
	name, root    string
	marketplaceID string // the region's marketplace the sandbox's sellers sell in
	salesChannel  string
	currency      string
}

// amazonRegions lists the served regions; the marketplace ids are Amazon's own
// (US, DE, JP).
var amazonRegions = []amazonRegion{
	{name: "na", root: "/amazon", marketplaceID: "ATVPDKIKX0DER", salesChannel: "Amazon.com", currency: "USD"},
	{name: "eu", root: "/amazon-eu", marketplaceID: "A1PA6795UKMFR9", salesChannel: "Amazon.de", currency: "EUR"},
	{name: "fe", root: "/amazon-fe", marketplaceID: "A1VC38T7YXB528", salesChannel: "Amazon.co.jp", currency: "JPY"},
}

func amazonRegionNamed(name string) (amazonRegion, bool) {
	for _, r := range amazonRegions {
		if r.name == name {
			return r, true
		}
	}
	return amazonRegion{}, false
}

// amazonSeller is a selling partner the sandbox issued, with its LWA client.
type amazonSeller struct {
	id, region, marketplaceID       string
	clientID, clientSecret, refresh string
}

// amazonOrder is one order of a seller.
type amazonOrder struct {
	id, seller, marketplaceID, salesChannel string
	status                                  string
	purchased, updated                      time.Time
	currency                                string
	address                                 amazonAddress
	items                                   []*amazonItem
}

type amazonItem struct {
	id, asin, sku, title string
	quantity, shipped    int
	unitPrice            int // in hundredths
}

// amazonAddress is the model's Address.
type amazonAddress struct {
	Name          string `json:"Name"`
	AddressLine1  string `json:"AddressLine1,omitempty"`
	AddressLine2  string `json:"AddressLine2,omitempty"`
	City          string `json:"City,omitempty"`
	StateOrRegion string `json:"StateOrRegion,omitempty"`
	PostalCode    string `json:"PostalCode,omitempty"`
	CountryCode   string `json:"CountryCode,omitempty"`
}

// amazonPage is what is left of a getOrders listing after a page: the order
// ids matched by the first request, in order.
type amazonPage struct {
	seller            string
	ids               []string
	size              int
	lastUpdatedBefore string
	createdBefore     string
}

// amazonLocked returns Amazon's state with every map made; the caller holds s.mu.
func (s *Server) amazonLocked() *amazonState {
	st := &s.amazon
	if st.sellers == nil {
		st.sellers = map[string]*amazonSeller{}
		st.byClient = map[string]*amazonSeller{}
		st.book = map[string]*amazonOrder{}
		st.pages = map[string]*amazonPage{}
	}
	if st.orders == nil {
		st.orders = map[string]map[string]int{}
	}
	if st.buckets == nil {
		st.buckets = map[string]*bucket{}
	}
	return st
}

// mountAmazon serves every region's SP-API root, the token exchange under each,
// and the admin routes.
func (s *Server) mountAmazon() {
	for _, reg := range amazonRegions {
		s.mux.HandleFunc("POST "+reg.root+"/orders/v0/orders/{orderId}/shipmentConfirmation",
			func(w http.ResponseWriter, r *http.Request) { s.amazonConfirm(w, r, reg) })
		s.mux.HandleFunc("GET "+reg.root+"/orders/v0/orders",
			func(w http.ResponseWriter, r *http.Request) { s.amazonGetOrders(w, r, reg) })
		s.mux.HandleFunc("GET "+reg.root+"/orders/v0/orders/{orderId}/orderItems",
			func(w http.ResponseWriter, r *http.Request) { s.amazonGetOrderItems(w, r, reg) })
		s.mux.HandleFunc("POST "+reg.root+"/auth/o2/token", s.amazonToken)
	}
	s.mux.HandleFunc("POST /_sandbox/amazon/shops", s.amazonNewSeller)
	s.mux.HandleFunc("POST /_sandbox/amazon/shops/{seller}/orders", s.amazonNewOrder)
	s.mux.HandleFunc("GET /_sandbox/amazon/shops/{seller}/orders/{orderId}", s.amazonShowOrder)
	s.mux.HandleFunc("POST /_sandbox/amazon/shops/{seller}/orders/{orderId}/cancel", s.amazonCancelOrder)
}

func equalSecret(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// --- the API preamble ---

// amazonCaller is who an admitted request came from: the seller, and the
// issued seller's record (nil for a token a test made up before any seller
// was issued).
type amazonCaller struct {
	seller string
	issued *amazonSeller
}

// amazonLimit is an operation's usage plan: rate per second and burst.
func (s *Server) amazonLimit(op string) (float64, float64) {
	l := s.limits
	pick := func(v, def float64) float64 {
		if v > 0 {
			return v
		}
		return def
	}
	switch op {
	case opGetOrders:
		return pick(l.AmazonOrdersRate, 0.0167), pick(float64(l.AmazonOrdersBurst), 20)
	case opGetOrderItems:
		return pick(l.AmazonItemsRate, 0.5), pick(float64(l.AmazonItemsBurst), 30)
	}
	return l.AmazonRate, float64(l.AmazonBurst)
}

// amazonAdmit runs what every SP-API operation does first: the request id,
// latency and error switches, the access token (403 Unauthorized), the seller's
// region, and the operation's bucket for the seller (429 QuotaExceeded).
func (s *Server) amazonAdmit(w http.ResponseWriter, r *http.Request, reg amazonRegion, op string) (amazonCaller, bool) {
	w.Header().Set("x-amzn-RequestId", s.dice.Hex(8)+"-"+s.dice.Hex(4)+"-"+s.dice.Hex(4)+"-"+s.dice.Hex(4)+"-"+s.dice.Hex(12))
	if !s.arrive(r, Amazon) {
		return amazonCaller{}, false
	}
	if r.Method == http.MethodGet {
		s.count(Amazon, func(c *Counters) { c.Reads++ })
	}
	if s.injectError(Amazon) {
		spErrors(w, http.StatusInternalServerError, spError{Code: "InternalFailure",
			Message: "We encountered an internal error. Please try again.", Details: "injected"})
		return amazonCaller{}, false
	}
	token := r.Header.Get("x-amz-access-token")
	now := time.Now()
	s.mu.Lock()
	st := s.amazonLocked()
	book := &s.markets[Amazon].tokens
	state := book.check(token, now)
	it, known := book.issued[token]
	if state == tokenOK && st.strict && !known {
		state = tokenMissing
	}
	denied := func(details string) (amazonCaller, bool) {
		s.countLocked(Amazon, func(c *Counters) { c.AuthFailures++ })
		s.mu.Unlock()
		spErrors(w, http.StatusForbidden, spError{Code: "Unauthorized", Message: "Access to requested resource is denied.", Details: details})
		return amazonCaller{}, false
	}
	switch state {
	case tokenExpired:
		return denied("The access token you provided has expired.")
	case tokenMissing:
		return denied("The access token you provided is revoked, malformed or invalid.")
	}
	c := amazonCaller{seller: subjectOf(token)}
	if known {
		c.seller = it.subject
	}
	c.issued = st.sellers[c.seller]
	home := "na"
	if c.issued != nil {
		home = c.issued.region
	}
	if home != reg.name {
		return denied("The seller is not registered in the " + reg.name + " region; call its own region's endpoint.")
	}
	key := c.seller
	if op != opConfirmShipment {
		key = op + "/" + c.seller
	}
	b, ok := st.buckets[key]
	if !ok {
		b = &bucket{}
		st.buckets[key] = b
	}
	rate, burst := s.amazonLimit(op)
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
		return amazonCaller{}, false
	}
	b.tokens--
	s.mu.Unlock()
	return c, true
}

func amazonInvalid(details string) spError {
	return spError{Code: "InvalidInput", Message: "Invalid input", Details: details}
}

// --- getOrders ---

// amazonOrderJSON is the model's Order, with the fields a merchant-fulfilled
// order carries. ShippingAddress is restricted data in production (it needs a
// restricted data token); the sandbox returns it as if one had been used.
type amazonOrderJSON struct {
	AmazonOrderID                string         `json:"AmazonOrderId"`
	PurchaseDate                 string         `json:"PurchaseDate"`
	LastUpdateDate               string         `json:"LastUpdateDate"`
	OrderStatus                  string         `json:"OrderStatus"`
	FulfillmentChannel           string         `json:"FulfillmentChannel"`
	SalesChannel                 string         `json:"SalesChannel"`
	ShipServiceLevel             string         `json:"ShipServiceLevel"`
	OrderTotal                   *amazonMoney   `json:"OrderTotal,omitempty"`
	NumberOfItemsShipped         int            `json:"NumberOfItemsShipped"`
	NumberOfItemsUnshipped       int            `json:"NumberOfItemsUnshipped"`
	PaymentMethod                string         `json:"PaymentMethod"`
	PaymentMethodDetails         []string       `json:"PaymentMethodDetails"`
	MarketplaceID                string         `json:"MarketplaceId"`
	ShipmentServiceLevelCategory string         `json:"ShipmentServiceLevelCategory"`
	OrderType                    string         `json:"OrderType"`
	EarliestShipDate             string         `json:"EarliestShipDate"`
	LatestShipDate               string         `json:"LatestShipDate"`
	IsBusinessOrder              bool           `json:"IsBusinessOrder"`
	IsPrime                      bool           `json:"IsPrime"`
	IsPremiumOrder               bool           `json:"IsPremiumOrder"`
	IsGlobalExpressEnabled       bool           `json:"IsGlobalExpressEnabled"`
	IsReplacementOrder           bool           `json:"IsReplacementOrder"`
	IsSoldByAB                   bool           `json:"IsSoldByAB"`
	IsISPU                       bool           `json:"IsISPU"`
	IsAccessPointOrder           bool           `json:"IsAccessPointOrder"`
	HasRegulatedItems            bool           `json:"HasRegulatedItems"`
	ShippingAddress              *amazonAddress `json:"ShippingAddress,omitempty"`
}

type amazonMoney struct {
	CurrencyCode string `json:"CurrencyCode"`
	Amount       string `json:"Amount"`
}

func amazonTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func money(currency string, hundredths int) *amazonMoney {
	return &amazonMoney{CurrencyCode: currency, Amount: fmt.Sprintf("%d.%02d", hundredths/100, hundredths%100)}
}

func (o *amazonOrder) render() amazonOrderJSON {
	shipped, unshipped, total := 0, 0, 0
	for _, it := range o.items {
		shipped += it.shipped
		unshipped += it.quantity - it.shipped
		total += it.unitPrice * it.quantity
	}
	out := amazonOrderJSON{AmazonOrderID: o.id, PurchaseDate: amazonTime(o.purchased), LastUpdateDate: amazonTime(o.updated),
		OrderStatus: o.status, FulfillmentChannel: "MFN", SalesChannel: o.salesChannel, ShipServiceLevel: "Std Dom_1",
		NumberOfItemsShipped: shipped, NumberOfItemsUnshipped: unshipped, PaymentMethod: "Other",
		PaymentMethodDetails: []string{"Standard"}, MarketplaceID: o.marketplaceID, ShipmentServiceLevelCategory: "Standard",
		OrderType: "StandardOrder", EarliestShipDate: amazonTime(o.purchased.Add(24 * time.Hour)),
		LatestShipDate: amazonTime(o.purchased.Add(72 * time.Hour))}
	if o.status != "Pending" && o.status != "Canceled" {
		out.OrderTotal = money(o.currency, total)
		addr := o.address
		out.ShippingAddress = &addr
	}
	if o.status == "Canceled" {
		out.NumberOfItemsUnshipped = 0
	}
	return out
}

func parseAmazonTime(q map[string][]string, name string, errs *[]spError) (time.Time, bool) {
	v := ""
	if l := q[name]; len(l) > 0 {
		v = l[0]
	}
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		*errs = append(*errs, amazonInvalid(name+": must be an ISO 8601 date-time"))
		return time.Time{}, false
	}
	return t, true
}

// amazonGetOrders serves getOrders (GET /orders/v0/orders). MarketplaceIds is
// required, and either CreatedAfter or LastUpdatedAfter (not both) unless
// NextToken is given; MaxResultsPerPage is 1..100 (default 100); OrderStatuses
// filters. Orders come oldest LastUpdateDate first; a NextToken pages through
// the orders the first request matched.
func (s *Server) amazonGetOrders(w http.ResponseWriter, r *http.Request, reg amazonRegion) {
	c, ok := s.amazonAdmit(w, r, reg, opGetOrders)
	if !ok {
		return
	}
	q := r.URL.Query()
	invalid := func(errs ...spError) {
		s.count(Amazon, func(c *Counters) { c.ValidationErrors++ })
		spErrors(w, http.StatusBadRequest, errs...)
	}
	var errs []spError
	markets := strings.Split(q.Get("MarketplaceIds"), ",")
	if q.Get("MarketplaceIds") == "" {
		errs = append(errs, amazonInvalid("MarketplaceIds: is required"))
	} else if len(markets) > 50 {
		errs = append(errs, amazonInvalid("MarketplaceIds: at most 50"))
	}
	for _, m := range markets {
		if m != "" && c.issued != nil && m != c.issued.marketplaceID {
			errs = append(errs, amazonInvalid("MarketplaceIds: "+m+" is not a marketplace the seller participates in"))
		}
	}
	size := 100
	if v := q.Get("MaxResultsPerPage"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, amazonInvalid("MaxResultsPerPage: must be between 1 and 100"))
		}
		size = n
	}
	next := q.Get("NextToken")
	now := time.Now()
	if next == "" {
		createdAfter, byCreated := parseAmazonTime(q, "CreatedAfter", &errs)
		updatedAfter, byUpdated := parseAmazonTime(q, "LastUpdatedAfter", &errs)
		createdBefore, hasCB := parseAmazonTime(q, "CreatedBefore", &errs)
		updatedBefore, hasUB := parseAmazonTime(q, "LastUpdatedBefore", &errs)
		switch {
		case byCreated && byUpdated:
			errs = append(errs, amazonInvalid("CreatedAfter and LastUpdatedAfter cannot both be specified"))
		case !byCreated && !byUpdated && len(errs) == 0:
			errs = append(errs, amazonInvalid("CreatedAfter or LastUpdatedAfter is required"))
		case byCreated && hasUB, byUpdated && hasCB:
			errs = append(errs, amazonInvalid("LastUpdatedBefore goes with LastUpdatedAfter, CreatedBefore with CreatedAfter"))
		}
		if !hasCB {
			createdBefore = now
		}
		if !hasUB {
			updatedBefore = now
		}
		statuses := map[string]bool{}
		for _, v := range strings.Split(q.Get("OrderStatuses"), ",") {
			if v != "" {
				statuses[v] = true
			}
		}
		if len(errs) > 0 {
			invalid(errs...)
			return
		}
		s.mu.Lock()
		st := s.amazonLocked()
		var matched []*amazonOrder
		for _, o := range st.book {
			if o.seller != c.seller || !slices.Contains(markets, o.marketplaceID) || (len(statuses) > 0 && !statuses[o.status]) {
				continue
			}
			if byCreated && (o.purchased.Before(createdAfter) || o.purchased.After(createdBefore)) {
				continue
			}
			if byUpdated && (o.updated.Before(updatedAfter) || o.updated.After(updatedBefore)) {
				continue
			}
			matched = append(matched, o)
		}
		slices.SortFunc(matched, func(a, b *amazonOrder) int {
			return cmp.Or(a.updated.Compare(b.updated), strings.Compare(a.id, b.id))
		})
		pg := &amazonPage{seller: c.seller, size: size}
		for _, o := range matched {
			pg.ids = append(pg.ids, o.id)
		}
		if byUpdated {
			pg.lastUpdatedBefore = amazonTime(updatedBefore)
		} else {
			pg.createdBefore = amazonTime(createdBefore)
		}
		s.writeOrdersPageLocked(w, st, pg)
		s.mu.Unlock()
		return
	}
	if len(errs) > 0 {
		invalid(errs...)
		return
	}
	s.mu.Lock()
	st := s.amazonLocked()
	pg, ok := st.pages[next]
	if !ok || pg.seller != c.seller {
		s.mu.Unlock()
		invalid(amazonInvalid("NextToken: invalid or expired"))
		return
	}
	delete(st.pages, next)
	if q.Get("MaxResultsPerPage") != "" {
		pg.size = size
	}
	s.writeOrdersPageLocked(w, st, pg)
	s.mu.Unlock()
}

// writeOrdersPageLocked answers one page of pg and keeps the rest under a new
// NextToken.
func (s *Server) writeOrdersPageLocked(w http.ResponseWriter, st *amazonState, pg *amazonPage) {
	n := min(pg.size, len(pg.ids))
	orders := []amazonOrderJSON{}
	for _, id := range pg.ids[:n] {
		if o := st.book[id]; o != nil {
			orders = append(orders, o.render())
		}
	}
	payload := map[string]any{"Orders": orders}
	if pg.lastUpdatedBefore != "" {
		payload["LastUpdatedBefore"] = pg.lastUpdatedBefore
	} else {
		payload["CreatedBefore"] = pg.createdBefore
	}
	if n < len(pg.ids) {
		rest := *pg
		rest.ids = pg.ids[n:]
		tok := base64.StdEncoding.EncodeToString([]byte(s.dice.Hex(48)))
		st.pages[tok] = &rest
		payload["NextToken"] = tok
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"payload": payload})
}

// --- getOrderItems ---

type amazonItemJSON struct {
	ASIN                 string       `json:"ASIN"`
	SellerSKU            string       `json:"SellerSKU,omitempty"`
	OrderItemID          string       `json:"OrderItemId"`
	Title                string       `json:"Title,omitempty"`
	QuantityOrdered      int          `json:"QuantityOrdered"`
	QuantityShipped      int          `json:"QuantityShipped"`
	ProductInfo          any          `json:"ProductInfo"`
	ItemPrice            *amazonMoney `json:"ItemPrice,omitempty"`
	IsGift               string       `json:"IsGift"`
	ConditionID          string       `json:"ConditionId"`
	ConditionSubtypeID   string       `json:"ConditionSubtypeId"`
	IsTransparency       bool         `json:"IsTransparency"`
	SerialNumberRequired bool         `json:"SerialNumberRequired"`
}

func (o *amazonOrder) renderItem(it *amazonItem) amazonItemJSON {
	out := amazonItemJSON{ASIN: it.asin, SellerSKU: it.sku, OrderItemID: it.id, Title: it.title, QuantityOrdered: it.quantity,
		QuantityShipped: it.shipped, ProductInfo: map[string]string{"NumberOfItems": "1"}, IsGift: "false",
		ConditionID: "New", ConditionSubtypeID: "New"}
	if o.status != "Pending" {
		out.ItemPrice = money(o.currency, it.unitPrice*it.quantity)
	}
	if o.status == "Canceled" {
		out.QuantityOrdered = 0 // Amazon zeroes the quantities of a cancelled order
	}
	return out
}

// amazonGetOrderItems serves getOrderItems (GET /orders/v0/orders/{orderId}/orderItems),
// amazonItemsPerPage items a page; NextToken names the next page. 404 NotFound
// for an order that is not the seller's.
func (s *Server) amazonGetOrderItems(w http.ResponseWriter, r *http.Request, reg amazonRegion) {
	c, ok := s.amazonAdmit(w, r, reg, opGetOrderItems)
	if !ok {
		return
	}
	id := r.PathValue("orderId")
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.amazonLocked().book[id]
	if o == nil || o.seller != c.seller {
		s.countLocked(Amazon, func(c *Counters) { c.ValidationErrors++ })
		spErrors(w, http.StatusNotFound, spError{Code: "NotFound", Message: "The resource specified does not exist.",
			Details: "orderId: no such order for this seller"})
		return
	}
	from := 0
	if tok := r.URL.Query().Get("NextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		order, off, found := strings.Cut(string(raw), "/")
		n, aerr := strconv.Atoi(off)
		if err != nil || !found || order != id || aerr != nil || n <= 0 || n >= len(o.items) {
			s.countLocked(Amazon, func(c *Counters) { c.ValidationErrors++ })
			spErrors(w, http.StatusBadRequest, amazonInvalid("NextToken: invalid or expired"))
			return
		}
		from = n
	}
	to := min(from+amazonItemsPerPage, len(o.items))
	items := []amazonItemJSON{}
	for _, it := range o.items[from:to] {
		items = append(items, o.renderItem(it))
	}
	payload := map[string]any{"OrderItems": items, "AmazonOrderId": o.id}
	if to < len(o.items) {
		payload["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte(o.id + "/" + strconv.Itoa(to)))
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"payload": payload})
}

// --- confirmShipment against the order book ---

// checkConfirm refuses a package for another marketplace, for a cancelled order,
// naming an item the order does not have, or shipping more units of an item
// than are left to ship. before is what an earlier confirmation of the same
// package shipped (nil for a new package): an edit replaces it.
func (o *amazonOrder) checkConfirm(req confirmShipmentRequest, sel *amazonSeller, before []PushLine) []spError {
	var errs []spError
	if req.MarketplaceID != sel.marketplaceID {
		errs = append(errs, amazonInvalid("marketplaceId: "+req.MarketplaceID+" is not the order's marketplace"))
	}
	if o.status == "Canceled" {
		errs = append(errs, amazonInvalid("orderId: the order is cancelled"))
	}
	if o.status == "Pending" {
		errs = append(errs, amazonInvalid("orderId: the order is pending and cannot be shipped yet"))
	}
	asked := map[string]int{}
	for i, it := range req.PackageDetail.OrderItems {
		item := o.item(it.OrderItemID)
		if item == nil {
			errs = append(errs, amazonInvalid(fmt.Sprintf("packageDetail.orderItems[%d].orderItemId: %s is not an item of order %s", i, it.OrderItemID, o.id)))
			continue
		}
		asked[it.OrderItemID] += it.Quantity
		left := item.quantity - item.shipped + quantityOf(before, it.OrderItemID)
		if asked[it.OrderItemID] > left {
			errs = append(errs, amazonInvalid(fmt.Sprintf("packageDetail.orderItems[%d].quantity: %d units of item %s exceed the %d left to ship (ordered %d)",
				i, asked[it.OrderItemID], it.OrderItemID, left, item.quantity)))
		}
	}
	return errs
}

func quantityOf(lines []PushLine, item string) int {
	n := 0
	for _, l := range lines {
		if l.Item == item {
			n += l.Quantity
		}
	}
	return n
}

func (o *amazonOrder) item(id string) *amazonItem {
	for _, it := range o.items {
		if it.id == id {
			return it
		}
	}
	return nil
}

// ship counts a package's items as shipped, in place of what an earlier
// confirmation of the same package shipped (before): PartiallyShipped until
// every unit is, then Shipped.
func (o *amazonOrder) ship(before []PushLine, items []confirmedItem, now time.Time) {
	for _, l := range before {
		if it := o.item(l.Item); it != nil {
			it.shipped = max(0, it.shipped-l.Quantity)
		}
	}
	for _, c := range items {
		if it := o.item(c.OrderItemID); it != nil {
			it.shipped = min(it.quantity, it.shipped+c.Quantity)
		}
	}
	o.status = "Shipped"
	for _, it := range o.items {
		if it.shipped < it.quantity {
			o.status = "PartiallyShipped"
		}
	}
	o.updated = now.Truncate(time.Second)
}

// --- admin routes ---

var amazonSellerRE = regexp.MustCompile(`^[A-Z0-9]{8,20}$`)

func adminErr(w http.ResponseWriter, status int, msg string) {
	sim.WriteJSON(w, status, map[string]string{"error": msg})
}

// digits returns n random decimal digits, the first not zero.
func (s *Server) digits(n int) string {
	var b strings.Builder
	for b.Len() < n {
		for _, c := range s.dice.Hex(8) {
			if b.Len() == n {
				break
			}
			if d := strings.IndexRune("0123456789abcdef", c) % 10; b.Len() > 0 || d != 0 {
				b.WriteByte(byte('0' + d))
			}
		}
	}
	return b.String()
}

// amazonNewSeller issues a seller in a region with an LWA client and a refresh
// token. The store body is what printfleet's POST /v1/stores takes: its shop_id
// is the region's marketplace id.
func (s *Server) amazonNewSeller(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ShopID string `json:"shop_id"`
		Region string `json:"region"`
	}
	if r.ContentLength != 0 {
		if err := sim.DecodeJSON(w, r, &body); err != nil {
			adminErr(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
			return
		}
	}
	if body.Region == "" {
		body.Region = "na"
	}
	reg, ok := amazonRegionNamed(strings.ToLower(body.Region))
	if !ok {
		adminErr(w, http.StatusBadRequest, "region must be na, eu or fe")
		return
	}
	if body.ShopID != "" && !amazonSellerRE.MatchString(body.ShopID) {
		adminErr(w, http.StatusBadRequest, "shop_id must be a selling partner id: 8-20 capital letters or digits")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.amazonLocked()
	id := body.ShopID
	if id == "" {
		id = "A" + strings.ToUpper(s.dice.Hex(13))
	}
	if _, taken := st.sellers[id]; taken {
		adminErr(w, http.StatusConflict, "seller "+id+" exists")
		return
	}
	sel := &amazonSeller{id: id, region: reg.name, marketplaceID: reg.marketplaceID,
		clientID: "amzn1.application-oa2-client." + s.dice.Hex(32), clientSecret: "amzn1.oa2-cs.v1." + s.dice.Hex(64),
		refresh: "Atzr|" + id + "." + s.dice.Hex(64)}
	st.sellers[id], st.byClient[sel.clientID], st.strict = sel, sel, true
	access, _ := s.issueLocked(Amazon, "Atza|"+id+".", id)
	sim.WriteJSON(w, http.StatusCreated, map[string]any{"shop_id": id, "store": map[string]any{
		"marketplace": "MARKETPLACE_AMAZON", "shop_id": reg.marketplaceID, "region": reg.name,
		"credentials": map[string]string{"client_id": sel.clientID, "client_secret": sel.clientSecret,
			"refresh_token": sel.refresh, "access_token": access}}})
}

type adminOrderBody struct {
	Lines []struct {
		ProductID string `json:"product_id"`
		VariantID string `json:"variant_id"`
		SKU       string `json:"sku"`
		Quantity  int    `json:"quantity"`
		Title     string `json:"title"`
	} `json:"lines"`
	Address  OrderAddress `json:"address"`
	Currency string       `json:"currency"`
	// Status is Amazon only: "Unshipped" (the default) or "Pending" (not paid
	// yet; getOrders shows it without price or address).
	Status string `json:"status"`
}

// amazonNewOrder places an order for a seller: line sku → SellerSKU,
// product_id → ASIN.
func (s *Server) amazonNewOrder(w http.ResponseWriter, r *http.Request) {
	var body adminOrderBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, sim.MaxBody))
	if err := dec.Decode(&body); err != nil {
		adminErr(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	if len(body.Lines) == 0 {
		adminErr(w, http.StatusBadRequest, "an order needs lines")
		return
	}
	for _, l := range body.Lines {
		if l.Quantity < 1 {
			adminErr(w, http.StatusBadRequest, "every line needs a quantity of at least 1")
			return
		}
	}
	switch body.Status {
	case "":
		body.Status = "Unshipped"
	case "Unshipped", "Pending":
	default:
		adminErr(w, http.StatusBadRequest, "status must be Unshipped or Pending")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.amazonLocked()
	sel := st.sellers[r.PathValue("seller")]
	if sel == nil {
		adminErr(w, http.StatusNotFound, "no such seller")
		return
	}
	reg, _ := amazonRegionNamed(sel.region)
	now := time.Now().Truncate(time.Second)
	o := &amazonOrder{seller: sel.id, marketplaceID: sel.marketplaceID, salesChannel: reg.salesChannel, status: body.Status,
		purchased: now, updated: now, currency: cmp.Or(strings.ToUpper(body.Currency), reg.currency),
		address: amazonAddress{Name: body.Address.Name, AddressLine1: body.Address.Line1, AddressLine2: body.Address.Line2,
			City: body.Address.City, StateOrRegion: body.Address.Region, PostalCode: body.Address.PostalCode,
			CountryCode: strings.ToUpper(body.Address.CountryCode)}}
	for {
		o.id = "113-" + s.digits(7) + "-" + s.digits(7)
		if _, taken := st.book[o.id]; !taken {
			break
		}
	}
	ids := []string{}
	for _, l := range body.Lines {
		it := &amazonItem{id: s.digits(14), asin: l.ProductID, sku: l.SKU, title: l.Title, quantity: l.Quantity, unitPrice: 1999}
		if it.asin == "" {
			it.asin = "B0" + strings.ToUpper(s.dice.Hex(8))
		}
		o.items = append(o.items, it)
		ids = append(ids, it.id)
	}
	st.book[o.id] = o
	sim.WriteJSON(w, http.StatusCreated, map[string]any{"order_id": o.id, "item_ids": ids})
}

func (s *Server) amazonOrderOf(w http.ResponseWriter, r *http.Request) *amazonOrder {
	o := s.amazonLocked().book[r.PathValue("orderId")]
	if o == nil || o.seller != r.PathValue("seller") {
		adminErr(w, http.StatusNotFound, "no such order for this seller")
		return nil
	}
	return o
}

// amazonShowOrder shows an order and all its items as the API renders them.
func (s *Server) amazonShowOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.amazonOrderOf(w, r)
	if o == nil {
		return
	}
	items := []amazonItemJSON{}
	for _, it := range o.items {
		items = append(items, o.renderItem(it))
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"order": o.render(), "items": items})
}

// amazonCancelOrder cancels an order that has not shipped: OrderStatus Canceled.
func (s *Server) amazonCancelOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.amazonOrderOf(w, r)
	if o == nil {
		return
	}
	switch o.status {
	case "Shipped", "PartiallyShipped":
		adminErr(w, http.StatusConflict, "order "+o.id+" has shipped items and cannot be cancelled")
		return
	case "Canceled":
	default:
		o.status = "Canceled"
		o.updated = time.Now().Truncate(time.Second)
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"order_id": o.id, "status": o.status})
}
