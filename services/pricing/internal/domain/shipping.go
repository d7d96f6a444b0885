package domain

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// MaxTransitDays bounds a shipping rate's min_days and max_days.
const MaxTransitDays = 60

// DefaultProductionDays is the production lead time, in business days,
// before a parcel leaves.
const DefaultProductionDays = 2

// DateLayout is how delivery dates are written (YYYY-MM-DD, UTC).
const DateLayout = time.DateOnly

// DeliveryEstimate is when a parcel sent by a method arrives. MinDays and
// MaxDays are the method's business days in transit; the dates count them
// from the quote day (UTC) after the production lead time.
type DeliveryEstimate struct {
	MinDays, MaxDays int32
	Earliest         time.Time // a UTC midnight
	Latest           time.Time // a UTC midnight
}

// EarliestDate is Earliest as YYYY-MM-DD.
func (e DeliveryEstimate) EarliestDate() string { return e.Earliest.Format(DateLayout) }

// LatestDate is Latest as YYYY-MM-DD.
func (e DeliveryEstimate) LatestDate() string { return e.Latest.Format(DateLayout) }

// ShippingOption is one method priced for a cart, in the quote currency.
type ShippingOption struct {
	Method   string
	Price    int64
	Estimate DeliveryEstimate
}

func isWeekend(d time.Time) bool {
	wd := d.Weekday()
	return wd == time.Saturday || wd == time.Sunday
}

// AddBusinessDays returns the UTC day n business days (Monday to Friday)
// after the day of t: each step moves to the next weekday. With n = 0 it is
// t's own day, or the Monday after when that day falls on a weekend, so the
// result is always a business day.
func AddBusinessDays(t time.Time, n int) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		d = d.AddDate(0, 0, 1)
		for isWeekend(d) {
			d = d.AddDate(0, 0, 1)
		}
	}
	for isWeekend(d) {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// EstimateDelivery is the estimate for a parcel quoted at now, made in
// productionDays business days and then minDays..maxDays business days in
// transit: earliest = now's day + production + minDays business days,
// latest = now's day + production + maxDays business days.
func EstimateDelivery(now time.Time, productionDays int, minDays, maxDays int32) DeliveryEstimate {
	if productionDays < 0 {
		productionDays = 0
	}
	return DeliveryEstimate{
		MinDays:  minDays,
		MaxDays:  maxDays,
		Earliest: AddBusinessDays(now, productionDays+int(minDays)),
		Latest:   AddBusinessDays(now, productionDays+int(maxDays)),
	}
}

// rateFor is the rates of method to country: the country's own rows, else
// the catch-all's.
func (s *Snapshot) rateFor(method, country string) []ShippingRate {
	if rs := s.shipping[shipKey{method, country}]; len(rs) > 0 {
		return rs
	}
	return s.shipping[shipKey{method, Wildcard}]
}

// shippingOptions prices every method that reaches country for units items
// in cur, cheapest first (ties by method name). A method whose rate cannot
// be converted to cur is left out, its error kept in failed.
func (s *Snapshot) shippingOptions(country string, cur Currency, units int64, now time.Time, productionDays int) (opts []ShippingOption, failed map[string]error) {
	for method := range s.methods {
		rates := s.rateFor(method, country)
		if len(rates) == 0 {
			continue
		}
		r, price, err := s.priceShipping(method, country, rates, cur, units)
		if err != nil {
			if failed == nil {
				failed = map[string]error{}
			}
			failed[method] = err
			continue
		}
		opts = append(opts, ShippingOption{Method: method, Price: price,
			Estimate: EstimateDelivery(now, productionDays, r.MinDays, r.MaxDays)})
	}
	SortShippingOptions(opts)
	return opts, failed
}

// SortShippingOptions orders options cheapest first, ties by method name.
func SortShippingOptions(opts []ShippingOption) {
	slices.SortFunc(opts, func(a, b ShippingOption) int {
		return cmp.Or(cmp.Compare(a.Price, b.Price), strings.Compare(a.Method, b.Method))
	})
}

// chooseShipping picks the requested method among the options (the cheapest
// when method is empty).
func chooseShipping(method, country string, opts []ShippingOption, failed map[string]error) (ShippingOption, error) {
	if method == "" {
		if len(opts) == 0 {
			if len(failed) > 0 {
				ms := slices.Sorted(maps.Keys(failed))
				return ShippingOption{}, failed[ms[0]]
			}
			return ShippingOption{}, fieldf("country_code", "no shipping method reaches %s", country)
		}
		return opts[0], nil
	}
	for _, o := range opts {
		if o.Method == method {
			return o, nil
		}
	}
	if err, ok := failed[method]; ok {
		return ShippingOption{}, err
	}
	names := make([]string, 0, len(opts)+len(failed))
	for _, o := range opts {
		names = append(names, o.Method)
	}
	for m := range failed {
		names = append(names, m)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return ShippingOption{}, fieldf("shipping_method", "shipping method %q does not reach %s, and no method does", method, country)
	}
	return ShippingOption{}, fieldf("shipping_method", "shipping method %q does not reach %s; methods that do: %s",
		method, country, strings.Join(names, ", "))
}

// priceShipping prices units items sent by method with one of rates (the
// one in cur, else the first convertible one).
func (s *Snapshot) priceShipping(method, country string, rates []ShippingRate, cur Currency, units int64) (ShippingRate, int64, error) {
	r := rates[0]
	found := false
	for _, x := range rates {
		if x.Currency == cur {
			r, found = x, true
			break
		}
	}
	if !found {
		for _, x := range rates {
			if _, ok := s.factors[[2]string{x.Currency.Code, cur.Code}]; ok {
				r = x
				break
			}
		}
	}
	what := func() string { return fmt.Sprintf("%s shipping to %s", method, country) }
	first, err := s.pick([]Price{{r.Currency, r.FirstItem}}, cur, what)
	if err != nil {
		return r, 0, err
	}
	add, err := s.pick([]Price{{r.Currency, r.AdditionalItem}}, cur, what)
	if err != nil {
		return r, 0, err
	}
	extra, err := MulAmounts(add, units-1)
	if err == nil {
		extra, err = AddAmounts(first, extra)
	}
	if err != nil {
		return r, 0, tooLarge("items", err)
	}
	return r, extra, nil
}

// ApplicableShippingRates selects from rows the rates that reach country:
// per method, the country's own rows, else the catch-all's; ordered by
// first_item (cheapest first), then method and currency.
func ApplicableShippingRates(rows []ShippingRate, country string) []ShippingRate {
	own := map[string]bool{}
	for _, r := range rows {
		if r.Country == country {
			own[r.Method] = true
		}
	}
	var out []ShippingRate
	for _, r := range rows {
		if r.Country == country || (r.Country == Wildcard && !own[r.Method]) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b ShippingRate) int {
		return cmp.Or(cmp.Compare(a.FirstItem, b.FirstItem), strings.Compare(a.Method, b.Method),
			strings.Compare(a.Currency.Code, b.Currency.Code))
	})
	return out
}
