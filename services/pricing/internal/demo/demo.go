// Package demo holds the price lists of the demo catalog and loads them
// through the same validated admin paths as the RPCs (the pricing-seed-demo
// job). Seeding is idempotent: prices, surcharges, rates and placement
// techniques are upserts, and a coupon with the same code and terms is left
// alone.
//
// The catalog owns the demo catalog (services/catalog/internal/demo); pricing
// cannot import it (Go's internal rule) and never reads the catalog's data,
// so this package mirrors the catalog's blanks table and its id scheme:
//
//	Namespace    = uuid.NewSHA1(uuid.NameSpaceURL, "https://printfleet.dev/demo-catalog")
//	             = f5998d11-5f6a-55a2-b34d-04f3b1ecb3d2
//	variant id   = uuid.NewSHA1(Namespace, SKU), SKU = code-color-size ("TEE-UNI-BLK-M")
//	placement id = uuid.NewSHA1(Namespace, "placement/" + slug + "/" + name)
//
// The catch-all ("*") USD base price of each variant is the catalog's
// display price (product base + size upcharge); tests pin a few ids and
// prices so a drift between the two tables is caught.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// Namespace is the UUIDv5 namespace of every demo id (the catalog's).
var Namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://printfleet.dev/demo-catalog"))

// VariantID is the demo variant id of sku.
func VariantID(sku string) uuid.UUID { return uuid.NewSHA1(Namespace, []byte(sku)) }

// PlacementID is the demo placement id of a product's placement.
func PlacementID(slug, name string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte("placement/"+slug+"/"+name))
}

type option struct {
	Code  string
	Extra int64 // upcharge in cents
}

type area struct{ Name, Technique string }

// blank mirrors a row of the catalog's demo table (only what pricing needs).
type blank struct {
	Slug, Code    string
	Base          int64 // USD cents
	Sizes, Colors []option
	Areas         []area
}

var (
	adult = []option{{"S", 0}, {"M", 0}, {"L", 0}, {"XL", 0}, {"2XL", 200}}
	four  = []option{{"S", 0}, {"M", 0}, {"L", 0}, {"XL", 0}}
	kids  = []option{{"XS", 0}, {"S", 0}, {"M", 0}, {"L", 0}}
	one   = []option{{"OS", 0}}

	black, white, navy, grey = option{"BLK", 0}, option{"WHT", 0}, option{"NVY", 0}, option{"GRY", 0}
	red, natural, khaki      = option{"RED", 0}, option{"NAT", 0}, option{"KHK", 0}
	silver                   = option{"SLV", 0}

	front, back, sleeve = area{"front", "dtg"}, area{"back", "dtg"}, area{"left_sleeve", "dtg"}
)

var blanks = []blank{
	{"tee-unisex", "TEE-UNI", 1299, adult, []option{black, white, navy}, []area{front, back, sleeve}},
	{"tee-vneck", "TEE-VNK", 1399, four, []option{black, white}, []area{front, back}},
	{"tee-longsleeve", "TEE-LSL", 1899, four, []option{black, white}, []area{front, back, sleeve}},
	{"tank-top", "TNK-UNI", 1199, four, []option{black, white}, []area{front, back}},
	{"kids-tee", "TEE-KID", 1099, kids, []option{white, red}, []area{front}},
	{"hoodie-pullover", "HOD-PUL", 3299, adult, []option{black, grey, navy}, []area{front, back}},
	{"sweatshirt-crew", "SWT-CRW", 2799, four, []option{black, grey}, []area{front, back}},
	{"hoodie-zip", "HOD-ZIP", 3699, four, []option{black}, []area{back, {"left_chest", "dtg"}}},
	{"mug-11oz", "MUG-11", 899, one, []option{white, black}, []area{{"wrap", "sublimation"}}},
	{"mug-15oz", "MUG-15", 1099, one, []option{white}, []area{{"wrap", "sublimation"}}},
	{"travel-mug", "MUG-TRV", 1999, one, []option{silver, black}, []area{{"wrap", "sublimation"}}},
	{"tote-bag", "BAG-TOT", 1499, one, []option{natural, black}, []area{front}},
	{"poster-12x18", "PST-1218", 1199, one, []option{white}, []area{{"front", "giclee"}}},
	{"poster-18x24", "PST-1824", 1699, one, []option{white}, []area{{"front", "giclee"}}},
	{"canvas-16x20", "CNV-1620", 4499, one, []option{white}, []area{{"front", "giclee"}}},
	{"phone-case", "CAS-TGH", 2199, []option{{"IP15", 0}, {"IP15P", 0}, {"PX8", 0}}, []option{black}, []area{{"back", "uv"}}},
	{"sticker-kisscut", "STK-KC", 299, []option{{"3IN", 0}, {"4IN", 100}, {"6IN", 300}}, []option{white}, []area{{"front", "uv"}}},
	{"cap-dad", "CAP-DAD", 2299, one, []option{black, khaki}, []area{{"front", "embroidery"}}},
	{"beanie-cuffed", "BNE-CUF", 1899, one, []option{black, grey}, []area{{"front", "embroidery"}}},
	{"pillow-18", "PIL-18", 2499, one, []option{white}, []area{{"front", "sublimation"}, {"back", "sublimation"}}},
	{"blanket-fleece", "BLK-FLC", 3999, one, []option{white}, []area{{"front", "sublimation"}}},
	{"apron", "APR-KIT", 2199, one, []option{black, white}, []area{front}},
	{"mouse-pad", "MPD-STD", 999, one, []option{black}, []area{{"front", "sublimation"}}},
	{"water-bottle", "BTL-20", 2499, one, []option{white}, []area{{"wrap", "sublimation"}}},
}

