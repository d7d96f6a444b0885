package domain

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/printfleet/printfleet/platform/errs"
)

// Status is where an order is in its lifecycle. The values match the proto
// enum so that they can be stored and sent as they are.
type Status int16

// The statuses.
const (
	StatusUnspecified   Status = 0
	StatusPending       Status = 1
	StatusConfirmed     Status = 2
	StatusPaid          Status = 3
	StatusInProduction  Status = 4
	StatusShipped       Status = 5
	StatusDelivered     Status = 6
	StatusRejected      Status = 7
	StatusPaymentFailed Status = 8
	StatusCancelled     Status = 9
	// StatusOnHold is an imported order that cannot be placed yet (a line
	// no listing maps, a design not ready, an address that fails
	// validation). It holds no stock and no money; it leaves for PENDING
	// (PlaceFromHold) or CANCELLED.
	StatusOnHold Status = 10
	// StatusDraft is an order priced but not placed: it holds no stock and
	// no money, and is edited, confirmed (PENDING), cancelled or expired
	// (CANCELLED). See draft.go.
	StatusDraft Status = 11
	// StatusPartiallyShipped: some items (or part of their quantities)
	// shipped, others not yet.
	StatusPartiallyShipped Status = 12
)

var statusNames = map[Status]string{
	StatusPending: "PENDING", StatusConfirmed: "CONFIRMED", StatusPaid: "PAID",
	StatusInProduction: "IN_PRODUCTION", StatusShipped: "SHIPPED", StatusDelivered: "DELIVERED",
	StatusRejected: "REJECTED", StatusPaymentFailed: "PAYMENT_FAILED", StatusCancelled: "CANCELLED",
	StatusOnHold: "ON_HOLD", StatusDraft: "DRAFT", StatusPartiallyShipped: "PARTIALLY_SHIPPED",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("Status(%d)", int16(s))
}

// Valid reports whether s is one of the lifecycle states.
func (s Status) Valid() bool { _, ok := statusNames[s]; return ok }

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool {
	switch s {
	case StatusDelivered, StatusRejected, StatusPaymentFailed, StatusCancelled:
		return true
	}
	return false
}

// PaymentMethod is how an order is paid; values match the proto enum.
type PaymentMethod int16

// Payment methods.
const (
	PaymentMethodUnspecified PaymentMethod = 0
	PaymentMethodCard        PaymentMethod = 1
	PaymentMethodInvoice     PaymentMethod = 2
)

// Limits on an order's size.
const (
	MaxItems       = 100
	MaxQuantity    = 1000
	MaxCouponLen   = 64
	MaxExternalID  = 128
	MaxReasonLen   = 500
	MaxCarrierLen  = 64
	MaxTrackingLen = 64
	MaxURLLen      = 500
)

var (
	uuidRE     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	couponRE   = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)
	trackingRE = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
	// externalItemRE is a marketplace line item id; empty for our own orders.
	externalItemRE = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)
)

// IsUUID reports whether s is a UUID in its canonical text form.
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// PlacementSpec is a print area as recorded on an item when the order is
// placed, so that rendering needs no later catalog lookup.
type PlacementSpec struct {
	PlacementID    string
	Name           string
	WidthIn        float64
	HeightIn       float64
	MinDPI         int32
	RecommendedDPI int32
	Technique      string
}

// Item is one line of an order.
type Item struct {
	id, variantID, productID, sku, title string
	quantity                             int32
	designID, placementID                string
	unitPrice, lineTotal                 Money
	designKey                            string
	placement                            *PlacementSpec
	printFileKey                         string
	externalItemID                       string
	mockupKey                            string
}

// ItemFields are an item's parts, as a constructor argument and as read back
// from storage.
type ItemFields struct {
	ID, VariantID, ProductID, SKU, Title string
	Quantity                             int32
	DesignID, PlacementID                string
	UnitPrice, LineTotal                 Money
	// DesignKey is the S3 key of the design the item prints (empty for a blank).
	DesignKey string
	// Placement is the print area, nil for a blank.
	Placement    *PlacementSpec
	PrintFileKey string
	// ExternalItemID is the marketplace's line item id of an imported order.
	ExternalItemID string
	// MockupKey is the S3 key of the item's mockup, once print files are
	// ready (empty when none was rendered).
	MockupKey string
}

