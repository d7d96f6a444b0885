// Package demo is the demo catalog: 24 blanks with their variants,
// placements and stock, with deterministic ids so that other services (and
// their tests) can name the same variants without asking the catalog.
//
// Id scheme (UUIDv5, SHA-1 based, github.com/google/uuid.NewSHA1):
//
//	Namespace    = NewSHA1(uuid.NameSpaceURL, "https://printfleet.dev/demo-catalog")
//	             = f5998d11-5f6a-55a2-b34d-04f3b1ecb3d2 (asserted in the tests)
//	variant id   = NewSHA1(Namespace, SKU)                        e.g. SKU "TEE-UNI-BLK-M"
//	product id   = NewSHA1(Namespace, "product/" + slug)          e.g. "product/tee-unisex"
//	placement id = NewSHA1(Namespace, "placement/" + slug + "/" + name)
//
// Prices are display prices in USD minor units: the product's base price
// plus the size's upcharge (see Variants for the flat list).
package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Namespace is the UUIDv5 namespace of every demo id.
var Namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://printfleet.dev/demo-catalog"))

// VariantID is the id of the demo variant with sku.
func VariantID(sku string) string { return uuid.NewSHA1(Namespace, []byte(sku)).String() }

// ProductID is the id of the demo product with slug.
func ProductID(slug string) string { return uuid.NewSHA1(Namespace, []byte("product/"+slug)).String() }

// PlacementID is the id of a demo product's placement.
func PlacementID(slug, name string) string {
	return uuid.NewSHA1(Namespace, []byte("placement/"+slug+"/"+name)).String()
}

type option struct {
	Code  string // in the SKU
	Label string // in the title
	Extra int64  // upcharge in cents
}

type area struct {
	Name           string
	W, H           float64
	MinDPI, RecDPI int32
	Technique      string
}

type blank struct {
	Slug, Code, Title, Description string
	Base                           int64 // cents
	Weight                         int32 // grams
	Stock                          int64 // per variant; -1 = not tracked
	Sizes, Colors                  []option
	Areas                          []area
}

var (
	adult = []option{{"S", "S", 0}, {"M", "M", 0}, {"L", "L", 0}, {"XL", "XL", 0}, {"2XL", "2XL", 200}}
	four  = []option{{"S", "S", 0}, {"M", "M", 0}, {"L", "L", 0}, {"XL", "XL", 0}}
	kids  = []option{{"XS", "Kids XS", 0}, {"S", "Kids S", 0}, {"M", "Kids M", 0}, {"L", "Kids L", 0}}
	one   = []option{{"OS", "One size", 0}}

	black   = option{"BLK", "Black", 0}
	white   = option{"WHT", "White", 0}
	navy    = option{"NVY", "Navy", 0}
	grey    = option{"GRY", "Heather Grey", 0}
	red     = option{"RED", "Red", 0}
	natural = option{"NAT", "Natural", 0}
	khaki   = option{"KHK", "Khaki", 0}
	silver  = option{"SLV", "Silver", 0}

	front  = area{"front", 12, 16, 150, 300, "dtg"}
	back   = area{"back", 12, 16, 150, 300, "dtg"}
	sleeve = area{"left_sleeve", 3.5, 4, 150, 300, "dtg"}
)

