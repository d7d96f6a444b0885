package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// PriceSource says who wrote a variant price.
type PriceSource string

const (
	// SourceAdmin is an explicit price written by an admin; the catalog
	// never replaces it.
	SourceAdmin PriceSource = "admin"
	// SourceCatalog is a variant's catalog price kept as its default list
	// price (region "*") while no admin price for that region exists.
	SourceCatalog PriceSource = "catalog"
)

// StoredVariantPrice is a variant price as the admin routes show it.
type StoredVariantPrice struct {
	VariantPrice
	Source    PriceSource
	UpdatedAt time.Time
}

// CatalogPrices is the catalog's announcement of a product's variant prices
// at a product version.
type CatalogPrices struct {
	ProductID string
	Version   int64
	Variants  []CatalogVariantPrice
}

// CatalogVariantPrice is one variant's catalog price.
type CatalogVariantPrice struct {
	VariantID uuid.UUID
	Price     Price
}

// CatalogPricesInput is an undecoded CatalogPrices.
type CatalogPricesInput struct {
	ProductID string
	Version   int64
	Variants  []CatalogVariantInput
}

// CatalogVariantInput is one undecoded variant price.
type CatalogVariantInput struct {
	VariantID string
	Price     MoneyInput
}

// ValidateCatalogPrices checks a catalog announcement.
func ValidateCatalogPrices(in CatalogPricesInput) (CatalogPrices, error) {
	if in.ProductID == "" || len(in.ProductID) > 128 {
		return CatalogPrices{}, fieldf("product_id", "must be 1 to 128 characters")
	}
	if in.Version <= 0 {
		return CatalogPrices{}, fieldf("version", "must be positive")
	}
	if err := checkCount("variants", len(in.Variants), MaxPricesPerWrite); err != nil {
		return CatalogPrices{}, err
	}
	out := CatalogPrices{ProductID: in.ProductID, Version: in.Version}
	seen := map[uuid.UUID]int{}
	for i, v := range in.Variants {
		f := fmt.Sprintf("variants[%d]", i)
		id, err := parseUUID(f+".variant_id", v.VariantID)
		if err != nil {
			return CatalogPrices{}, err
		}
		if j, dup := seen[id]; dup {
			return CatalogPrices{}, fieldf(f, "duplicates variants[%d]", j)
		}
		seen[id] = i
		p, err := parsePrice(f+".price", v.Price, false)
		if err != nil {
			return CatalogPrices{}, err
		}
		out.Variants = append(out.Variants, CatalogVariantPrice{VariantID: id, Price: p})
	}
	return out, nil
}

// ParseVariantID checks a variant id named field.
func ParseVariantID(field, s string) (uuid.UUID, error) { return parseUUID(field, s) }

// ParseRegion checks a region code ("*" or ISO 3166-1 alpha-2) named field.
func ParseRegion(field, s string) (string, error) { return parseRegion(field, s) }

// ParseMethod checks and normalises a shipping method name named field.
func ParseMethod(field, s string) (string, error) { return parseTechnique(field, s) }
