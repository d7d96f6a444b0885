package app

import (
	"context"

	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// CatalogVariant is a variant as orders needs it to accept an item.
type CatalogVariant struct {
	ID, ProductID, SKU, Title, ProductTitle string
	Active, ProductActive                   bool
	// Placements are the print areas of the variant's product.
	Placements []domain.PlacementSpec
}

// CatalogDesign is a design as orders needs it to accept an item.
type CatalogDesign struct {
	ID, OwnerID string
	Ready       bool
	// Key is the S3 key the renderer reads.
	Key string
	// RejectedPlacements are the placements whose DPI verdict is REJECT.
	RejectedPlacements map[string]bool
}

// CatalogLookup is the answer to one batch lookup; missing ids are absent.
type CatalogLookup struct {
	Variants map[string]CatalogVariant
	Designs  map[string]CatalogDesign
	// Store is the order's marketplace store, nil when none was asked for or
	// it does not exist.
	Store *CatalogStore
}

// CatalogStore is a marketplace store as orders needs it.
type CatalogStore struct {
	ID, OwnerID string
}

// Catalog resolves variants, designs and the order's store in one call.
type Catalog interface {
	GetVariants(ctx context.Context, variantIDs, designIDs []string, storeID string) (CatalogLookup, error)
}

// QuoteItem is one line to price.
type QuoteItem struct {
	VariantID    string
	Quantity     int32
	PlacementIDs []string
}

// QuoteRequest is what to price.
type QuoteRequest struct {
	Items       []QuoteItem
	CountryCode string
	Currency    string
	CouponCode  string
	// ShippingMethod is the method to price ("" for the cheapest that
	// reaches the country); Region the destination's region where a tax
	// rate applies per region ("" for the country's rate).
	ShippingMethod string
	Region         string
	// OrderKey and OrderID, set when an order is being placed, make pricing
	// redeem the coupon: one use per OrderKey (the same on every retry of the
	// create), tied to the order OrderID this attempt would commit.
	OrderKey string
	OrderID  string
}

// QuoteLine is one priced line.
type QuoteLine struct {
	VariantID string
	Quantity  int32
	UnitPrice domain.Money
	LineTotal domain.Money
}

// Quote is pricing's answer; the order's totals come only from here.
type Quote struct {
	ID                                  string
	Lines                               []QuoteLine
	Subtotal, Shipping, Discount, Total domain.Money
	// ShippingMethod is the method priced into Shipping, with its
	// estimate; Tax is added to Total unless TaxIncluded.
	ShippingMethod   string
	DeliveryEstimate domain.DeliveryEstimate
	Tax              domain.Money
	TaxIncluded      bool
}

// Pricing prices a prospective order.
type Pricing interface {
	CreateQuote(ctx context.Context, r QuoteRequest) (Quote, error)
}
