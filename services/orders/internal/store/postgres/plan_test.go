package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// seedOrders inserts the 30,000 orders of the plan tests, of 300 users,
// created a minute apart; their status, store id, external id and
// updated_at are the given SQL expressions of i (1 to 30,000).
func seedOrders(t *testing.T, pool *pgxpool.Pool, status, store, external, updated string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), fmt.Sprintf(`
		INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, discount_minor,
			total_minor, payment_method, store_id, external_order_id, shipping_address, version, created_at, updated_at)
		SELECT md5('order' || i)::uuid, 'u' || (i %% 300), %s, 'USD', 100, 0, 0, 100, 1, %s, %s,
			'{}'::jsonb, 1, now() - i * interval '1 minute', %s
		FROM generate_series(1, 30000) i`, status, store, external, updated)); err != nil {
		t.Fatal(err)
	}
}

// explain returns the plan of sql with args, and logs it.
func explain(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	t.Logf("plan:\n%s", text)
	return text
}