// blanks is the demo catalog.
var blanks = []blank{
	{"tee-unisex", "TEE-UNI", "Unisex Classic Tee", "Soft ring-spun cotton tee, retail fit.", 1299, 180, 400, adult, []option{black, white, navy}, []area{front, back, sleeve}},
	{"tee-vneck", "TEE-VNK", "Women's V-Neck Tee", "Slim-fit V-neck in combed cotton.", 1399, 160, 250, four, []option{black, white}, []area{front, back}},
	{"tee-longsleeve", "TEE-LSL", "Long Sleeve Tee", "Midweight cotton with rib cuffs.", 1899, 220, 200, four, []option{black, white}, []area{front, back, sleeve}},
	{"tank-top", "TNK-UNI", "Unisex Tank Top", "Lightweight jersey tank.", 1199, 120, 150, four, []option{black, white}, []area{front, back}},
	{"kids-tee", "TEE-KID", "Kids Tee", "Durable cotton tee for kids.", 1099, 110, 150, kids, []option{white, red}, []area{{"front", 10, 12, 150, 300, "dtg"}}},
	{"hoodie-pullover", "HOD-PUL", "Pullover Hoodie", "Cotton-poly fleece with front pouch.", 3299, 520, 120, adult, []option{black, grey, navy}, []area{{"front", 13, 13, 150, 300, "dtg"}, {"back", 14, 16, 150, 300, "dtg"}}},
	{"sweatshirt-crew", "SWT-CRW", "Crewneck Sweatshirt", "Classic crewneck, brushed inside.", 2799, 480, 120, four, []option{black, grey}, []area{front, back}},
	{"hoodie-zip", "HOD-ZIP", "Zip Hoodie", "Full-zip fleece hoodie.", 3699, 560, 80, four, []option{black}, []area{{"back", 14, 16, 150, 300, "dtg"}, {"left_chest", 4, 4, 150, 300, "dtg"}}},
	{"mug-11oz", "MUG-11", "Ceramic Mug 11oz", "Glossy ceramic mug, dishwasher safe.", 899, 350, 500, one, []option{white, black}, []area{{"wrap", 8.5, 3.5, 200, 300, "sublimation"}}},
	{"mug-15oz", "MUG-15", "Ceramic Mug 15oz", "Large glossy ceramic mug.", 1099, 420, 300, one, []option{white}, []area{{"wrap", 8.5, 4, 200, 300, "sublimation"}}},
	{"travel-mug", "MUG-TRV", "Stainless Travel Mug", "Double-walled travel mug with lid.", 1999, 300, 100, one, []option{silver, black}, []area{{"wrap", 9, 4, 200, 300, "sublimation"}}},
	{"tote-bag", "BAG-TOT", "Canvas Tote Bag", "Heavy canvas tote with long handles.", 1499, 250, 200, one, []option{natural, black}, []area{{"front", 14, 16, 150, 300, "dtg"}}},
	{"poster-12x18", "PST-1218", "Matte Poster 12x18", "Museum-grade matte paper.", 1199, 90, -1, one, []option{white}, []area{{"front", 12, 18, 100, 150, "giclee"}}},
	{"poster-18x24", "PST-1824", "Matte Poster 18x24", "Museum-grade matte paper.", 1699, 140, -1, one, []option{white}, []area{{"front", 18, 24, 100, 150, "giclee"}}},
	{"canvas-16x20", "CNV-1620", "Stretched Canvas 16x20", "Gallery-wrapped canvas on pine frame.", 4499, 900, 60, one, []option{white}, []area{{"front", 16, 20, 100, 150, "giclee"}}},
	{"phone-case", "CAS-TGH", "Tough Phone Case", "Dual-layer impact-resistant case.", 2199, 60, 150,
		[]option{{"IP15", "iPhone 15", 0}, {"IP15P", "iPhone 15 Pro", 0}, {"PX8", "Pixel 8", 0}}, []option{black}, []area{{"back", 3, 6, 300, 300, "uv"}}},
	{"sticker-kisscut", "STK-KC", "Kiss-Cut Sticker", "Vinyl sticker, white backing.", 299, 10, -1,
		[]option{{"3IN", "3x3 in", 0}, {"4IN", "4x4 in", 100}, {"6IN", "6x6 in", 300}}, []option{white}, []area{{"front", 6, 6, 150, 300, "uv"}}},
	{"cap-dad", "CAP-DAD", "Dad Hat", "Unstructured cotton twill cap.", 2299, 90, 100, one, []option{black, khaki}, []area{{"front", 4, 1.75, 300, 300, "embroidery"}}},
	{"beanie-cuffed", "BNE-CUF", "Cuffed Beanie", "Ribbed knit beanie.", 1899, 80, 100, one, []option{black, grey}, []area{{"front", 5, 1.75, 300, 300, "embroidery"}}},
	{"pillow-18", "PIL-18", "Throw Pillow 18x18", "Spun polyester cover with insert.", 2499, 600, 80, one, []option{white}, []area{{"front", 18, 18, 100, 150, "sublimation"}, {"back", 18, 18, 100, 150, "sublimation"}}},
	{"blanket-fleece", "BLK-FLC", "Fleece Blanket 50x60", "Plush fleece throw.", 3999, 800, 25, one, []option{white}, []area{{"front", 50, 60, 72, 100, "sublimation"}}},
	{"apron", "APR-KIT", "Kitchen Apron", "Adjustable neck strap, two pockets.", 2199, 200, 60, one, []option{black, white}, []area{{"front", 10, 10, 150, 300, "dtg"}}},
	{"mouse-pad", "MPD-STD", "Mouse Pad", "Rubber base, fabric top.", 999, 120, 300, one, []option{black}, []area{{"front", 9.25, 7.75, 150, 300, "sublimation"}}},
	{"water-bottle", "BTL-20", "Water Bottle 20oz", "Insulated stainless bottle.", 2499, 350, 3, one, []option{white}, []area{{"wrap", 8, 4, 200, 300, "sublimation"}}},
}

