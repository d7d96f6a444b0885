package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

var _ app.DraftStore = (*Store)(nil)

// estimateText is a delivery estimate as InsertOrder's JSON text ("" for
// none).
func estimateText(e domain.DeliveryEstimate) string {
	if e.IsZero() {
		return ""
	}
	b, _ := json.Marshal(e)
	return string(b)
}

// timeText is a timestamp as InsertOrder's text ("" for none).
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func taxAmount(f domain.OrderFields) int64 {
	if f.Tax.IsZero() {
		return 0
	}
	return f.Tax.Amount()
}

// queueDraftContent writes what a draft's edit, repricing or placement
// changes besides the columns every transition writes: the header's
// content and prices, the expiry, and the items (replaced when they
// changed: an edit builds new ones).
func queueDraftContent(b *pgx.Batch, before, after domain.OrderFields) {
	addr, _ := json.Marshal(toAddressJSON(after.Address))
	b.Queue(`
		UPDATE orders SET currency = $2, subtotal_minor = $3, shipping_minor = $4, discount_minor = $5,
			total_minor = $6, coupon_code = $7, payment_method = $8, quote_id = $9, shipping_address = $10,
			shipping_method = $11, delivery_estimate = NULLIF($12::text, '')::jsonb, tax_minor = $13,
			tax_included = $14, expires_at = NULLIF($15::text, '')::timestamptz
		WHERE id = $1`,
		after.ID, after.Currency, after.Subtotal.Amount(), after.Shipping.Amount(), after.Discount.Amount(),
		after.Total.Amount(), after.CouponCode, int16(after.PaymentMethod), after.QuoteID, addr,
		after.ShippingMethod, estimateText(after.DeliveryEstimate), taxAmount(after), after.TaxIncluded,
		timeText(after.ExpiresAt))
	if sameItems(before.Items, after.Items) {
		return
	}
	b.Queue(`DELETE FROM order_items WHERE order_id = $1`, after.ID)
	queueItems(b, after)
}

func sameItems(a, b []domain.ItemFields) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Quantity != y.Quantity || x.UnitPrice != y.UnitPrice || x.LineTotal != y.LineTotal {
			return false
		}
	}
	return true
}

// dueDraftsSQL reads drafts past their expiry, oldest first, through the
// partial index orders_draft_expiry (status 11 is domain.StatusDraft, a
// literal so that the planner matches the index's predicate). SKIP LOCKED
// passes over a draft that a confirm or an edit holds right now: that
// transaction decides it, and a later sweep sees what it left.
const dueDraftsSQL = `
	SELECT o.id::text FROM orders o
	WHERE o.status = 11 AND o.expires_at <= $1
	ORDER BY o.expires_at
	LIMIT $2
	FOR UPDATE SKIP LOCKED`

// DueDrafts implements app.DraftStore.
func (s *Store) DueDrafts(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.primary.Query(ctx, dueDraftsSQL, now, limit)
	if err != nil {
		return nil, unavailable(fmt.Errorf("due drafts: %w", err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, unavailable(fmt.Errorf("due drafts: %w", err))
	}
	return ids, nil
}