// Fields returns the item's parts.
func (it Item) Fields() ItemFields {
	var p *PlacementSpec
	if it.placement != nil {
		c := *it.placement
		p = &c
	}
	return ItemFields{it.id, it.variantID, it.productID, it.sku, it.title, it.quantity, it.designID,
		it.placementID, it.unitPrice, it.lineTotal, it.designKey, p, it.printFileKey, it.externalItemID, it.mockupKey}
}

// ID is the item's id.
func (it Item) ID() string { return it.id }

// DesignID is the printed design, empty for a blank.
func (it Item) DesignID() string { return it.designID }

// Order is the order aggregate. Its fields are unexported: it changes only
// through its transition methods, each of which refuses a move the state
// machine does not allow.
type Order struct {
	id, userID      string
	status          Status
	items           []Item
	address         Address
	currency        string
	subtotal        Money
	shipping        Money
	discount        Money
	total           Money
	couponCode      string
	paymentMethod   PaymentMethod
	storeID         string
	externalOrderID string
	quoteID         string
	paymentID       string
	refundID        string
	failureReason   string
	stockReserved   bool
	shipments       []Shipment
	holdReason      string
	importRequest   []byte
	pricing         Pricing
	expiresAt       time.Time
	// traceID is the W3C trace id of the request that placed the order
	// (32 hex digits, "" when it was not traced).
	traceID   string
	version   int64
	createdAt time.Time
	updatedAt time.Time
}