// Variant is a demo SKU with its USD display price.
type Variant struct {
	SKU  string
	Slug string
	USD  int64
}

// Variants lists every demo variant (the catalog's SKU order).
func Variants() []Variant {
	var out []Variant
	for _, b := range blanks {
		for _, c := range b.Colors {
			for _, s := range b.Sizes {
				out = append(out, Variant{SKU: b.Code + "-" + c.Code + "-" + s.Code, Slug: b.Slug, USD: b.Base + s.Extra + c.Extra})
			}
		}
	}
	return out
}

// GBTee is the demo's one regional price list: the unisex tee sells in the
// GB region for a GBP price of its own (everything else converts via FX).
const (
	GBTeeSlug = "tee-unisex"
	GBTeeGBP  = 1099 // pence; 2XL adds the same 200 upcharge
)

func usd(amount int64) domain.MoneyInput {
	return domain.MoneyInput{Set: true, Currency: "USD", Amount: amount}
}

func in(code string, amount int64) domain.MoneyInput {
	return domain.MoneyInput{Set: true, Currency: code, Amount: amount}
}

// Prices are the demo base prices: the USD display price for "*", plus the
// GBP regional prices of the unisex tee.
func Prices() []domain.VariantPriceInput {
	var out []domain.VariantPriceInput
	for _, v := range Variants() {
		id := VariantID(v.SKU).String()
		out = append(out, domain.VariantPriceInput{VariantID: id, Region: domain.Wildcard, Price: usd(v.USD)})
		if v.Slug == GBTeeSlug {
			gbp := int64(GBTeeGBP)
			if v.USD > 1299 {
				gbp += v.USD - 1299
			}
			out = append(out, domain.VariantPriceInput{VariantID: id, Region: "GB", Price: in("GBP", gbp)})
		}
	}
	return out
}

// Surcharges per extra placement, by technique.
func Surcharges() []domain.SurchargeInput {
	return []domain.SurchargeInput{
		{Technique: "dtg", Price: usd(500)},
		{Technique: "screen", Price: usd(350)},
		{Technique: "embroidery", Price: usd(700)},
		{Technique: "sublimation", Price: usd(400)},
		{Technique: "giclee", Price: usd(600)},
		{Technique: "uv", Price: usd(450)},
	}
}

// ShippingRates for US, GB, DE and the rest of the world, with business
// days in transit.
func ShippingRates() []domain.ShippingRateInput {
	return []domain.ShippingRateInput{
		{Method: "standard", Country: "US", FirstItem: usd(499), AdditionalItem: usd(199), MinDays: 3, MaxDays: 5},
		{Method: "standard", Country: "GB", FirstItem: in("GBP", 449), AdditionalItem: in("GBP", 150), MinDays: 3, MaxDays: 6},
		{Method: "standard", Country: "DE", FirstItem: in("EUR", 549), AdditionalItem: in("EUR", 200), MinDays: 3, MaxDays: 6},
		{Method: "standard", Country: domain.Wildcard, FirstItem: usd(1299), AdditionalItem: usd(399), MinDays: 5, MaxDays: 12},
		{Method: "express", Country: "US", FirstItem: usd(1299), AdditionalItem: usd(399), MinDays: 1, MaxDays: 2},
		{Method: "express", Country: domain.Wildcard, FirstItem: usd(2999), AdditionalItem: usd(999), MinDays: 2, MaxDays: 5},
	}
}

