package domain

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
)

func item(v uuid.UUID, qty int32, placements ...uuid.UUID) QuoteItem {
	it := QuoteItem{VariantID: v.String(), Quantity: qty}
	for _, p := range placements {
		it.PlacementIDs = append(it.PlacementIDs, p.String())
	}
	return it
}

func TestQuoteTable(t *testing.T) {
	t.Parallel()
	s := fixture(t)
	type want struct {
		unit, sur, line, subtotal, shipping, discount, total int64
	}
	tests := []struct {
		name string
		req  QuoteRequest
		want want
	}{
		{"exact region in quote currency",
			QuoteRequest{Items: []QuoteItem{item(tee, 2)}, Country: "US", Currency: "USD"},
			want{1199, 0, 2398, 2398, 499 + 199, 0, 3096}},
		{"catch-all region converted to EUR",
			QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "DE", Currency: "EUR"},
			// 12.50 USD × 0.92 = 11.50 EUR; shipping 14.99 × 0.92 = 13.7908 → 13.79
			want{1150, 0, 1150, 1150, 1379, 0, 2529}},
		{"regional price in its own currency",
			QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "GB", Currency: "GBP"},
			want{1050, 0, 1050, 1050, 399, 0, 1449}},
		{"inverse rate GBP→USD",
			QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "GB", Currency: "USD"},
			// 10.50 / 0.79 = 13.2911… → 13.29; 3.99 / 0.79 = 5.0506… → 5.05
			want{1329, 0, 1329, 1329, 505, 0, 1834}},
		{"surcharges by placement technique, default dtg",
			QuoteRequest{Items: []QuoteItem{item(tee, 3, front, back, sleeve, unknownPl)}, Country: "US", Currency: "USD"},
			// back embroidery 700 + sleeve screen 350 + unknown dtg 500
			want{1199, 1550, 3 * 2749, 8247, 499 + 2*199, 0, 8247 + 897}},
		{"surcharge in quote currency preferred over conversion",
			QuoteRequest{Items: []QuoteItem{item(tee, 1, front, back)}, Country: "DE", Currency: "EUR"},
			want{1150, 650, 1800, 1800, 1379, 0, 3179}},
		{"technique override",
			QuoteRequest{Items: []QuoteItem{{VariantID: tee.String(), Quantity: 1, PlacementIDs: []string{front.String(), back.String()}, Technique: "Screen"}}, Country: "US", Currency: "USD"},
			want{1199, 350, 1549, 1549, 499, 0, 2048}},
		{"JPY exponent 0",
			QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "US", Currency: "JPY"},
			// 11.99 × 151.25 = 1813.4875 → 1813; 4.99 × 151.25 = 754.7375 → 755
			want{1813, 0, 1813, 1813, 755, 0, 2568}},
		{"percent coupon, half to even",
			QuoteRequest{Items: []QuoteItem{item(tee, 2)}, Country: "US", Currency: "USD", CouponCode: "tenoff"},
			// 10 % of 23.98 = 2.398 → 2.40
			want{1199, 0, 2398, 2398, 698, 240, 2398 + 698 - 240}},
		{"fixed coupon above minimum",
			QuoteRequest{Items: []QuoteItem{item(tee, 2)}, Country: "US", Currency: "USD", CouponCode: "FIVE"},
			want{1199, 0, 2398, 2398, 698, 500, 2596}},
		{"fixed coupon converted",
			QuoteRequest{Items: []QuoteItem{item(tee, 2)}, Country: "DE", Currency: "EUR", CouponCode: "FIVE"},
			// 5.00 USD = 4.60 EUR; min 20.00 USD = 18.40 EUR ≤ 23.00
			want{1150, 0, 2300, 2300, 1379 + 459, 460, 2300 + 1838 - 460}},
		{"discount capped at subtotal",
			QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "US", Currency: "USD", CouponCode: "BIG"},
			want{1199, 0, 1199, 1199, 499, 1199, 499}},
		{"current window of a reused code",
			QuoteRequest{Items: []QuoteItem{item(tee, 2)}, Country: "US", Currency: "USD", CouponCode: "SEASON"},
			// 2 % of 23.98 = 0.4796 → 0.48
			want{1199, 0, 2398, 2398, 698, 48, 2398 + 698 - 48}},
		{"express",
			QuoteRequest{Items: []QuoteItem{item(mug, 4)}, Country: "US", Currency: "USD", ShippingMethod: "Express"},
			want{799, 0, 3196, 3196, 1299 + 3*399, 0, 3196 + 2496}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := s.Quote(tt.req, t0)
			if err != nil {
				t.Fatal(err)
			}
			got := want{q.Lines[0].UnitPrice, q.Lines[0].Surcharges, q.Lines[0].LineTotal, q.Subtotal, q.Shipping, q.Discount, q.Total}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			if q.Currency.Code != tt.req.Currency || q.DataVersion != 7 {
				t.Fatalf("currency %s version %d", q.Currency.Code, q.DataVersion)
			}
		})
	}
}

