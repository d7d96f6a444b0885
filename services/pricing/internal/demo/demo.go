// Package demo holds the price lists of the demo catalog and loads them
// through the same validated admin paths as the RPCs (pricing seed-demo).
// Seeding is idempotent: prices, surcharges, rates and placement techniques
// are upserts, and a coupon with the same code and terms is left alone.
//
// Demo ids are shared with the catalog without either service reading the
// other's data: a variant's id is uuid.NewSHA1(Namespace, []byte(sku)), and
// a placement's id is uuid.NewSHA1(Namespace, []byte("placement:"+slug+":"+name)).
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

// Namespace is the UUID namespace demo ids are derived in.
var Namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://printfleet.dev/demo"))

// VariantID is the demo variant id of sku.
func VariantID(sku string) uuid.UUID { return uuid.NewSHA1(Namespace, []byte(sku)) }

// PlacementID is the demo placement id of a product's placement.
func PlacementID(slug, name string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte("placement:"+slug+":"+name))
}

// Variant is a demo SKU and its USD base price (cents, catch-all region).
type Variant struct {
	SKU string
	USD int64
}

// Placement is a demo print area and its technique.
type Placement struct {
	Name, Technique string
}

// Product is a demo product.
type Product struct {
	Slug       string
	Variants   []Variant
	Placements []Placement
}

// Catalog is the demo catalog as pricing knows it.
var Catalog = []Product{
	{Slug: "classic-tee", Variants: sizes("TEE-WHT", 1250, 1450), Placements: []Placement{{"front", "dtg"}, {"back", "dtg"}, {"left-sleeve", "screen"}}},
	{Slug: "classic-tee-black", Variants: sizes("TEE-BLK", 1250, 1450), Placements: []Placement{{"front", "dtg"}, {"back", "dtg"}, {"left-sleeve", "screen"}}},
	{Slug: "pullover-hoodie", Variants: sizes("HOODIE-BLK", 2950, 3150), Placements: []Placement{{"front", "dtg"}, {"back", "dtg"}, {"chest", "embroidery"}}},
	{Slug: "ceramic-mug", Variants: []Variant{{"MUG-WHT-11OZ", 650}, {"MUG-WHT-15OZ", 795}}, Placements: []Placement{{"wrap", "sublimation"}}},
	{Slug: "dad-cap", Variants: []Variant{{"CAP-BLK-OS", 1500}}, Placements: []Placement{{"front", "embroidery"}, {"side", "embroidery"}}},
	{Slug: "canvas-tote", Variants: []Variant{{"TOTE-NAT-OS", 1100}}, Placements: []Placement{{"front", "screen"}, {"back", "screen"}}},
}

func sizes(prefix string, base, xl int64) []Variant {
	return []Variant{{prefix + "-S", base}, {prefix + "-M", base}, {prefix + "-L", base}, {prefix + "-XL", xl}}
}

// USRegionDiscount is taken off the catch-all price for region "US" (the
// demo's blanks are printed in the US), to exercise regional prices.
const USRegionDiscount = 50

func usd(amount int64) domain.MoneyInput {
	return domain.MoneyInput{Set: true, Currency: "USD", Amount: amount}
}

func in(code string, amount int64) domain.MoneyInput {
	return domain.MoneyInput{Set: true, Currency: code, Amount: amount}
}

// Prices are the demo base prices: USD for "*" and "US"; other currencies
// are priced through FX.
func Prices() []domain.VariantPriceInput {
	var out []domain.VariantPriceInput
	for _, p := range Catalog {
		for _, v := range p.Variants {
			id := VariantID(v.SKU).String()
			out = append(out,
				domain.VariantPriceInput{VariantID: id, Region: domain.Wildcard, Price: usd(v.USD)},
				domain.VariantPriceInput{VariantID: id, Region: "US", Price: usd(v.USD - USRegionDiscount)})
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
	}
}

// ShippingRates for US, GB, DE and the rest of the world.
func ShippingRates() []domain.ShippingRateInput {
	return []domain.ShippingRateInput{
		{Method: "standard", Country: "US", FirstItem: usd(499), AdditionalItem: usd(199)},
		{Method: "standard", Country: "GB", FirstItem: in("GBP", 449), AdditionalItem: in("GBP", 150)},
		{Method: "standard", Country: "DE", FirstItem: in("EUR", 549), AdditionalItem: in("EUR", 200)},
		{Method: "standard", Country: domain.Wildcard, FirstItem: usd(1299), AdditionalItem: usd(399)},
		{Method: "express", Country: "US", FirstItem: usd(1299), AdditionalItem: usd(399)},
		{Method: "express", Country: domain.Wildcard, FirstItem: usd(2999), AdditionalItem: usd(999)},
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

// Coupons: WELCOME10 is valid for years, SUMMER5 expired in 2024, FIRST100
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
	for _, p := range Catalog {
		for _, pl := range p.Placements {
			out = append(out, domain.PlacementTechniqueInput{PlacementID: PlacementID(p.Slug, pl.Name).String(), Technique: pl.Technique})
		}
	}
	return out
}

// Summary says what a seed changed.
type Summary struct {
	Prices, Surcharges, Shipping, Fx, Placements, CouponsCreated int
}

// Seed loads the demo price lists through svc as an admin.
func Seed(ctx context.Context, svc *app.Service) (Summary, error) {
	ctx = principal.With(ctx, principal.Principal{Subject: "service:pricing-seed-demo", Roles: []string{principal.RoleAdmin}})
	var sum Summary
	steps := []struct {
		name string
		n    *int
		run  func() (app.WriteResult, error)
	}{
		{"fx rates", &sum.Fx, func() (app.WriteResult, error) { return svc.SetFxRates(ctx, FxRates()) }},
		{"variant prices", &sum.Prices, func() (app.WriteResult, error) { return svc.SetVariantPrices(ctx, Prices()) }},
		{"surcharges", &sum.Surcharges, func() (app.WriteResult, error) { return svc.SetPlacementSurcharges(ctx, Surcharges()) }},
		{"shipping rates", &sum.Shipping, func() (app.WriteResult, error) { return svc.SetShippingRates(ctx, ShippingRates()) }},
		{"placement techniques", &sum.Placements, func() (app.WriteResult, error) { return svc.SetPlacementTechniques(ctx, Placements()) }},
	}
	for _, s := range steps {
		res, err := s.run()
		if err != nil {
			return sum, fmt.Errorf("seed %s: %w", s.name, err)
		}
		*s.n = res.Changed
	}
	for _, c := range Coupons() {
		_, created, err := svc.EnsureCoupon(ctx, c)
		if err != nil {
			return sum, fmt.Errorf("seed coupon %s: %w", c.Code, err)
		}
		if created {
			sum.CouponsCreated++
		}
	}
	return sum, nil
}
