package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Stock: reservations keyed by order id, their items, and the variants'
// available counts they move.

func (t *tx) StartReservation(ctx context.Context, orderID, reservationID string) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO reservations (order_id, id, status) VALUES ($1, $2, 'pending')
		ON CONFLICT (order_id) DO NOTHING`, orderID, reservationID)
	if err != nil {
		return false, fmt.Errorf("start reservation: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (t *tx) StockVariants(ctx context.Context, ids []string) (map[string]app.StockVariant, error) {
	rows, err := t.tx.Query(ctx, `SELECT v.id::text, v.product_id::text, v.active, p.active, v.stock_tracked, v.available
		FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id = ANY($1::uuid[])`, validIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("stock variants: %w", err)
	}
	out := map[string]app.StockVariant{}
	var v app.StockVariant
	_, err = pgx.ForEachRow(rows, []any{&v.ID, &v.ProductID, &v.Active, &v.ProductActive, &v.Tracked, &v.Available},
		func() error { out[v.ID] = v; return nil })
	if err != nil {
		return nil, fmt.Errorf("stock variants: %w", err)
	}
	return out, nil
}

// Reserve decrements tracked variants in id order under a savepoint: each
// UPDATE takes the row lock and re-checks availability, so concurrent orders
// can never take more than there is; one short variant undoes them all.
func (t *tx) Reserve(ctx context.Context, items []domain.OrderItem, vars map[string]app.StockVariant) (string, []string, error) {
	sp, err := t.tx.Begin(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("savepoint: %w", err)
	}
	var zeroed []string
	seen := map[string]bool{}
	for _, it := range items {
		v := vars[it.VariantID]
		if !v.Tracked {
			continue
		}
		var left int64
		err := sp.QueryRow(ctx, `UPDATE variants SET available = available - $2
			WHERE id = $1 AND stock_tracked AND available >= $2 RETURNING available`, it.VariantID, it.Quantity).Scan(&left)
		if errors.Is(err, pgx.ErrNoRows) {
			if rbErr := sp.Rollback(ctx); rbErr != nil {
				return "", nil, fmt.Errorf("rollback to savepoint: %w", rbErr)
			}
			return it.VariantID, nil, nil
		}
		if err != nil {
			_ = sp.Rollback(ctx)
			return "", nil, fmt.Errorf("reserve %s: %w", it.VariantID, err)
		}
		if left == 0 && !seen[v.ProductID] {
			seen[v.ProductID] = true
			zeroed = append(zeroed, v.ProductID)
		}
	}
	if err := sp.Commit(ctx); err != nil {
		return "", nil, fmt.Errorf("release savepoint: %w", err)
	}
	return "", zeroed, nil
}

func (t *tx) FinishReservation(ctx context.Context, orderID, status, reason string, items []domain.OrderItem) error {
	if _, err := t.tx.Exec(ctx, `UPDATE reservations SET status = $2, reason = $3, updated_at = now() WHERE order_id = $1`,
		orderID, status, reason); err != nil {
		return fmt.Errorf("finish reservation: %w", err)
	}
	if len(items) == 0 {
		return nil
	}
	vids := make([]string, len(items))
	qty := make([]int64, len(items))
	for i, it := range items {
		vids[i], qty[i] = it.VariantID, it.Quantity
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO reservation_items (order_id, variant_id, quantity)
		SELECT $1, v, q FROM unnest($2::uuid[], $3::bigint[]) AS x(v, q)`, orderID, vids, qty); err != nil {
		return fmt.Errorf("reservation items: %w", err)
	}
	return nil
}

func (t *tx) Release(ctx context.Context, orderID string) (bool, []string, error) {
	tag, err := t.tx.Exec(ctx, `UPDATE reservations SET status = 'released', updated_at = now()
		WHERE order_id = $1 AND status = 'reserved'`, orderID)
	if err != nil {
		return false, nil, fmt.Errorf("release reservation: %w", err)
	}
	if tag.RowsAffected() == 0 {
		// Never reserved here (rejected, released, or not seen yet): record a
		// cancellation so that a late OrderPlaced reserves nothing.
		if _, err := t.tx.Exec(ctx, `INSERT INTO reservations (order_id, id, status) VALUES ($1, $2, 'cancelled')
			ON CONFLICT (order_id) DO NOTHING`, orderID, uuid.NewString()); err != nil {
			return false, nil, fmt.Errorf("record cancellation: %w", err)
		}
		return false, nil, nil
	}
	rows, err := t.tx.Query(ctx, `UPDATE variants v SET available = v.available + ri.quantity
		FROM reservation_items ri
		WHERE ri.order_id = $1 AND v.id = ri.variant_id AND v.stock_tracked
		RETURNING v.product_id::text, v.available = ri.quantity`, orderID)
	if err != nil {
		return false, nil, fmt.Errorf("restock: %w", err)
	}
	var restocked []string
	seen := map[string]bool{}
	var pid string
	var fromZero bool
	_, err = pgx.ForEachRow(rows, []any{&pid, &fromZero}, func() error {
		if fromZero && !seen[pid] {
			seen[pid] = true
			restocked = append(restocked, pid)
		}
		return nil
	})
	if err != nil {
		return false, nil, fmt.Errorf("restock: %w", err)
	}
	return true, restocked, nil
}
