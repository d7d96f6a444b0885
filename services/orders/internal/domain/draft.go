package domain

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
)

// DeliveryEstimate is when a parcel sent by the order's shipping method
// arrives, as pricing estimated it: business days and the dates they give
// (YYYY-MM-DD, UTC). The zero value is "no estimate".
type DeliveryEstimate struct {
	MinDays      int32  `json:"min_days,omitempty"`
	MaxDays      int32  `json:"max_days,omitempty"`
	EarliestDate string `json:"earliest_date,omitempty"`
	LatestDate   string `json:"latest_date,omitempty"`
}

// IsZero reports whether there is no estimate.
func (e DeliveryEstimate) IsZero() bool { return e == DeliveryEstimate{} }

// Pricing is what an order keeps of the quote it was priced with besides its
// lines and totals.
type Pricing struct {
	ShippingMethod   string
	DeliveryEstimate DeliveryEstimate
	Tax              Money
	TaxIncluded      bool
}

// MaxShippingMethodLen bounds a shipping method's name.
const MaxShippingMethodLen = 32

var shippingMethodRE = regexp.MustCompile(`^[a-z0-9_-]*$`)

// CheckShippingMethod validates a shipping method a client names ("" is the
// cheapest that reaches the address).
func CheckShippingMethod(m string) error { return checkShippingMethod(m) }

func checkShippingMethod(m string) error {
	if len(m) > MaxShippingMethodLen || !shippingMethodRE.MatchString(m) {
		return errs.Field("shipping_method", "must be at most 32 lower-case letters, digits, '_' or '-'")
	}
	return nil
}

// checkTotal is the invariant of an order's money: total = subtotal +
// shipping − discount + tax, or, when the prices include the tax, subtotal +
// shipping − discount (the tax is then the part of it that is tax).
func checkTotal(f OrderFields) error {
	want := f.Subtotal.amount + f.Shipping.amount - f.Discount.amount
	if !f.TaxIncluded {
		want += f.Tax.amount
	}
	if want != f.Total.amount {
		return fmt.Errorf("new order: total %d is not subtotal %d + shipping %d - discount %d + tax %d (included: %t)",
			f.Total.amount, f.Subtotal.amount, f.Shipping.amount, f.Discount.amount, f.Tax.amount, f.TaxIncluded)
	}
	return nil
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// ShippingMethod is the method priced into shipping.
func (o *Order) ShippingMethod() string { return o.pricing.ShippingMethod }

// DeliveryEstimate is the shipping method's estimate as of the pricing.
func (o *Order) DeliveryEstimate() DeliveryEstimate { return o.pricing.DeliveryEstimate }

// Tax is the order's tax line.
func (o *Order) Tax() Money { return o.pricing.Tax }

// TaxIncluded reports whether the prices include the tax.
func (o *Order) TaxIncluded() bool { return o.pricing.TaxIncluded }

// ExpiresAt is when a DRAFT order expires (zero for any other status).
func (o *Order) ExpiresAt() time.Time { return o.expiresAt }

// Address is the shipping address.
func (o *Order) Address() AddressFields { return o.address.Fields() }

// NewDraft builds a DRAFT order at version 1: an order NewOrder accepts
// (every invariant of a placed order holds for a draft too) that holds no
// stock and no money and expires at expiresAt unless it is confirmed.
func NewDraft(f OrderFields, expiresAt time.Time) (*Order, error) {
	if !expiresAt.After(f.CreatedAt) {
		return nil, fmt.Errorf("new draft: expires at %s, created at %s", expiresAt, f.CreatedAt)
	}
	o, err := NewOrder(f)
	if err != nil {
		return nil, err
	}
	o.status = StatusDraft
	o.expiresAt = expiresAt.UTC()
	return o, nil
}

// Expired reports whether a draft is past its expiry at now.
func (o *Order) Expired(now time.Time) bool {
	return o.status == StatusDraft && !now.Before(o.expiresAt)
}

// sameOrder checks that priced, built by NewOrder or NewDraft, is a pricing
// of o itself (same id and owner).
func (o *Order) sameOrder(priced *Order, action string) error {
	if priced.id != o.id || priced.userID != o.userID || priced.storeID != o.storeID || priced.externalOrderID != o.externalOrderID {
		return fmt.Errorf("%s draft %s: the priced order is another order", action, o.id)
	}
	return nil
}

// takeContent copies what a client chooses and pricing decides from priced.
func (o *Order) takeContent(priced *Order) {
	o.items = slices.Clone(priced.items)
	o.address, o.currency, o.paymentMethod, o.quoteID = priced.address, priced.currency, priced.paymentMethod, priced.quoteID
	o.subtotal, o.shipping, o.discount, o.total = priced.subtotal, priced.shipping, priced.discount, priced.total
	o.couponCode = priced.couponCode
	o.pricing = priced.pricing
}

// UpdateDraft replaces a draft's items, address, method, coupon, payment
// method and prices with those of edited (the draft as the client wants it
// now, priced again): DRAFT → DRAFT. expiresAt is the new expiry: an edit
// gives the draft a full time to live again.
func (o *Order) UpdateDraft(edited *Order, expiresAt, now time.Time) error {
	if o.status != StatusDraft {
		return o.refuse("edit")
	}
	if err := o.sameOrder(edited, "update"); err != nil {
		return err
	}
	if !expiresAt.After(now) {
		return fmt.Errorf("update draft %s: expires at %s, now is %s", o.id, expiresAt, now)
	}
	o.takeContent(edited)
	o.expiresAt = expiresAt.UTC()
	o.updatedAt = now.UTC()
	return nil
}

// Reprice records new prices of the same content on a draft (its price
// changed when it was confirmed): DRAFT → DRAFT, expiry unchanged.
func (o *Order) Reprice(priced *Order, now time.Time) error {
	if o.status != StatusDraft {
		return o.refuse("reprice")
	}
	if err := o.sameOrder(priced, "reprice"); err != nil {
		return err
	}
	o.takeContent(priced)
	o.updatedAt = now.UTC()
	return nil
}

// PlaceDraft places a draft: DRAFT → PENDING with the content and prices of
// placed (the draft priced again for placement, built by NewOrder). A draft
// past its expiry is refused.
func (o *Order) PlaceDraft(placed *Order, now time.Time) error {
	if o.status != StatusDraft {
		return o.refuse("confirm")
	}
	if o.Expired(now) {
		return errs.E(errs.FailedPrecondition, "the draft expired at %s", o.expiresAt.Format(time.RFC3339))
	}
	if err := o.sameOrder(placed, "place"); err != nil {
		return err
	}
	if placed.status != StatusPending {
		return fmt.Errorf("place draft %s: the placed order is %s", o.id, placed.status)
	}
	o.takeContent(placed)
	o.expiresAt = time.Time{}
	o.move(StatusPending, now)
	return nil
}

// DraftExpiredReason is the failure reason of an expired draft.
const DraftExpiredReason = "draft expired"

// Expire cancels a draft past its expiry: DRAFT → CANCELLED with reason
// "draft expired". A draft not yet expired, or any other order, is refused.
func (o *Order) Expire(now time.Time) error {
	if o.status != StatusDraft {
		return o.refuse("expire")
	}
	if !o.Expired(now) {
		return errs.E(errs.FailedPrecondition, "the draft expires at %s", o.expiresAt.Format(time.RFC3339))
	}
	o.failureReason = DraftExpiredReason
	o.expiresAt = time.Time{}
	o.move(StatusCancelled, now)
	return nil
}
