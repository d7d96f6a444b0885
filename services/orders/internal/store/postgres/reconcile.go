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

// stuckStep names what an order selected by stuckWhere waits for.
const stuckStep = `CASE o.status
		WHEN 1 THEN 'place' WHEN 2 THEN 'charge' WHEN 9 THEN 'refund' WHEN 3 THEN 'print_files' ELSE 'marketplace_push' END`

// unpushed is the condition on a shipment s of order o that no push outcome
// ($3, $4 entries naming it) is on o's timeline.
const unpushed = `NOT EXISTS (
	      SELECT 1 FROM order_events e WHERE e.order_id = o.id AND e.type IN ($3, $4)
	        AND e.attributes->>'shipment_id' = s.id::text)`

// stuckWhere is the reconciler's criterion: an order waiting for a step
// since before $1 ($3 and $4 are the push outcome entry types). A
// marketplace order, SHIPPED or PARTIALLY_SHIPPED, waits for a push while
// one of its packages has no push outcome. Its status numbers are literals
// (domain.Status values, checked by a test) so that the planner can use the
// partial index orders_unsettled. The reconciler and the console's list
// share it.
const stuckWhere = `o.updated_at < $1
	  AND (o.status IN (1, 2, 3)
	    OR (o.status IN (5, 12) AND o.store_id <> '')
	    OR (o.status = 9 AND o.payment_id <> '' AND o.refund_id = ''))
	  AND NOT (o.status = 2 AND o.payment_id <> '')
	  AND NOT (o.status IN (5, 12) AND NOT EXISTS (
	      SELECT 1 FROM shipments s WHERE s.order_id = o.id AND ` + unpushed + `))`

// stuckSQL is the reconciler's scan: stuck orders not re-driven ($5) since
// $1, with the packages a push is missing for.
const stuckSQL = `
	SELECT o.id::text, ` + stuckStep + `,
	       CASE WHEN o.status IN (5, 12) THEN ARRAY(
	           SELECT s.id::text FROM shipments s WHERE s.order_id = o.id AND ` + unpushed + `
	           ORDER BY s.created_at, s.id) END
	FROM orders o
	WHERE ` + stuckWhere + `
	  AND NOT EXISTS (SELECT 1 FROM order_events r WHERE r.order_id = o.id AND r.type = $5 AND r.created_at >= $1)
	ORDER BY o.updated_at
	LIMIT $2`

// listStuckSQL is the console's list: every stuck order, re-driven lately
// or not, with its re-drives ($5 entries).
const listStuckSQL = `
	SELECT ` + orderColumns + `, ` + stuckStep + `, o.updated_at, r.n, r.last
	FROM orders o
	CROSS JOIN LATERAL (
	    SELECT count(*)::int AS n, max(r.created_at) AS last
	    FROM order_events r WHERE r.order_id = o.id AND r.type = $5) r
	WHERE ` + stuckWhere + `
	ORDER BY o.updated_at, o.id
	LIMIT $2`

var _ app.ConsoleStore = (*Store)(nil)

// ListStuckOrders implements app.ConsoleStore with the reconciler's
// criterion (on the primary, as the reconciler reads).
func (s *Store) ListStuckOrders(ctx context.Context, before time.Time, limit int) ([]app.StuckOrderView, error) {
	rows, err := s.primary.Query(ctx, listStuckSQL, before, limit,
		domain.EventMarketplaceSucceeded, domain.EventMarketplaceFailed, domain.EventRedriven)
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
	rows, err := s.primary.Query(ctx, stuckSQL, before, limit,
		domain.EventMarketplaceSucceeded, domain.EventMarketplaceFailed, domain.EventRedriven)
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