// OrderFields are an order's parts: the argument of NewOrder (which ignores
// Status, PaymentID, RefundID, FailureReason, StockReserved, Shipments and
// Version) and of UnmarshalOrderFromDatabase.
type OrderFields struct {
	ID, UserID      string
	Status          Status
	Items           []ItemFields
	Address         AddressFields
	Currency        string
	Subtotal        Money
	Shipping        Money
	Discount        Money
	Total           Money
	CouponCode      string
	PaymentMethod   PaymentMethod
	StoreID         string
	ExternalOrderID string
	QuoteID         string
	PaymentID       string
	RefundID        string
	FailureReason   string
	StockReserved   bool
	Shipments       []ShipmentFields
	// HoldReason says why an ON_HOLD order is held.
	HoldReason string
	// ImportRequest is the marketplace's request an imported order was held
	// with (opaque here; app encodes it), kept so a retry resolves it again.
	ImportRequest []byte
	// ShippingMethod, DeliveryEstimate, Tax and TaxIncluded come from the
	// quote the order was priced with.
	ShippingMethod   string
	DeliveryEstimate DeliveryEstimate
	Tax              Money
	TaxIncluded      bool
	// ExpiresAt is when a DRAFT order expires; zero otherwise.
	ExpiresAt time.Time
	// TraceID is the W3C trace id of the request that placed the order
	// ("" when it was not traced).
	TraceID   string
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewOrder places a new PENDING order at version 1 after checking every
// invariant: sizes, ids, money in one currency and totals that add up.
func NewOrder(f OrderFields) (*Order, error) {
	if !IsUUID(f.ID) {
		return nil, fmt.Errorf("new order: id %q is not a uuid", f.ID)
	}
	if f.UserID == "" || len(f.UserID) > 128 {
		return nil, errs.E(errs.Unauthenticated, "an order needs an authenticated user")
	}
	if err := CheckHeader(f.Currency, f.CouponCode, f.PaymentMethod, f.StoreID, f.ExternalOrderID); err != nil {
		return nil, err
	}
	addr, err := NewAddress("shipping_address", f.Address)
	if err != nil {
		return nil, err
	}
	if len(f.Items) == 0 {
		return nil, errs.Field("items", "at least one item is required")
	}
	if len(f.Items) > MaxItems {
		return nil, errs.Field("items", fmt.Sprintf("at most %d items are allowed", MaxItems))
	}
	o := &Order{
		id: f.ID, userID: f.UserID, status: StatusPending, address: addr, currency: f.Currency,
		couponCode: f.CouponCode, paymentMethod: f.PaymentMethod, storeID: f.StoreID,
		externalOrderID: f.ExternalOrderID, quoteID: f.QuoteID, version: 1,
		createdAt: f.CreatedAt.UTC(), updatedAt: f.CreatedAt.UTC(), traceID: f.TraceID,
	}
	var sum int64
	for i, itf := range f.Items {
		it, err := newItem(i, itf, f.Currency)
		if err != nil {
			return nil, err
		}
		sum += it.lineTotal.amount
		o.items = append(o.items, it)
	}
	if f.Tax.IsZero() {
		f.Tax = MustMoney(0, f.Currency)
	}
	for name, m := range map[string]Money{"subtotal": f.Subtotal, "shipping": f.Shipping, "discount": f.Discount, "total": f.Total, "tax": f.Tax} {
		if m.currency != f.Currency {
			return nil, fmt.Errorf("new order: %s is in %q, the order in %q", name, m.currency, f.Currency)
		}
		if m.amount < 0 {
			return nil, fmt.Errorf("new order: %s is negative", name)
		}
	}
	if sum != f.Subtotal.amount {
		return nil, fmt.Errorf("new order: line totals add up to %d, subtotal is %d", sum, f.Subtotal.amount)
	}
	if err := checkTotal(f); err != nil {
		return nil, err
	}
	if err := checkShippingMethod(f.ShippingMethod); err != nil {
		return nil, err
	}
	o.subtotal, o.shipping, o.discount, o.total = f.Subtotal, f.Shipping, f.Discount, f.Total
	o.pricing = Pricing{ShippingMethod: f.ShippingMethod, DeliveryEstimate: f.DeliveryEstimate, Tax: f.Tax, TaxIncluded: f.TaxIncluded}
	return o, nil
}

// CheckHeader validates the order-level fields a client sends.
func CheckHeader(currency, coupon string, pm PaymentMethod, storeID, externalID string) error {
	switch {
	case !currencyRE.MatchString(currency):
		return errs.Field("currency", "must be a 3-letter upper-case ISO 4217 code")
	case len(coupon) > MaxCouponLen || !couponRE.MatchString(coupon):
		return errs.Field("coupon_code", "must be at most 64 letters, digits, '_' or '-'")
	case pm != PaymentMethodCard && pm != PaymentMethodInvoice:
		return errs.Field("payment_method", "must be CARD or INVOICE")
	case storeID != "" && !IsUUID(storeID):
		return errs.Field("store_id", "must be a UUID")
	case utf8.RuneCountInString(externalID) > MaxExternalID || !utf8.ValidString(externalID):
		return errs.Field("external_order_id", "must be at most 128 characters")
	}
	return nil
}

// CheckRequestedItem validates what a client asks for in item i, before the
// catalog is consulted.
func CheckRequestedItem(i int, variantID string, quantity int32, designID, placementID string) error {
	field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
	switch {
	case !IsUUID(variantID):
		return errs.Field(field("variant_id"), "must be a UUID")
	case quantity <= 0:
		return errs.Field(field("quantity"), "must be greater than 0")
	case quantity > MaxQuantity:
		return errs.Field(field("quantity"), fmt.Sprintf("must be at most %d", MaxQuantity))
	case designID != "" && !IsUUID(designID):
		return errs.Field(field("design_id"), "must be a UUID")
	case placementID != "" && !IsUUID(placementID):
		return errs.Field(field("placement_id"), "must be a UUID")
	case designID != "" && placementID == "":
		return errs.Field(field("placement_id"), "is required with a design_id")
	case designID == "" && placementID != "":
		return errs.Field(field("design_id"), "is required with a placement_id")
	}
	return nil
}

func newItem(i int, f ItemFields, currency string) (Item, error) {
	if err := CheckRequestedItem(i, f.VariantID, f.Quantity, f.DesignID, f.PlacementID); err != nil {
		return Item{}, err
	}
	if !IsUUID(f.ID) {
		return Item{}, fmt.Errorf("item %d: id %q is not a uuid", i, f.ID)
	}
	if len(f.ExternalItemID) > 64 || !externalItemRE.MatchString(f.ExternalItemID) {
		return Item{}, errs.Field(fmt.Sprintf("items[%d].external_item_id", i), "must be at most 64 letters, digits, '.', '_' or '-'")
	}
	if f.DesignID != "" && (f.Placement == nil || f.Placement.PlacementID != f.PlacementID) {
		return Item{}, fmt.Errorf("item %d: a designed item needs its placement spec", i)
	}
	if f.UnitPrice.currency != currency || f.LineTotal.currency != currency {
		return Item{}, fmt.Errorf("item %d: prices are not in %s", i, currency)
	}
	if f.UnitPrice.amount < 0 || f.LineTotal.amount < 0 {
		return Item{}, fmt.Errorf("item %d: negative price", i)
	}
	it := Item{
		id: f.ID, variantID: f.VariantID, productID: f.ProductID, sku: f.SKU, title: f.Title,
		quantity: f.Quantity, designID: f.DesignID, placementID: f.PlacementID,
		unitPrice: f.UnitPrice, lineTotal: f.LineTotal, designKey: f.DesignKey,
		externalItemID: f.ExternalItemID,
	}
	if f.Placement != nil {
		p := *f.Placement
		it.placement = &p
	}
	return it, nil
}

// UnmarshalOrderFromDatabase rebuilds an order from storage. It trusts the
// stored invariants (they were checked when the order was placed) and checks
// only what would make the aggregate unusable.
func UnmarshalOrderFromDatabase(f OrderFields) (*Order, error) {
	if f.ID == "" || !f.Status.Valid() || f.Version < 1 {
		return nil, fmt.Errorf("unmarshal order %q: status %d version %d", f.ID, f.Status, f.Version)
	}
	o := &Order{
		id: f.ID, userID: f.UserID, status: f.Status, currency: f.Currency,
		subtotal: f.Subtotal, shipping: f.Shipping, discount: f.Discount, total: f.Total,
		couponCode: f.CouponCode, paymentMethod: f.PaymentMethod, storeID: f.StoreID,
		externalOrderID: f.ExternalOrderID, quoteID: f.QuoteID, paymentID: f.PaymentID,
		refundID: f.RefundID, failureReason: f.FailureReason, stockReserved: f.StockReserved,
		holdReason: f.HoldReason, importRequest: slices.Clone(f.ImportRequest),
		version: f.Version, createdAt: f.CreatedAt.UTC(), updatedAt: f.UpdatedAt.UTC(),
		pricing:   Pricing{ShippingMethod: f.ShippingMethod, DeliveryEstimate: f.DeliveryEstimate, Tax: f.Tax, TaxIncluded: f.TaxIncluded},
		expiresAt: utcOrZero(f.ExpiresAt), traceID: f.TraceID,
	}
	if o.pricing.Tax.IsZero() && currencyRE.MatchString(f.Currency) {
		o.pricing.Tax = MustMoney(0, f.Currency)
	}
	a := f.Address
	o.address = Address{a.Name, a.Line1, a.Line2, a.City, a.Region, a.PostalCode, a.CountryCode}
	for _, itf := range f.Items {
		it := Item{
			id: itf.ID, variantID: itf.VariantID, productID: itf.ProductID, sku: itf.SKU, title: itf.Title,
			quantity: itf.Quantity, designID: itf.DesignID, placementID: itf.PlacementID,
			unitPrice: itf.UnitPrice, lineTotal: itf.LineTotal, designKey: itf.DesignKey,
			printFileKey: itf.PrintFileKey, externalItemID: itf.ExternalItemID, mockupKey: itf.MockupKey,
		}
		if itf.Placement != nil {
			p := *itf.Placement
			it.placement = &p
		}
		o.items = append(o.items, it)
	}
	for _, s := range f.Shipments {
		o.shipments = append(o.shipments, shipmentFromFields(s))
	}
	return o, nil
}

// Fields returns a copy of the order's parts (for storage and transport).
func (o *Order) Fields() OrderFields {
	f := OrderFields{
		ID: o.id, UserID: o.userID, Status: o.status, Address: o.address.Fields(), Currency: o.currency,
		Subtotal: o.subtotal, Shipping: o.shipping, Discount: o.discount, Total: o.total,
		CouponCode: o.couponCode, PaymentMethod: o.paymentMethod, StoreID: o.storeID,
		ExternalOrderID: o.externalOrderID, QuoteID: o.quoteID, PaymentID: o.paymentID,
		RefundID: o.refundID, FailureReason: o.failureReason, StockReserved: o.stockReserved,
		HoldReason: o.holdReason, ImportRequest: slices.Clone(o.importRequest),
		ShippingMethod: o.pricing.ShippingMethod, DeliveryEstimate: o.pricing.DeliveryEstimate,
		Tax: o.pricing.Tax, TaxIncluded: o.pricing.TaxIncluded, ExpiresAt: o.expiresAt,
		TraceID: o.traceID, Version: o.version, CreatedAt: o.createdAt, UpdatedAt: o.updatedAt,
	}
	for _, it := range o.items {
		f.Items = append(f.Items, it.Fields())
	}
	for _, s := range o.shipments {
		f.Shipments = append(f.Shipments, s.Fields())
	}
	return f
}

// Accessors.

func (o *Order) ID() string                   { return o.id }
func (o *Order) UserID() string               { return o.userID }
func (o *Order) Status() Status               { return o.status }
func (o *Order) Version() int64               { return o.version }
func (o *Order) Total() Money                 { return o.total }
func (o *Order) Currency() string             { return o.currency }
func (o *Order) PaymentMethod() PaymentMethod { return o.paymentMethod }
func (o *Order) PaymentID() string            { return o.paymentID }
func (o *Order) RefundID() string             { return o.refundID }
func (o *Order) StockReserved() bool          { return o.stockReserved }
func (o *Order) StoreID() string              { return o.storeID }

// HoldReason says why an ON_HOLD order is held ("" otherwise).
func (o *Order) HoldReason() string { return o.holdReason }

// ImportRequest is the marketplace request an ON_HOLD order keeps.
func (o *Order) ImportRequest() []byte { return slices.Clone(o.importRequest) }

// CouponCode is the coupon the quote applied ("" for none).
func (o *Order) CouponCode() string      { return o.couponCode }
func (o *Order) ExternalOrderID() string { return o.externalOrderID }
func (o *Order) CreatedAt() time.Time    { return o.createdAt }
func (o *Order) UpdatedAt() time.Time    { return o.updatedAt }
func (o *Order) TraceID() string         { return o.traceID }
func (o *Order) Items() []Item           { return slices.Clone(o.items) }
func (o *Order) Shipments() []Shipment   { return slices.Clone(o.shipments) }

// OwnedBy reports whether userID placed the order.
func (o *Order) OwnedBy(userID string) bool { return userID != "" && o.userID == userID }

// MarkPersisted records the version the store wrote (the store's
// compare-and-set decides it, not the aggregate).
func (o *Order) MarkPersisted(version int64) { o.version = version }

// refuse is the error of a transition the state machine does not allow.
func (o *Order) refuse(action string) error {
	return errs.E(errs.FailedPrecondition, "cannot %s an order that is %s", action, o.status)
}

func (o *Order) move(to Status, now time.Time) {
	o.status = to
	o.updatedAt = now.UTC()
}

// Confirm records that the catalog reserved stock: PENDING → CONFIRMED.
func (o *Order) Confirm(now time.Time) error {
	if o.status != StatusPending {
		return o.refuse("confirm")
	}
	o.stockReserved = true
	o.move(StatusConfirmed, now)
	return nil
}

// Reject records that stock could not be reserved: PENDING → REJECTED.
func (o *Order) Reject(reason string, now time.Time) error {
	if o.status != StatusPending {
		return o.refuse("reject")
	}
	o.failureReason = clip(reason)
	o.move(StatusRejected, now)
	return nil
}

// MarkPaid records a captured payment: CONFIRMED → PAID.
func (o *Order) MarkPaid(paymentID string, now time.Time) error {
	if o.status != StatusConfirmed {
		return o.refuse("mark as paid")
	}
	o.paymentID = paymentID
	o.move(StatusPaid, now)
	return nil
}

// FailPayment records a declined payment: CONFIRMED → PAYMENT_FAILED. The
// reservation is released (by the catalog, on the event).
func (o *Order) FailPayment(reason string, now time.Time) error {
	if o.status != StatusConfirmed {
		return o.refuse("fail the payment of")
	}
	o.failureReason = clip(reason)
	o.stockReserved = false
	o.move(StatusPaymentFailed, now)
	return nil
}

// PrintFile is what the renderer made for one item: its print file and
// its mockup (S3 keys in the renders bucket; the mockup may be empty).
type PrintFile struct {
	Key, MockupKey string
}

// StartProduction records the rendered print files (item id → files):
// PAID → IN_PRODUCTION.
func (o *Order) StartProduction(files map[string]PrintFile, now time.Time) error {
	if o.status != StatusPaid {
		return o.refuse("start production of")
	}
	for itemID := range files {
		if !slices.ContainsFunc(o.items, func(it Item) bool { return it.id == itemID }) {
			return errs.E(errs.Invalid, "print file for unknown item %s", itemID)
		}
	}
	for i := range o.items {
		if f, ok := files[o.items[i].id]; ok {
			o.items[i].printFileKey, o.items[i].mockupKey = f.Key, f.MockupKey
		}
	}
	o.move(StatusInProduction, now)
	return nil
}

// HasDesigns reports whether any item needs a print file.
func (o *Order) HasDesigns() bool {
	return slices.ContainsFunc(o.items, func(it Item) bool { return it.designID != "" })
}

// Cancel cancels the order. It is allowed until production starts
// (DRAFT, ON_HOLD, PENDING, CONFIRMED, PAID); afterwards, and from a
// terminal state, it is refused with FAILED_PRECONDITION.
func (o *Order) Cancel(reason string, now time.Time) error {
	if !o.Cancellable() {
		return o.refuse("cancel")
	}
	o.failureReason = clip(reason)
	o.expiresAt = time.Time{}
	o.move(StatusCancelled, now)
	return nil
}

// Cancellable reports whether Cancel would be allowed now.
func (o *Order) Cancellable() bool {
	switch o.status {
	case StatusDraft, StatusOnHold, StatusPending, StatusConfirmed, StatusPaid:
		return true
	}
	return false
}

// NewHeldOrder creates an imported order ON_HOLD at version 1: it has no
// items and zero totals (nothing is priced, reserved or charged), the
// marketplace's address as it came (it may be the very cause of the hold)
// and the import request a retry resolves again.
func NewHeldOrder(f OrderFields, reason string, request []byte) (*Order, error) {
	if !IsUUID(f.ID) {
		return nil, fmt.Errorf("new held order: id %q is not a uuid", f.ID)
	}
	if f.UserID == "" || len(f.UserID) > 128 {
		return nil, errs.E(errs.Invalid, "a held order needs its owner")
	}
	if f.StoreID == "" || f.ExternalOrderID == "" {
		return nil, errs.E(errs.Invalid, "a held order needs its store and external order id")
	}
	if err := CheckHeader(f.Currency, "", f.PaymentMethod, f.StoreID, f.ExternalOrderID); err != nil {
		return nil, err
	}
	zero := MustMoney(0, f.Currency)
	a := f.Address
	return &Order{
		id: f.ID, userID: f.UserID, status: StatusOnHold, currency: f.Currency,
		address:  Address{a.Name, a.Line1, a.Line2, a.City, a.Region, a.PostalCode, a.CountryCode},
		subtotal: zero, shipping: zero, discount: zero, total: zero,
		paymentMethod: f.PaymentMethod, storeID: f.StoreID, externalOrderID: f.ExternalOrderID,
		holdReason: clip(reason), importRequest: slices.Clone(request), version: 1,
		createdAt: f.CreatedAt.UTC(), updatedAt: f.CreatedAt.UTC(), traceID: f.TraceID,
	}, nil
}

// Hold records a new reason on an ON_HOLD order (a retry that still cannot
// place it); the status stays ON_HOLD.
func (o *Order) Hold(reason string, now time.Time) error {
	if o.status != StatusOnHold {
		return errs.E(errs.FailedPrecondition, "order is not on hold")
	}
	o.holdReason = clip(reason)
	o.updatedAt = now.UTC()
	return nil
}

// PlaceFromHold places an ON_HOLD order: ON_HOLD → PENDING with the items,
// address, totals and quote of placed, an order built by NewOrder for the
// same id, owner, store and external order id (so every invariant of a new
// order was checked on it).
func (o *Order) PlaceFromHold(placed *Order, now time.Time) error {
	if o.status != StatusOnHold {
		return errs.E(errs.FailedPrecondition, "order is not on hold")
	}
	if placed.id != o.id || placed.userID != o.userID || placed.storeID != o.storeID ||
		placed.externalOrderID != o.externalOrderID || placed.status != StatusPending {
		return fmt.Errorf("place held order %s: the placed order is another order", o.id)
	}
	o.items = slices.Clone(placed.items)
	o.address, o.currency, o.paymentMethod, o.quoteID = placed.address, placed.currency, placed.paymentMethod, placed.quoteID
	o.subtotal, o.shipping, o.discount, o.total = placed.subtotal, placed.shipping, placed.discount, placed.total
	o.couponCode = placed.couponCode
	o.holdReason = ""
	o.move(StatusPending, now)
	return nil
}

// RecordLateCapture notes a payment that the provider captured after the
// order was cancelled; it must be refunded.
func (o *Order) RecordLateCapture(paymentID string, now time.Time) error {
	if o.status != StatusCancelled {
		return o.refuse("record a late capture on")
	}
	o.paymentID = paymentID
	o.updatedAt = now.UTC()
	return nil
}

// RecordRefund notes the refund of a cancelled, paid order.
func (o *Order) RecordRefund(refundID string, now time.Time) error {
	if o.status != StatusCancelled || o.paymentID == "" {
		return o.refuse("refund")
	}
	o.refundID = refundID
	o.updatedAt = now.UTC()
	return nil
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= MaxReasonLen {
		return s
	}
	return string([]rune(s)[:MaxReasonLen])
}

// webURL reports whether s is an absolute http or https URL with a host: a
// tracking link customers click, so never javascript:, data: or the like.
func webURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "http" || scheme == "https"
}
