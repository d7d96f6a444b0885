package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

// externalIndex is the unique index of (store_id, external_order_id): one
// order per marketplace order.
const externalIndex = "orders_store_external"

// externalTaken is the answer to a create naming a marketplace order that
// has its order already.
func externalTaken(externalID string) error {
	return errs.E(errs.AlreadyExists, "an order for external order id %q of this store exists already", externalID)
}

var _ app.ImportStore = (*Store)(nil)

// FindByExternal implements app.ImportStore: the order of a marketplace
// order (the one the unique index holds), or errs.NotFound.
func (s *Store) FindByExternal(ctx context.Context, storeID, externalID string) (*domain.Order, error) {
	if storeID == "" || externalID == "" {
		return nil, notFound()
	}
	o, err := scanOrder(s.primary.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders o
		WHERE o.store_id = $1 AND o.external_order_id = $2 AND o.external_unique`, storeID, externalID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound()
	}
	if err != nil {
		return nil, unavailable(fmt.Errorf("find order by external id: %w", err))
	}
	return o, nil
}

// CreateHeldOrder implements app.ImportStore: the ON_HOLD order, its
// timeline and events in one transaction, unless the marketplace order has
// its order already (placed or held by a concurrent import): then nothing is
// written and created is false. The insert is ON CONFLICT DO NOTHING on the
// unique index, so the race between a held insert and a placed one has one
// winner whichever comes first.
func (s *Store) CreateHeldOrder(ctx context.Context, o *domain.Order, c app.Change) (created bool, err error) {
	f := o.Fields()
	addr, err := json.Marshal(toAddressJSON(f.Address))
	if err != nil {
		return false, fmt.Errorf("create held order: encode address: %w", err)
	}
	var written *outbox.Written
	err = postgres.InTx(ctx, s.primary, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, discount_minor,
				total_minor, payment_method, store_id, external_order_id, shipping_address, version,
				created_at, updated_at, trace_parent, hold_reason, import_request)
			VALUES ($1, $2, $3, $4, 0, 0, 0, 0, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13)
			ON CONFLICT (store_id, external_order_id)
				WHERE store_id <> '' AND external_order_id <> '' AND external_unique
			DO NOTHING`,
			f.ID, f.UserID, int16(f.Status), f.Currency, int16(f.PaymentMethod), f.StoreID, f.ExternalOrderID,
			addr, f.Version, f.CreatedAt, traceParent(ctx), f.HoldReason, jsonOrNull(f.ImportRequest))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		created = true
		b := &pgx.Batch{}
		queueTimeline(b, c.Timeline)
		w, err := outbox.QueueWritten(ctx, b, c.Events...)
		if err != nil {
			return err
		}
		written = w
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return false, unavailable(fmt.Errorf("create held order: %w", err))
	}
	if created {
		s.committed(written.Rows())
		countTransition(domain.StatusUnspecified, f.Status)
	}
	return created, nil
}

func jsonOrNull(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// queuePlaceFromHold writes what placing a held order adds: its totals,
// quote and address (as validated now) and its items; the kept request is
// dropped.
func queuePlaceFromHold(b *pgx.Batch, f domain.OrderFields) {
	addr, _ := json.Marshal(toAddressJSON(f.Address))
	b.Queue(`
		UPDATE orders SET currency = $2, subtotal_minor = $3, shipping_minor = $4, discount_minor = $5,
			total_minor = $6, coupon_code = $7, payment_method = $8, quote_id = $9, shipping_address = $10,
			import_request = NULL
		WHERE id = $1`,
		f.ID, f.Currency, f.Subtotal.Amount(), f.Shipping.Amount(), f.Discount.Amount(), f.Total.Amount(),
		f.CouponCode, int16(f.PaymentMethod), f.QuoteID, addr)
	queueItems(b, f)
}
