package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
)

var _ app.StuckStore = (*Store)(nil)

// reconcileLockKey is the advisory lock that makes one worker replica at a
// time run a reconciler pass ("orders.reconcile" as a number).
const reconcileLockKey = 0x6f72645f72656331

// WithReconcileLock implements app.StuckStore with a session advisory lock
// held on one pooled connection for the pass (no transaction stays open
// while the pass calls the payment provider).
func (s *Store) WithReconcileLock(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
	pc, err := s.primary.Acquire(ctx)
	if err != nil {
		return false, unavailable(fmt.Errorf("reconcile lock: %w", err))
	}
	defer pc.Release()
	var got bool
	if err := pc.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(reconcileLockKey)).Scan(&got); err != nil {
		return false, unavailable(fmt.Errorf("reconcile lock: %w", err))
	}
	if !got {
		return false, nil
	}
	defer func() {
		if _, err := pc.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(reconcileLockKey)); err != nil {
			// The session's lock would outlive the pass: drop the connection.
			_ = pc.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	return true, fn(ctx)
}

// stuck selects the orders waiting for a step since before $1, at most $2
// of each kind, with the step and, for a push, the packages waiting for it:
//   - the unsettled orders, from the partial index orders_unsettled (the
//     status numbers are literals, so that the planner can use it; the
//     plan test checks they are the domain.Status values);
//   - the marketplace orders with a package whose push has no outcome yet,
//     from the partial index shipments_push_pending, which holds only such
//     packages (the store sets push_pending when it records a marketplace
//     order's package and clears it with the push outcome naming it).
//
// filter is added to both parts' conditions. The reconciler and the
// console's list share it.
func stuck(filter string) string {
	return `
	(SELECT o.id, CASE o.status WHEN 1 THEN 'place' WHEN 2 THEN 'charge' WHEN 3 THEN 'print_files' ELSE 'refund' END AS step,
	        NULL::text[] AS shipments, o.updated_at
	 FROM orders o
	 WHERE o.updated_at < $1
	   AND (o.status IN (1, 2, 3) OR (o.status = 9 AND o.payment_id <> '' AND o.refund_id = ''))
	   AND NOT (o.status = 2 AND o.payment_id <> '')` + filter + `
	 ORDER BY o.updated_at LIMIT $2)
	UNION ALL
	(SELECT o.id, 'marketplace_push', p.ids, o.updated_at
	 FROM (SELECT s.order_id, array_agg(s.id::text ORDER BY s.created_at, s.id) AS ids
	       FROM shipments s WHERE s.push_pending GROUP BY s.order_id) p
	 JOIN orders o ON o.id = p.order_id
	 WHERE o.updated_at < $1 AND o.status IN (5, 6, 12) AND o.store_id <> ''` + filter + `
	 ORDER BY o.updated_at LIMIT $2)`
}

// stuckSQL is the reconciler's scan: stuck orders not re-driven ($3
// entries) since $1, oldest first.
var stuckSQL = `
	SELECT x.id::text, x.step, x.shipments
	FROM (` + stuck(`
	   AND NOT EXISTS (SELECT 1 FROM order_events r WHERE r.order_id = o.id AND r.type = $3 AND r.created_at >= $1)`) + `) x
	ORDER BY x.updated_at
	LIMIT $2`

// listStuckSQL is the console's list: every stuck order, re-driven lately
// or not, with its re-drives ($3 entries).
var listStuckSQL = `
	SELECT ` + orderColumns + `, x.step, o.updated_at, r.n, r.last
	FROM (` + stuck("") + `) x
	JOIN orders o ON o.id = x.id
	CROSS JOIN LATERAL (
	    SELECT count(*)::int AS n, max(r.created_at) AS last
	    FROM order_events r WHERE r.order_id = o.id AND r.type = $3) r
	ORDER BY o.updated_at, o.id
	LIMIT $2`

var _ app.ConsoleStore = (*Store)(nil)

// ListStuckOrders implements app.ConsoleStore with the reconciler's
// criterion (on the primary, as the reconciler reads).
func (s *Store) ListStuckOrders(ctx context.Context, before time.Time, limit int) ([]app.StuckOrderView, error) {
	rows, err := s.primary.Query(ctx, listStuckSQL, before, limit, domain.EventRedriven)
	if err != nil {
		return nil, unavailable(fmt.Errorf("list stuck orders: %w", err))
	}
	defer rows.Close()
	var out []app.StuckOrderView
	for rows.Next() {
		var (
			v    app.StuckOrderView
			step string
			last *time.Time
		)
		o, _, err := scanOrderWith(rows, &step, &v.WaitingSince, &v.Redriven, &last)
		if err != nil {
			return nil, fmt.Errorf("list stuck orders: %w", err)
		}
		v.Order, v.Step = o, app.Step(step)
		if last != nil {
			v.LastRedrivenAt = *last
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("list stuck orders: %w", err))
	}
	return out, nil
}

// StuckOrders implements app.StuckStore. An order waits for a step since its
// last change (updated_at); a re-drive that changes nothing but announces the
// step again leaves an order.redriven entry, which counts as the new start.
func (s *Store) StuckOrders(ctx context.Context, before time.Time, limit int) ([]app.StuckOrder, error) {
	rows, err := s.primary.Query(ctx, stuckSQL, before, limit, domain.EventRedriven)
	if err != nil {
		return nil, unavailable(fmt.Errorf("stuck orders: %w", err))
	}
	defer rows.Close()
	var out []app.StuckOrder
	for rows.Next() {
		var o app.StuckOrder
		var step string
		if err := rows.Scan(&o.ID, &step, &o.Shipments); err != nil {
			return nil, fmt.Errorf("stuck orders: %w", err)
		}
		o.Step = app.Step(step)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("stuck orders: %w", err))
	}
	return out, nil
}