// TaxRates for destinations no demo total depends on: Canada adds GST (and
// Quebec its combined rate), the Netherlands' prices include VAT.
func TaxRates() []domain.TaxRateInput {
	return []domain.TaxRateInput{
		{Country: "CA", RateBP: 500},
		{Country: "CA", Region: "QC", RateBP: 1498},
		{Country: "NL", RateBP: 2100, Included: true},
	}
}

// FxRates from USD (the inverse directions are derived exactly).
func FxRates() []domain.FxRateInput {
	return []domain.FxRateInput{
		{Base: "USD", Quote: "EUR", Rate: "0.92"},
		{Base: "USD", Quote: "GBP", Rate: "0.79"},
		{Base: "USD", Quote: "JPY", Rate: "151.25"},
		{Base: "USD", Quote: "CAD", Rate: "1.36"},
		{Base: "USD", Quote: "AUD", Rate: "1.52"},
	}
}

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// Coupons are the demo coupons: WELCOME10 is valid for years, SUMMER5 expired in 2024, FIRST100
// is valid but limited to 100 uses.
func Coupons() []domain.CouponInput {
	return []domain.CouponInput{
		{Code: "WELCOME10", Kind: domain.CouponPercent, PercentBP: 1000, MinSubtotal: usd(2000),
			ValidFrom: at("2025-01-01T00:00:00Z"), ValidUntil: at("2036-01-01T00:00:00Z")},
		{Code: "SUMMER5", Kind: domain.CouponFixed, AmountOff: usd(500),
			ValidFrom: at("2024-06-01T00:00:00Z"), ValidUntil: at("2024-09-01T00:00:00Z"), UsageLimit: 1000},
		{Code: "FIRST100", Kind: domain.CouponPercent, PercentBP: 1500,
			ValidFrom: at("2025-01-01T00:00:00Z"), ValidUntil: at("2036-01-01T00:00:00Z"), UsageLimit: 100},
	}
}

// Placements maps the demo placements to their techniques.
func Placements() []domain.PlacementTechniqueInput {
	var out []domain.PlacementTechniqueInput
	for _, b := range blanks {
		for _, a := range b.Areas {
			out = append(out, domain.PlacementTechniqueInput{PlacementID: PlacementID(b.Slug, a.Name).String(), Technique: a.Technique})
		}
	}
	return out
}

// Summary says what a seed changed.
type Summary struct {
	Prices, Surcharges, Shipping, Tax, Fx, Placements, CouponsCreated int
}

// Seeder is the principal the demo data is written as: an admin, so the
// seed goes through the same role check as an admin's RPCs.
var Seeder = principal.Principal{Subject: "service:pricing-seed-demo", Roles: []string{principal.RoleAdmin}}

// Seed loads the demo price lists through svc as Seeder.
func Seed(ctx context.Context, svc *app.Service) (Summary, error) {
	caller := Seeder
	var sum Summary
	steps := []struct {
		name string
		n    *int
		run  func() (app.WriteResult, error)
	}{
		{"fx rates", &sum.Fx, func() (app.WriteResult, error) { return svc.SetFxRates(ctx, caller, FxRates()) }},
		{"variant prices", &sum.Prices, func() (app.WriteResult, error) { return svc.SetVariantPrices(ctx, caller, Prices()) }},
		{"surcharges", &sum.Surcharges, func() (app.WriteResult, error) { return svc.SetPlacementSurcharges(ctx, caller, Surcharges()) }},
		{"shipping rates", &sum.Shipping, func() (app.WriteResult, error) { return svc.SetShippingRates(ctx, caller, ShippingRates()) }},
		{"tax rates", &sum.Tax, func() (app.WriteResult, error) { return svc.SetTaxRates(ctx, caller, TaxRates()) }},
		{"placement techniques", &sum.Placements, func() (app.WriteResult, error) { return svc.SetPlacementTechniques(ctx, caller, Placements()) }},
	}
	for _, s := range steps {
		res, err := s.run()
		if err != nil {
			return sum, fmt.Errorf("seed %s: %w", s.name, err)
		}
		*s.n = res.Changed
	}
	for _, c := range Coupons() {
		_, created, err := svc.EnsureCoupon(ctx, caller, c)
		if err != nil {
			return sum, fmt.Errorf("seed coupon %s: %w", c.Code, err)
		}
		if created {
			sum.CouponsCreated++
		}
	}
	return sum, nil
}
