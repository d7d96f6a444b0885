package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Stock: reservations keyed by order id, their items, and the variants'
// available counts they move.

// ReserveStock implements app.Store: an OrderPlaced's whole transaction in
// two round trips. The first pipelines BEGIN, the inbox claim with the
// pending reservation row (one statement), the order's earlier decision if
// any (announced again through r.Again when a new message finds one), the
// variants' flags, a savepoint
// and one UPDATE that decrements every tracked variant that has enough
// stock; the second pipelines the outcome (a rollback to the savepoint when
// decide rejects), the reservation's status and items, the events and
// COMMIT. The UPDATE takes each tracked row's lock and re-checks
// availability under it, so concurrent orders never take more than there
// is; a variant it could not take makes decide reject, and the savepoint
// undoes the others. Untracked variants are neither written nor locked. Only
// when a product's variant hits zero does the version bump that announces
// it cost a third round trip.
func (s *Store) ReserveStock(ctx context.Context, r app.Reservation, decide func(app.ReservationState) (app.Verdict, error)) (seen bool, err error) {
	if r.Claim.MessageID == "" {
		return false, amqp.Permanent(fmt.Errorf("inbox %s: message has no id", r.Claim.Consumer))
	}
	// Sorted, so that concurrent orders lock shared variants in one order.
	items := slices.Clone(r.Items)
	slices.SortFunc(items, func(a, b domain.OrderItem) int { return strings.Compare(a.VariantID, b.VariantID) })
	var vids []string
	var qty []int64
	for _, it := range items {
		if uuid.Validate(it.VariantID) == nil {
			vids, qty = append(vids, it.VariantID), append(qty, it.Quantity)
		}
	}

	conn, err := s.primary.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("reserve stock: %w", err)
	}
	// Release destroys a connection left inside a transaction.
	defer conn.Release()
	defer func() {
		if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`
		WITH claim AS (
			INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2)
			ON CONFLICT DO NOTHING RETURNING 1
		), start AS (
			INSERT INTO reservations (order_id, id, status) SELECT $3, $4, 'pending' FROM claim
			ON CONFLICT (order_id) DO NOTHING RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM start), EXISTS (SELECT 1 FROM claim)`, r.Claim.Consumer, r.Claim.MessageID, r.OrderID, r.ReservationID)
	// An earlier decision for the order (not this message's row), held
	// until commit so that a release does not slip between it and its
	// announcement. A new statement: it sees a row that a concurrent
	// message committed while the INSERT above waited for it.
	b.Queue(`SELECT id::text, status, reason, rejected_variant_id FROM reservations
		WHERE order_id = $1 AND id <> $2 FOR SHARE`, r.OrderID, r.ReservationID)
	// The next statements see the row the previous one inserted: they do
	// nothing unless this message started this order's reservation.
	b.Queue(`
		SELECT v.id::text, v.product_id::text, v.active, p.active, v.stock_tracked, v.available
		FROM variants v JOIN products p ON p.id = v.product_id
		WHERE v.id = ANY($1::uuid[])
		  AND EXISTS (SELECT 1 FROM reservations r WHERE r.order_id = $2 AND r.id = $3)`, vids, r.OrderID, r.ReservationID)
	b.Queue("SAVEPOINT reserve")
	b.Queue(`
		UPDATE variants v SET available = v.available - x.q
		FROM unnest($1::uuid[], $2::bigint[]) AS x(id, q)
		WHERE v.id = x.id AND v.stock_tracked AND v.available >= x.q
		  AND EXISTS (SELECT 1 FROM reservations r WHERE r.order_id = $3 AND r.id = $4)
		RETURNING v.id::text, v.product_id::text, v.available`, vids, qty, r.OrderID, r.ReservationID)

	state := app.ReservationState{Variants: map[string]app.StockVariant{}}
	reserved := map[string]bool{}
	var fresh, claimed bool
	var prior *app.Decision
	err = func() error {
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := br.QueryRow().Scan(&fresh, &claimed); err != nil {
			return fmt.Errorf("start reservation: %w", err)
		}
		var d app.Decision
		switch err := br.QueryRow().Scan(&d.ReservationID, &d.Status, &d.Rejection.Reason, &d.Rejection.VariantID); {
		case err == nil:
			prior = &d
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("earlier reservation: %w", err)
		}
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("stock variants: %w", err)
		}
		var v app.StockVariant
		if _, err := pgx.ForEachRow(rows, []any{&v.ID, &v.ProductID, &v.Active, &v.ProductActive, &v.Tracked, &v.Available},
			func() error { state.Variants[v.ID] = v; return nil }); err != nil {
			return fmt.Errorf("stock variants: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		rows, err = br.Query()
		if err != nil {
			return fmt.Errorf("reserve: %w", err)
		}
		var id, pid string
		var left int64
		seenProduct := map[string]bool{}
		if _, err := pgx.ForEachRow(rows, []any{&id, &pid, &left}, func() error {
			reserved[id] = true
			if !seenProduct[pid] {
				seenProduct[pid] = true
				state.Moved = append(state.Moved, pid)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("reserve: %w", err)
		}
		return br.Close()
	}()
	if err != nil {
		return false, fmt.Errorf("reserve stock: %w", err)
	}

	b = &pgx.Batch{}
	if fresh {
		for _, it := range r.Items { // the order's own order: the first short item is named
			if v, ok := state.Variants[it.VariantID]; ok && v.Tracked && !reserved[it.VariantID] {
				state.Short = it.VariantID
				break
			}
		}
		if state.Short != "" {
			state.Moved = nil
		}
		verdict, err := decide(state)
		if err != nil {
			return false, err
		}
		if err := s.queueVerdict(ctx, conn, b, r, verdict); err != nil {
			return false, err
		}
	}
	var again []outbox.Event
	if !fresh && claimed && prior != nil && r.Again != nil {
		// A new message for an order decided before: its answer may have
		// been lost, so it is given again (nothing is reserved twice).
		again = r.Again(*prior)
		if err := outbox.Queue(ctx, b, again...); err != nil {
			return false, err
		}
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return false, fmt.Errorf("reserve stock: commit: %w", err)
	}
	if (fresh || len(again) > 0) && s.wake != nil {
		s.wake()
	}
	return !fresh, nil
}

// queueVerdict queues the reservation's outcome and events on b; the
// version bump that announces products at zero runs at once, since the
// events carry the new versions.
func (s *Store) queueVerdict(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, r app.Reservation, v app.Verdict) error {
	if v.Rejection != nil {
		b.Queue("ROLLBACK TO SAVEPOINT reserve")
		b.Queue(`UPDATE reservations SET status = $2, reason = $3, rejected_variant_id = $4, updated_at = now() WHERE order_id = $1`,
			r.OrderID, domain.ReservationRejected, v.Rejection.Reason, v.Rejection.VariantID)
	} else {
		b.Queue(`UPDATE reservations SET status = $2, reason = '', updated_at = now() WHERE order_id = $1`,
			r.OrderID, domain.ReservationReserved)
		if len(r.Items) > 0 {
			vids := make([]string, len(r.Items))
			qty := make([]int64, len(r.Items))
			for i, it := range r.Items {
				vids[i], qty[i] = it.VariantID, it.Quantity
			}
			b.Queue(`INSERT INTO reservation_items (order_id, variant_id, quantity)
				SELECT $1, v, q FROM unnest($2::uuid[], $3::bigint[]) AS x(v, q)`, r.OrderID, vids, qty)
		}
	}
	events := v.Events
	if v.Rejection == nil && len(v.Changed) > 0 && v.Announce != nil {
		b.Queue(`UPDATE products SET version = version + 1, updated_at = now()
			WHERE id = ANY($1::uuid[]) RETURNING id::text, version`, v.Changed)
		br := conn.SendBatch(ctx, b)
		for range b.Len() - 1 {
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return fmt.Errorf("finish reservation: %w", err)
			}
		}
		rows, err := br.Query()
		if err != nil {
			_ = br.Close()
			return fmt.Errorf("bump versions: %w", err)
		}
		var id string
		var ver int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &ver}, func() error {
			events = append(events, v.Announce(id, ver))
			return nil
		}); err != nil {
			_ = br.Close()
			return fmt.Errorf("bump versions: %w", err)
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("finish reservation: %w", err)
		}
		*b = pgx.Batch{}
	}
	if err := outbox.Queue(ctx, b, events...); err != nil {
		return err
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
		RETURNING v.product_id::text`, orderID)
	if err != nil {
		return false, nil, fmt.Errorf("restock: %w", err)
	}
	var restocked []string
	seen := map[string]bool{}
	var pid string
	_, err = pgx.ForEachRow(rows, []any{&pid}, func() error {
		if !seen[pid] {
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
