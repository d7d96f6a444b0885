package domain

import (
	"fmt"
	"sort"
)

// OrderItem is one line of an order to reserve blank stock for.
type OrderItem struct {
	VariantID string
	Quantity  int64
}

// Reservation statuses.
const (
	ReservationReserved  = "reserved"
	ReservationRejected  = "rejected"
	ReservationReleased  = "released"
	ReservationCancelled = "cancelled" // released before the order was seen
)

// Rejection reasons.
const (
	ReasonInsufficientStock = "insufficient_stock"
	ReasonUnknownVariant    = "unknown_variant"
	ReasonInactive          = "variant_inactive"
	ReasonInvalid           = "invalid_item"
)

// Rejection says why an order's stock could not be reserved.
type Rejection struct {
	Reason    string
	VariantID string
}

func (r *Rejection) Error() string { return fmt.Sprintf("%s (variant %s)", r.Reason, r.VariantID) }

// MergeItems sums quantities per variant and sorts by variant id, so that
// concurrent reservations lock rows in one order (no deadlocks). Items with a
// non-positive quantity are a rejection.
func MergeItems(items []OrderItem) ([]OrderItem, *Rejection) {
	sum := map[string]int64{}
	for _, it := range items {
		if it.Quantity <= 0 || it.VariantID == "" {
			return nil, &Rejection{Reason: ReasonInvalid, VariantID: it.VariantID}
		}
		sum[it.VariantID] += it.Quantity
	}
	if len(sum) == 0 {
		return nil, &Rejection{Reason: ReasonInvalid}
	}
	out := make([]OrderItem, 0, len(sum))
	for id, q := range sum {
		out = append(out, OrderItem{VariantID: id, Quantity: q})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VariantID < out[j].VariantID })
	return out, nil
}
