package baseline

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
)

func wholeWayMigrations(t *testing.T) (orders, catalog fs.FS) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return postgres.MustMerge(outbox.Migrations, os.DirFS(filepath.Join(root, "services", "orders", "internal", "store", "postgres", "migrations"))),
		postgres.MustMerge(outbox.Migrations, os.DirFS(filepath.Join(root, "services", "catalog", "internal", "store", "postgres", "migrations")))
}

// The whole-way script runs against the real schemas: one script with
// pgbench -t 1 on a scratch database leaves one order IN_PRODUCTION with
// its four timeline entries, two items, the idempotency record, the
// outbox rows of both services and both inbox claims.
func TestWholeWayScriptRunsAgainstTheSchemas(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and pgbench (skipped with -short)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	orders, catalog := wholeWayMigrations(t)
	c := WholeWayConfig{Host: "127.0.0.1", Port: 5432, User: "postgres", Database: fmt.Sprintf("bench_wholeway_test_%d", os.Getpid()),
		Orders: orders, Catalog: catalog, Clients: 2, Threads: 1, Transactions: 1, WorkDir: t.TempDir()}
	if err := c.setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = drop(context.WithoutCancel(ctx), c.url("postgres", ""), c.Database) }()
	res, err := c.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Processed != 2 || res.Latency.Count() != 2 {
		t.Errorf("processed %d scripts, logged %d, want 2", res.Processed, res.Latency.Count())
	}
	conn, err := pgx.Connect(ctx, c.url(c.Database, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for q, want := range map[string]int64{
		`SELECT count(*) FROM orders.orders WHERE status = 4 AND version = 2 AND payment_id <> ''`: 2,
		`SELECT count(*) FROM orders.order_items`:                                                  2 * 2,
		`SELECT count(*) FROM orders.order_events`:                                                 2 * 4,
		`SELECT count(*) FROM orders.order_events WHERE type = 'payment.captured'`:                 2,
		`SELECT count(*) FROM orders.idempotency_keys WHERE state = 1 AND order_id IS NOT NULL`:    2,
		`SELECT count(*) FROM orders.outbox`:                                                       2 * 2,
		`SELECT count(*) FROM catalog.outbox`:                                                      2,
		`SELECT count(*) FROM orders.processed_messages`:                                           2,
		`SELECT count(*) FROM catalog.processed_messages`:                                          2,
	} {
		var got int64
		if err := conn.QueryRow(ctx, q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
}

// varRef is a pgbench :variable (not a :: cast).
var varRef = regexp.MustCompile(`(?:^|[^:]):([a-z_]+)`)

// Three database transactions, each one pipeline: the per-order counts the
// bench holds the fleet against.
func TestWholeWayScriptShape(t *testing.T) {
	t.Parallel()
	s := WholeWayScript
	if n := strings.Count(s, "\\startpipeline\nBEGIN;\n"); n != WholeWayCommits {
		t.Errorf("%d pipelined transactions, want %d", n, WholeWayCommits)
	}
	if n := strings.Count(s, "COMMIT;\n\\endpipeline\n"); n != WholeWayRoundTrips {
		t.Errorf("%d pipelines ending in COMMIT, want %d", n, WholeWayRoundTrips)
	}
	defs := WholeWayDefines()
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		if _, ok := defs[m[1]]; !ok && m[1] != "r" && m[1] != "client_id" {
			t.Errorf(":%s is defined neither by -D nor by the script", m[1])
		}
	}
}

// The server counts three commits per order of the script: the figure the
// bench sets beside the fleet's commits per order. A new database also
// sees a few dozen commits of its own (autovacuum's visits), so enough
// orders run to keep them under half a commit per order.
func TestWholeWayCommitsPerOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and pgbench (skipped with -short)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	orders, catalog := wholeWayMigrations(t)
	res, err := WholeWay(ctx, WholeWayConfig{Host: "127.0.0.1", Port: 5432, User: "postgres", Database: fmt.Sprintf("bench_wholeway_commits_%d", os.Getpid()),
		Orders: orders, Catalog: catalog, Clients: 2, Threads: 1, Transactions: 100, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Processed != 200 {
		t.Errorf("processed %d, want 200", res.Processed)
	}
	if res.CommitsPerOrder < WholeWayCommits || res.CommitsPerOrder > WholeWayCommits+0.5 {
		t.Errorf("%.2f commits per order counted by the server, want %d", res.CommitsPerOrder, WholeWayCommits)
	}
}