// SKU builds a demo SKU.
func sku(b blank, size, color option) string { return b.Code + "-" + color.Code + "-" + size.Code }

// Products returns the demo catalog, every id filled in.
func Products() []domain.Product {
	out := make([]domain.Product, 0, len(blanks))
	for _, b := range blanks {
		p := domain.Product{ID: ProductID(b.Slug), Title: b.Title, Description: b.Description, Active: true,
			ImageKey: "blanks/" + b.Slug + ".png"}
		for _, c := range b.Colors {
			for _, s := range b.Sizes {
				code := sku(b, s, c)
				title := c.Label
				if s.Code != "OS" {
					title = c.Label + " / " + s.Label
				}
				v := domain.Variant{ID: VariantID(code), ProductID: p.ID, SKU: code, Title: title, Color: c.Label,
					WeightGrams: b.Weight, Price: domain.Money{Currency: domain.DisplayCurrency, AmountMinor: b.Base + s.Extra + c.Extra},
					Active: true, StockTracked: b.Stock >= 0}
				if s.Code != "OS" {
					v.Size = s.Label
				}
				if b.Stock >= 0 {
					v.StockAvailable = b.Stock
				}
				p.Variants = append(p.Variants, v)
			}
		}
		for _, a := range b.Areas {
			p.Placements = append(p.Placements, domain.Placement{ID: PlacementID(b.Slug, a.Name), ProductID: p.ID, Name: a.Name,
				WidthIn: a.W, HeightIn: a.H, MinDPI: a.MinDPI, RecommendedDPI: a.RecDPI, Technique: a.Technique})
		}
		out = append(out, p)
	}
	return out
}

// VariantPrice is one demo variant as pricing needs it.
type VariantPrice struct {
	VariantID   string `json:"variant_id"`
	ProductID   string `json:"product_id"`
	SKU         string `json:"sku"`
	Currency    string `json:"currency"`
	AmountMinor int64  `json:"amount_minor"`
	WeightGrams int32  `json:"weight_grams"`
}

// Variants is the flat list of demo variants and their display prices.
func Variants() []VariantPrice {
	var out []VariantPrice
	for _, p := range Products() {
		for _, v := range p.Variants {
			out = append(out, VariantPrice{VariantID: v.ID, ProductID: p.ID, SKU: v.SKU, Currency: v.Price.Currency,
				AmountMinor: v.Price.AmountMinor, WeightGrams: v.WeightGrams})
		}
	}
	return out
}

// Creator creates products (app.Catalog).
type Creator interface {
	CreateProduct(ctx context.Context, caller principal.Principal, p domain.Product) (domain.Product, error)
}

// Caller is who the seed job acts as: product writes need an admin.
var Caller = principal.Principal{Subject: "system:seed-demo", Roles: []string{principal.RoleAdmin}}

// Seed creates every demo product that does not exist yet, through the same
// use case as the API (so events and projections follow), as Caller. It is
// idempotent: an existing product is left as it is (its stock may have
// moved).
func Seed(ctx context.Context, c Creator) (created, existing int, err error) {
	for _, p := range Products() {
		_, err := c.CreateProduct(ctx, Caller, p)
		var e *errs.Error
		switch {
		case err == nil:
			created++
		case errors.As(err, &e) && e.Kind == errs.AlreadyExists:
			existing++
		default:
			return created, existing, fmt.Errorf("seed %s: %w", p.Title, err)
		}
	}
	return created, existing, nil
}
