// Package domain holds the catalog's types and their invariants: products
// with variants and placements, designs, marketplace stores and stock
// reservations. It does no I/O.
package domain

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/printfleet/printfleet/platform/errs"
)

// DisplayCurrency is the currency of a variant's display price.
const DisplayCurrency = "USD"

// Limits on what a product may hold.
const (
	MaxVariants   = 200
	MaxPlacements = 20
)

// Money is an amount in minor units.
type Money struct {
	Currency    string
	AmountMinor int64
}

// Product is a blank that can be printed on.
type Product struct {
	ID          string
	Title       string
	Description string
	ImageKey    string
	Active      bool
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Variants    []Variant
	Placements  []Placement
}

// Variant is one size/colour of a product.
type Variant struct {
	ID             string
	ProductID      string
	SKU            string
	Title          string
	Size           string
	Color          string
	WeightGrams    int32
	Price          Money
	Active         bool
	StockTracked   bool
	StockAvailable int64
}

// InStock reports whether the variant can be ordered now.
func (v Variant) InStock() bool { return v.Active && (!v.StockTracked || v.StockAvailable > 0) }

// Placement is a print area.
type Placement struct {
	ID             string
	ProductID      string
	Name           string
	WidthIn        float64
	HeightIn       float64
	MinDPI         int32
	RecommendedDPI int32
	Technique      string
}

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// violations collects field errors into one Invalid error.
type violations struct{ list []errs.FieldViolation }

