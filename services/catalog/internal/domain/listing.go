package domain

import "time"

// Listing maps a marketplace listing of a store (its external product id,
// variant id or SKU) to the variant printfleet prints, with an optional
// design of the store's owner printed at a placement of the variant's
// product.
type Listing struct {
	ID                string
	StoreID           string
	ExternalProductID string
	ExternalVariantID string
	SKU               string
	VariantID         string
	DesignID          string
	PlacementID       string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// ExternalLine is what a marketplace order line says about its product.
type ExternalLine struct {
	ProductID string
	VariantID string
	SKU       string
}

// Empty reports whether the line names nothing to match.
func (l ExternalLine) Empty() bool { return l == ExternalLine{} }
