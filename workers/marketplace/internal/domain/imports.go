package domain

import (
	"errors"
	"time"
)

// ExternalOrder is a marketplace order as the importer needs it, in no
// marketplace's wire format. The adapters fill it from a poll or a webhook.
type ExternalOrder struct {
	// ExternalID is the id the tracking push names: Shopify's numeric order
	// id (legacyResourceId), Etsy's receipt_id, Amazon's AmazonOrderId.
	ExternalID string
	// UpdatedAt is when the marketplace last changed the order.
	UpdatedAt time.Time
	// Currency is the order's ISO 4217 code; empty when the marketplace
	// does not say.
	Currency string
	// Cancelled: the marketplace cancelled or fully refunded the order.
	Cancelled    bool
	CancelReason string
	// Ready: the order may be produced (paid; Amazon: Unshipped or
	// PartiallyShipped). An order not ready yet (Etsy unpaid, Amazon
	// Pending) is skipped and seen again on a later change.
	Ready   bool
	Lines   []ExternalLine
	Address ExternalAddress
}

// ExternalLine is one line of a marketplace order.
type ExternalLine struct {
	// ItemID is the marketplace's line id the tracking push names (Shopify
	// line item legacy id, Etsy transaction_id, Amazon OrderItemId).
	ItemID    string
	ProductID string // Shopify product id, Etsy listing_id, Amazon ASIN
	VariantID string // Shopify variant id, Etsy product_id; empty for Amazon
	SKU       string
	Title     string
	Quantity  int
}

// ExternalAddress is the ship-to address as the marketplace gave it.
type ExternalAddress struct {
	Name, Line1, Line2, City, Region, PostalCode, CountryCode string
}

// OrderPage is one page of a store's orders changed since a cursor.
type OrderPage struct {
	Orders []ExternalOrder
	// Cursor is what to poll with next: the next page while More, otherwise
	// the store's cursor for its next poll (saved once the page is imported).
	Cursor string
	More   bool
}

// ImportOutcome is what importing one marketplace order did.
type ImportOutcome string

// Import outcomes: the orders service's answers, and the importer's own
// (skipped: not ready to produce yet; failed: the import did not happen).
const (
	ImportImported  ImportOutcome = "imported"
	ImportHeld      ImportOutcome = "held"
	ImportDuplicate ImportOutcome = "duplicate"
	ImportCancelled ImportOutcome = "cancelled"
	ImportIgnored   ImportOutcome = "ignored"
	ImportSkipped   ImportOutcome = "skipped"
	ImportFailed    ImportOutcome = "failed"
)

// ErrOrderRejected means the orders service refused an imported order as
// invalid (a line without any external id, too many lines): importing it
// again can never succeed.
var ErrOrderRejected = errors.New("imported order rejected")
