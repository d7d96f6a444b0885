package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/services/orders/internal/domain"
	pgstore "github.com/printfleet/printfleet/services/orders/internal/store/postgres"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// TestStoreActivityPlanUsesIndexes explains the store activity statement
// for 200 stores on 30,000 orders of 1,500 stores with 60,000 timeline
// entries (a third of them push outcomes), analyzed, and fails on a
// sequential scan of orders or order_events: every part of it is an index
// range. The push types it names as literals (for the partial index) are
// the domain's.
func TestStoreActivityPlanUsesIndexes(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{domain.EventMarketplaceSucceeded, domain.EventMarketplaceFailed} {
		if !strings.Contains(pgstore.StoreActivitySQL, "'"+typ+"'") {
			t.Fatalf("the statement does not name %q", typ)
		}
	}
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	seedOrders(t, pool, `(i % 12) + 1`, `CASE WHEN i % 3 = 0 THEN '' ELSE md5('store' || (i % 1500))::uuid::text END`,
		`'EXT-' || i`, `now()`)
	if _, err := pool.Exec(ctx, `
		INSERT INTO order_events (id, order_id, type, message, attributes, created_at)
		SELECT md5('event' || i)::uuid, md5('order' || (i % 30000 + 1))::uuid,
			CASE i % 6 WHEN 0 THEN $1 WHEN 1 THEN $2 ELSE 'order.placed' END, 'm',
			jsonb_build_object('store_id', md5('store' || ((i % 30000 + 1) % 1500))::uuid::text),
			now() - i * interval '10 seconds'
		FROM generate_series(1, 60000) i`, domain.EventMarketplaceSucceeded, domain.EventMarketplaceFailed); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE orders; ANALYZE order_events`); err != nil {
		t.Fatal(err)
	}
	var stores []string
	if err := pool.QueryRow(ctx, `SELECT array_agg(md5('store' || i)::uuid::text) FROM generate_series(1, 200) i`).Scan(&stores); err != nil {
		t.Fatal(err)
	}
	text := explain(t, pool, pgstore.StoreActivitySQL, stores, time.Now().Add(-24*time.Hour))
	for _, want := range []string{"orders_store_created", "orders_store_on_hold", "order_events_store_push"} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan does not use %s", want)
		}
	}
	if strings.Contains(text, "Seq Scan on orders") || strings.Contains(text, "Seq Scan on order_events") {
		t.Fatalf("sequential scan in the plan")
	}
}
