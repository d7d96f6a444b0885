package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
)

const vid = "0190a000-0000-7000-8000-000000000001"

func mi(code string, amount int64) MoneyInput {
	return MoneyInput{Set: true, Currency: code, Amount: amount}
}

func TestValidateFieldErrors(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	until := from.Add(time.Hour)
	tests := []struct {
		name  string
		run   func() error
		field string
	}{
		{"no prices", func() error { _, err := ValidateVariantPrices(nil); return err }, "prices"},
		{"price too large", func() error {
			_, err := ValidateVariantPrices([]VariantPriceInput{{VariantID: vid, Region: "*", Price: mi("USD", MaxAmount+1)}})
			return err
		}, "prices[0].price.amount_minor"},
		{"braced uuid", func() error {
			_, err := ValidateVariantPrices([]VariantPriceInput{{VariantID: "{" + vid + "}", Region: "*", Price: mi("USD", 1)}})
			return err
		}, "prices[0].variant_id"},
		{"lower-case region", func() error {
			_, err := ValidateVariantPrices([]VariantPriceInput{{VariantID: vid, Region: "us", Price: mi("USD", 1)}})
			return err
		}, "prices[0].region"},
		{"lower-case currency", func() error {
			_, err := ValidateVariantPrices([]VariantPriceInput{{VariantID: vid, Region: "US", Price: mi("usd", 1)}})
			return err
		}, "prices[0].price.currency"},
		{"duplicate surcharge", func() error {
			_, err := ValidateSurcharges([]SurchargeInput{{Technique: "DTG", Price: mi("USD", 1)}, {Technique: "dtg", Price: mi("USD", 2)}})
			return err
		}, "surcharges[1]"},
		{"shipping method", func() error {
			_, err := ValidateShippingRates([]ShippingRateInput{{Method: "next day", Country: "*", FirstItem: mi("USD", 1), AdditionalItem: mi("USD", 1)}})
			return err
		}, "rates[0].method"},
		{"shipping missing amount", func() error {
			_, err := ValidateShippingRates([]ShippingRateInput{{Method: "standard", Country: "*", FirstItem: mi("USD", 1)}})
			return err
		}, "rates[0].additional_item"},
		{"coupon code", func() error {
			_, err := ValidateCoupon(CouponInput{Code: "TEN OFF", Kind: CouponPercent, PercentBP: 1, ValidFrom: &from, ValidUntil: &until})
			return err
		}, "coupon.code"},
		{"percent over 100%", func() error {
			_, err := ValidateCoupon(CouponInput{Code: "X", Kind: CouponPercent, PercentBP: 10001, ValidFrom: &from, ValidUntil: &until})
			return err
		}, "coupon.percent_bp"},
		{"percent with amount", func() error {
			_, err := ValidateCoupon(CouponInput{Code: "X", Kind: CouponPercent, PercentBP: 10, AmountOff: mi("USD", 1), ValidFrom: &from, ValidUntil: &until})
			return err
		}, "coupon.amount_off"},
		{"fixed zero", func() error {
			_, err := ValidateCoupon(CouponInput{Code: "X", Kind: CouponFixed, AmountOff: mi("USD", 0), ValidFrom: &from, ValidUntil: &until})
			return err
		}, "coupon.amount_off.amount_minor"},
		{"empty window", func() error {
			_, err := ValidateCoupon(CouponInput{Code: "X", Kind: CouponPercent, PercentBP: 10, ValidFrom: &from, ValidUntil: &from})
			return err
		}, "coupon.valid_until"},
		{"missing valid_from", func() error {
			_, err := ValidateCoupon(CouponInput{Code: "X", Kind: CouponPercent, PercentBP: 10, ValidUntil: &until})
			return err
		}, "coupon.valid_from"},
		{"negative usage limit", func() error {
			_, err := ValidateCoupon(CouponInput{Code: "X", Kind: CouponPercent, PercentBP: 10, ValidFrom: &from, ValidUntil: &until, UsageLimit: -1})
			return err
		}, "coupon.usage_limit"},
		{"fx duplicate pair", func() error {
			_, err := ValidateFxRates([]FxRateInput{{"USD", "EUR", "0.9"}, {"USD", "EUR", "0.91"}})
			return err
		}, "rates[1]"},
		{"fx too many decimals", func() error {
			_, err := ValidateFxRates([]FxRateInput{{"USD", "EUR", "0.12345678901"}})
			return err
		}, "rates[0].rate"},
		{"placement technique", func() error {
			_, err := ValidatePlacementTechniques([]PlacementTechniqueInput{{PlacementID: vid, Technique: ""}})
			return err
		}, "placements[0].technique"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if errs.KindOf(err) != errs.Invalid {
				t.Fatalf("kind %v: %v", errs.KindOf(err), err)
			}
			if f := violationField(err); f != tt.field {
				t.Fatalf("field %q, want %q (%v)", f, tt.field, err)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Fatalf("message %q does not start with the field", err.Error())
			}
		})
	}
}

func TestValidateNormalises(t *testing.T) {
	t.Parallel()
	xs, err := ValidateSurcharges([]SurchargeInput{{Technique: " Embroidery ", Price: mi("EUR", 700)}})
	if err != nil || xs[0].Technique != "embroidery" || xs[0].Price.Currency.Code != "EUR" {
		t.Fatalf("%+v %v", xs, err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))
	until := from.Add(time.Hour)
	c, err := ValidateCoupon(CouponInput{Code: "welcome-10", Kind: CouponFixed, AmountOff: mi("JPY", 500),
		MinSubtotal: mi("JPY", 0), ValidFrom: &from, ValidUntil: &until, UsageLimit: 5})
	if err != nil || c.Code != "WELCOME-10" || c.ValidFrom.Location() != time.UTC || c.MinSubtotal == nil || c.AmountOff.Amount != 500 {
		t.Fatalf("%+v %v", c, err)
	}
	rs, err := ValidateFxRates([]FxRateInput{{"USD", "JPY", "151.2500"}})
	if err != nil || FormatRate(rs[0].Rate) != "151.25" {
		t.Fatalf("%+v %v", rs, err)
	}
}
