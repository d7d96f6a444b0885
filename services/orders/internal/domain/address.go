package domain

import (
	"regexp"
	"unicode/utf8"

	"github.com/printfleet/printfleet/platform/errs"
)

var countryRE = regexp.MustCompile(`^[A-Z]{2}$`)

// Address is a postal shipping address.
type Address struct {
	name, line1, line2, city, region, postalCode, countryCode string
}

// AddressFields are the parts of an address, as a constructor argument and as
// read back from storage.
type AddressFields struct {
	Name, Line1, Line2, City, Region, PostalCode, CountryCode string
}

// NewAddress validates f. field prefixes the names in violations (e.g.
// "shipping_address").
func NewAddress(field string, f AddressFields) (Address, error) {
	check := []struct {
		name     string
		value    string
		min, max int
	}{
		{"name", f.Name, 1, 200},
		{"line1", f.Line1, 1, 200},
		{"line2", f.Line2, 0, 200},
		{"city", f.City, 1, 100},
		{"region", f.Region, 0, 100},
		{"postal_code", f.PostalCode, 1, 20},
	}
	for _, c := range check {
		if !utf8.ValidString(c.value) {
			return Address{}, errs.Field(field+"."+c.name, "must be valid UTF-8")
		}
		n := utf8.RuneCountInString(c.value)
		if n < c.min {
			return Address{}, errs.Field(field+"."+c.name, "is required")
		}
		if n > c.max {
			return Address{}, errs.Field(field+"."+c.name, "is longer than the maximum length")
		}
	}
	if !countryRE.MatchString(f.CountryCode) {
		return Address{}, errs.Field(field+".country_code", "must be an ISO 3166-1 alpha-2 code in upper case")
	}
	return Address{f.Name, f.Line1, f.Line2, f.City, f.Region, f.PostalCode, f.CountryCode}, nil
}

// Fields returns the address's parts.
func (a Address) Fields() AddressFields {
	return AddressFields{a.name, a.line1, a.line2, a.city, a.region, a.postalCode, a.countryCode}
}

// CountryCode is the destination country.
func (a Address) CountryCode() string { return a.countryCode }
