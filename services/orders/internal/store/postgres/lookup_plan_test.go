package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	pgstore "github.com/printfleet/printfleet/services/orders/internal/store/postgres"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// TestListOrdersPlansUseIndexes explains the list statement for every
// combination of filters (and with a keyset position), for one user and
// across every owner, on a table of 30,000
// orders of 300 users, analyzed, and fails on a sequential scan of orders:
// each lookup is index-backed without forcing the planner.
func TestListOrdersPlansUseIndexes(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	seedOrders(t, pool, `(i % 9) + 1`, `CASE WHEN i % 3 = 0 THEN '' ELSE md5('store' || (i % 1500))::uuid::text END`,
		`CASE WHEN i % 3 = 0 THEN '' ELSE 'EXT-' || i END`, `now()`)
	if _, err := pool.Exec(ctx, `ANALYZE orders`); err != nil {
		t.Fatal(err)
	}
	// User u7 has orders 7, 307, ...; order 7 is in store md5('store7').
	var store string
	if err := pool.QueryRow(ctx, `SELECT md5('store7')::uuid::text`).Scan(&store); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for mask := 0; mask < 1<<6; mask++ {
		for _, keyset := range []bool{false, true} {
			q := app.ListQuery{UserID: "u7", Limit: 21}
			var names []string
			if mask&32 != 0 {
				q.UserID, q.AllOwners, names = "", true, append(names, "all-owners")
			}
			if mask&1 != 0 {
				q.Status, names = domain.Status(8), append(names, "status")
			}
			if mask&2 != 0 {
				q.StoreID, names = store, append(names, "store")
			}
			if mask&4 != 0 {
				q.ExternalOrderID, names = "EXT-7", append(names, "external")
			}
			if mask&8 != 0 {
				q.CreatedAfter, names = now.Add(-30*24*time.Hour), append(names, "after")
			}
			if mask&16 != 0 {
				q.CreatedBefore, names = now.Add(-24*time.Hour), append(names, "before")
			}
			if keyset {
				q.AfterCreatedAt, q.AfterID, names = now.Add(-2*24*time.Hour), "ffffffff-ffff-ffff-ffff-ffffffffffff", append(names, "keyset")
			}
			name := strings.Join(names, "+")
			if name == "" {
				name = "none"
			}
			t.Run(name, func(t *testing.T) {
				sql, args := pgstore.ListOrdersSQL(q)
				text := explain(t, pool, sql, args...)
				if strings.Contains(text, "Seq Scan on orders") || !strings.Contains(text, "on orders") {
					t.Fatalf("plan of %s:\n%s", fmt.Sprint(names), text)
				}
			})
		}
	}
}