func (v *violations) add(field, format string, args ...any) {
	v.list = append(v.list, errs.FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

func (v *violations) err(what string) error {
	if len(v.list) == 0 {
		return nil
	}
	first := v.list[0]
	return &errs.Error{
		Kind:       errs.Invalid,
		Message:    fmt.Sprintf("invalid %s: %s: %s", what, first.Field, first.Description),
		Violations: v.list,
	}
}

func checkText(v *violations, field, s string, minLen, maxLen int) {
	n := utf8.RuneCountInString(s)
	switch {
	case minLen > 0 && strings.TrimSpace(s) == "":
		v.add(field, "must not be empty")
	case n > maxLen:
		v.add(field, "must be at most %d characters", maxLen)
	case !utf8.ValidString(s):
		v.add(field, "must be valid UTF-8")
	}
}

// Validate checks the product's invariants; field names are those of the
// API (product.variants[0].sku).
func (p *Product) Validate() error {
	var v violations
	checkText(&v, "product.title", p.Title, 1, 200)
	checkText(&v, "product.description", p.Description, 0, 5000)
	checkText(&v, "product.image_key", p.ImageKey, 0, 500)
	if len(p.Variants) > MaxVariants {
		v.add("product.variants", "at most %d variants", MaxVariants)
	}
	if len(p.Placements) > MaxPlacements {
		v.add("product.placements", "at most %d placements", MaxPlacements)
	}
	skus := map[string]int{}
	for i, vr := range p.Variants {
		f := fmt.Sprintf("product.variants[%d]", i)
		if !skuPattern.MatchString(vr.SKU) {
			v.add(f+".sku", "must be 1-64 characters of A-Z a-z 0-9 . _ -")
		} else if j, dup := skus[strings.ToUpper(vr.SKU)]; dup {
			v.add(f+".sku", "duplicates variants[%d].sku", j)
		} else {
			skus[strings.ToUpper(vr.SKU)] = i
		}
		checkText(&v, f+".title", vr.Title, 1, 200)
		checkText(&v, f+".size", vr.Size, 0, 32)
		checkText(&v, f+".color", vr.Color, 0, 32)
		if vr.WeightGrams < 0 || vr.WeightGrams > 100000 {
			v.add(f+".weight_grams", "must be between 0 and 100000")
		}
		switch {
		case vr.Price.Currency != DisplayCurrency:
			v.add(f+".price.currency", "must be %s (display prices are in %s)", DisplayCurrency, DisplayCurrency)
		case vr.Price.AmountMinor <= 0:
			v.add(f+".price.amount_minor", "must be positive")
		case vr.Price.AmountMinor > 100_000_000:
			v.add(f+".price.amount_minor", "must be at most 100000000")
		}
		if vr.StockAvailable < 0 {
			v.add(f+".stock_available", "must not be negative")
		}
	}
	names := map[string]int{}
	for i, pl := range p.Placements {
		f := fmt.Sprintf("product.placements[%d]", i)
		checkText(&v, f+".name", pl.Name, 1, 64)
		if j, dup := names[strings.ToLower(pl.Name)]; dup {
			v.add(f+".name", "duplicates placements[%d].name", j)
		} else {
			names[strings.ToLower(pl.Name)] = i
		}
		if !(pl.WidthIn > 0 && pl.WidthIn <= 100) {
			v.add(f+".width_in", "must be in (0, 100]")
		}
		if !(pl.HeightIn > 0 && pl.HeightIn <= 100) {
			v.add(f+".height_in", "must be in (0, 100]")
		}
		if pl.MinDPI <= 0 || pl.MinDPI > 1200 {
			v.add(f+".min_dpi", "must be in (0, 1200]")
		}
		if pl.RecommendedDPI <= 0 || pl.RecommendedDPI > 1200 {
			v.add(f+".recommended_dpi", "must be in (0, 1200]")
		} else if pl.MinDPI > pl.RecommendedDPI {
			v.add(f+".recommended_dpi", "must be at least min_dpi")
		}
		checkText(&v, f+".technique", pl.Technique, 0, 32)
	}
	return v.err("product")
}

// ProductView is a product's read model: only what a client shows.
type ProductView struct {
	ID          string          `json:"id"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Variants    []VariantView   `json:"variants"`
	Placements  []PlacementView `json:"placements"`
	Version     int64           `json:"version"`
	// Active is false for a tombstone: the product exists but is not listed.
	Active bool `json:"active"`
}

// VariantView is a variant as clients see it.
type VariantView struct {
	ID          string `json:"id"`
	SKU         string `json:"sku"`
	Title       string `json:"title"`
	Size        string `json:"size,omitempty"`
	Color       string `json:"color,omitempty"`
	WeightGrams int32  `json:"weight_grams,omitempty"`
	Price       Money  `json:"price"`
	// StockTracked says whether StockAvailable counts anything: an
	// untracked variant is always in stock.
	StockTracked   bool  `json:"stock_tracked,omitempty"`
	StockAvailable int64 `json:"stock_available,omitempty"`
	InStock        bool  `json:"in_stock"`
}

// PlacementView is a placement as clients see it.
type PlacementView struct {
	ID             string  `json:"id"`
	Name           string  `json:"name"`
	WidthIn        float64 `json:"width_in"`
	HeightIn       float64 `json:"height_in"`
	MinDPI         int32   `json:"min_dpi"`
	RecommendedDPI int32   `json:"recommended_dpi"`
}

// View is the product's read model. An inactive product becomes a tombstone
// that carries only its id and version.
func (p *Product) View() ProductView {
	if !p.Active {
		return ProductView{ID: p.ID, Version: p.Version, Variants: []VariantView{}, Placements: []PlacementView{}}
	}
	v := ProductView{ID: p.ID, Title: p.Title, Description: p.Description, Version: p.Version, Active: true,
		Variants: make([]VariantView, 0, len(p.Variants)), Placements: make([]PlacementView, 0, len(p.Placements))}
	for _, vr := range p.Variants {
		if !vr.Active {
			continue
		}
		v.Variants = append(v.Variants, VariantView{ID: vr.ID, SKU: vr.SKU, Title: vr.Title, Size: vr.Size, Color: vr.Color,
			WeightGrams: vr.WeightGrams, Price: vr.Price, StockTracked: vr.StockTracked, StockAvailable: vr.StockAvailable,
			InStock: vr.InStock()})
	}
	for _, pl := range p.Placements {
		v.Placements = append(v.Placements, PlacementView{ID: pl.ID, Name: pl.Name, WidthIn: pl.WidthIn,
			HeightIn: pl.HeightIn, MinDPI: pl.MinDPI, RecommendedDPI: pl.RecommendedDPI})
	}
	return v
}