func TestQuoteErrors(t *testing.T) {
	t.Parallel()
	s := fixture(t)
	us := func(items ...QuoteItem) QuoteRequest {
		return QuoteRequest{Items: items, Country: "US", Currency: "USD"}
	}
	withCoupon := func(r QuoteRequest, code string) QuoteRequest { r.CouponCode = code; return r }
	tests := []struct {
		name    string
		req     QuoteRequest
		kind    errs.Kind
		field   string
		message string
	}{
		{"unknown variant", us(item(tee, 1), item(uuid.MustParse("0190a000-0000-7000-8000-0000000000aa"), 1)),
			errs.Invalid, "items[1].variant_id", "no price for variant 0190a000-0000-7000-8000-0000000000aa"},
		{"variant not priced for the region", us(item(gbOnly, 1)),
			errs.Invalid, "items[0].variant_id", "no price for variant"},
		{"malformed variant id", us(QuoteItem{VariantID: "nope", Quantity: 1}),
			errs.Invalid, "items[0].variant_id", "must be a UUID"},
		{"no FX rate", us(item(sekOnly, 1)),
			errs.FailedPrecondition, "", "no FX rate to USD"},
		{"unsupported currency", QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "US", Currency: "XXX"},
			errs.Invalid, "currency", `unsupported currency "XXX"`},
		{"bad country", QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "usa", Currency: "USD"},
			errs.Invalid, "country_code", "ISO 3166-1"},
		{"no items", us(), errs.Invalid, "items", "1..100"},
		{"zero quantity", us(item(tee, 0)), errs.Invalid, "items[0].quantity", "1..1000"},
		{"duplicate placement", us(item(tee, 1, front, front)), errs.Invalid, "items[0].placement_ids[1]", "listed twice"},
		{"unknown technique override", us(QuoteItem{VariantID: tee.String(), Quantity: 1, Technique: "laser"}),
			errs.Invalid, "items[0].technique", `no surcharge for technique "laser"`},
		{"placement technique without surcharge", us(item(tee, 1, front, sublPl)),
			errs.FailedPrecondition, "", `no surcharge configured for technique "sublimation"`},
		{"unknown method", QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "US", Currency: "USD", ShippingMethod: "drone"},
			errs.Invalid, "shipping_method", `shipping method "drone" does not reach US; methods that do: express, standard`},
		{"no shipping to destination", QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "DE", Currency: "USD", ShippingMethod: "express"},
			errs.Invalid, "shipping_method", `shipping method "express" does not reach DE; methods that do: standard`},
		{"unknown coupon", withCoupon(us(item(tee, 1)), "NOPE"), errs.Invalid, "coupon_code", `unknown coupon "NOPE"`},
		{"expired coupon", withCoupon(us(item(tee, 1)), "old"), errs.FailedPrecondition, "coupon_code",
			`coupon "OLD" expired at 2026-02-28T12:00:00Z`},
		{"not yet valid coupon", withCoupon(us(item(tee, 1)), "SOON"), errs.FailedPrecondition, "coupon_code",
			`coupon "SOON" is not valid until 2026-03-02T12:00:00Z`},
		{"used-up coupon", withCoupon(us(item(tee, 1)), "DONE"), errs.FailedPrecondition, "coupon_code",
			`coupon "DONE" has reached its usage limit of 3`},
		{"below minimum subtotal", withCoupon(us(item(tee, 1)), "FIVE"), errs.FailedPrecondition, "coupon_code",
			`coupon "FIVE" needs a subtotal of at least 20.00 USD; this subtotal is 11.99 USD`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Quote(tt.req, t0)
			if err == nil {
				t.Fatal("no error")
			}
			if kindOf(err) != tt.kind {
				t.Fatalf("kind = %v, want %v (%v)", kindOf(err), tt.kind, err)
			}
			if f := violationField(err); f != tt.field {
				t.Fatalf("field = %q, want %q (%v)", f, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("message %q does not contain %q", err.Error(), tt.message)
			}
		})
	}
}

func TestCouponWindowIsHalfOpen(t *testing.T) {
	t.Parallel()
	s := fixture(t)
	c := s.Coupons("tenoff")[0]
	req := QuoteRequest{Items: []QuoteItem{item(tee, 1)}, Country: "US", Currency: "USD", CouponCode: "TENOFF"}
	if _, err := s.Quote(req, c.ValidFrom); err != nil {
		t.Fatalf("at valid_from: %v", err)
	}
	if _, err := s.Quote(req, c.ValidUntil.Add(-1)); err != nil {
		t.Fatalf("just before valid_until: %v", err)
	}
	if _, err := s.Quote(req, c.ValidUntil); kindOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("at valid_until: %v", err)
	}
	if _, err := s.Quote(req, c.ValidFrom.Add(-1)); kindOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "not valid until") {
		t.Fatalf("before valid_from: %v", err)
	}
}
