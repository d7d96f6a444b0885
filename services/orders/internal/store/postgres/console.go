package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/printfleet/printfleet/services/orders/internal/app"
)

// storeActivitySQL reads every named store ($1, in order) in one statement;
// each part is a short range of an index of migration 0011: the newest
// order and the held orders on orders_store_created and
// orders_store_on_hold, the push outcomes on order_events_store_push (whose
// predicate the literal types repeat, so the planner may use it; a test
// checks them against the domain's). ON_HOLD is status 10.
const storeActivitySQL = `
	SELECT s.id,
		(SELECT max(o.created_at) FROM orders o WHERE o.store_id = s.id AND o.store_id <> ''),
		ok.created_at, failed.created_at, coalesce(failed.message, ''),
		(SELECT count(*)::int FROM order_events e
		 WHERE e.type IN ('marketplace.push_succeeded', 'marketplace.push_failed')
		   AND e.attributes->>'store_id' = s.id AND e.type = 'marketplace.push_failed' AND e.created_at >= $2),
		(SELECT count(*)::int FROM orders o WHERE o.store_id = s.id AND o.status = 10)
	FROM unnest($1::text[]) WITH ORDINALITY AS s(id, n)
	LEFT JOIN LATERAL (
		SELECT e.created_at FROM order_events e
		WHERE e.type IN ('marketplace.push_succeeded', 'marketplace.push_failed')
		  AND e.attributes->>'store_id' = s.id AND e.type = 'marketplace.push_succeeded'
		ORDER BY e.created_at DESC LIMIT 1) ok ON true
	LEFT JOIN LATERAL (
		SELECT e.created_at, e.message FROM order_events e
		WHERE e.type IN ('marketplace.push_succeeded', 'marketplace.push_failed')
		  AND e.attributes->>'store_id' = s.id AND e.type = 'marketplace.push_failed'
		ORDER BY e.created_at DESC LIMIT 1) failed ON true
	ORDER BY s.n`

// StoreActivity implements app.ConsoleStore on the read pool (a console
// view tolerates the replica's lag).
func (s *Store) StoreActivity(ctx context.Context, storeIDs []string, since time.Time) ([]app.StoreActivity, error) {
	rows, err := s.reader().Query(ctx, storeActivitySQL, storeIDs, since)
	if err != nil {
		return nil, unavailable(fmt.Errorf("store activity: %w", err))
	}
	defer rows.Close()
	var out []app.StoreActivity
	for rows.Next() {
		var (
			a                    app.StoreActivity
			imported, ok, failed *time.Time
		)
		if err := rows.Scan(&a.StoreID, &imported, &ok, &failed, &a.LastPushError, &a.PushFailures24h, &a.OrdersOnHold); err != nil {
			return nil, fmt.Errorf("store activity: %w", err)
		}
		if imported != nil {
			a.LastImportAt = *imported
		}
		if failed != nil {
			a.LastPushFailedAt = *failed
		}
		switch {
		case ok != nil && (failed == nil || !ok.Before(*failed)):
			a.LastPushAt, a.LastPushOK = *ok, true
		case failed != nil:
			a.LastPushAt = *failed
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(fmt.Errorf("store activity: %w", err))
	}
	return out, nil
}
