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

// TestStuckScanUsesIndexes explains the reconciler's scan on 30,000 orders,
// a third of them shipped to marketplaces with their pushes done and 1 in
// 100 packages still waiting, analyzed: it reads the unsettled orders and
// the waiting packages from their partial indexes, never every order or
// every package, so a pass costs what is stuck, not what has shipped.
func TestStuckScanUsesIndexes(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	seedOrders(t, pool, `CASE WHEN i % 3 = 0 THEN (i % 12) + 1 ELSE 5 END`, `md5('store' || (i % 1500))::uuid::text`,
		`'EXT-' || i`, `now() - i * interval '1 minute'`)
	if _, err := pool.Exec(ctx, `
		INSERT INTO shipments (id, order_id, carrier, tracking_number, tracking_url, created_at, carrier_key, push_pending)
		SELECT md5('pkg' || i)::uuid, md5('order' || i)::uuid, 'ups', '1Z' || i, '', now() - i * interval '1 minute', 'ups', i % 100 = 0
		FROM generate_series(1, 30000) i WHERE i % 3 <> 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE orders; ANALYZE shipments`); err != nil {
		t.Fatal(err)
	}
	// The statement names statuses by number, for the partial indexes.
	for st, n := range map[domain.Status]int{domain.StatusPending: 1, domain.StatusConfirmed: 2, domain.StatusPaid: 3,
		domain.StatusShipped: 5, domain.StatusDelivered: 6, domain.StatusCancelled: 9, domain.StatusPartiallyShipped: 12} {
		if int(st) != n {
			t.Fatalf("%s is %d; the scan names it %d", st, int(st), n)
		}
	}
	text := explain(t, pool, pgstore.StuckSQL, time.Now().Add(-time.Minute), 100, domain.EventRedriven)
	for _, want := range []string{"orders_unsettled", "shipments_push_pending"} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan does not use %s", want)
		}
	}
	if strings.Contains(text, "Seq Scan on orders") || strings.Contains(text, "Seq Scan on shipments") {
		t.Fatalf("sequential scan in the plan")
	}
}
