package baseline

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/postgres"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// WholeWayScript is the minimal SQL of one blank two-item order's whole
// way, hand-written against the real orders and catalog schemas (migrated
// into the schemas "orders" and "catalog" of one scratch database: both
// have an outbox and an inbox table). One pgbench transaction is the whole
// script: three database transactions, each one pipelined round trip.
//
//  1. create (orders): the idempotency key stored done with its response
//     (a unique violation would mean "replay"), the order, both items in
//     one INSERT … SELECT FROM unnest, the order.placed timeline entry,
//     the OrderPlaced outbox row.
//  2. reservation (catalog): the inbox claim, the stock check of the two
//     variants (neither tracks stock, so nothing is decremented), the
//     StockReserved outbox row.
//  3. payment and production (orders), after the payment provider's
//     answer: the inbox claim, the order's compare-and-set to
//     IN_PRODUCTION with its payment id (a blank order has nothing to
//     render), three timeline entries (stock.reserved, payment.captured,
//     print_files.ready) in one INSERT, one outbox row.
//
// Left out as the least any design spends on them: the relay's marking of
// outbox rows as published (a batching relay shares one UPDATE among many
// orders) and the payment provider itself. Ids are
// made from one random 63-bit number per order (md5 of it and a suffix, cast
// to uuid), so the client spends no round trip on them.
const WholeWayScript = `-- One blank two-item order's whole way: create, reservation, payment and
-- production, as the minimal SQL against the orders and catalog schemas.
\set r random(1, 9223372036854775807)
-- 1. create (orders)
\startpipeline
BEGIN;
INSERT INTO orders.idempotency_keys (user_id, key, request_hash, state, response, order_id, locked_until, expires_at)
	VALUES ('bench-user-' || (:client_id::int % 4), :r::text, :req_hash, 1, :response, md5(:r::text || 'o')::uuid, now(), now() + interval '1 day');
INSERT INTO orders.orders (id, user_id, status, currency, subtotal_minor, shipping_minor, discount_minor, total_minor,
		payment_method, quote_id, shipping_address, version, created_at, updated_at, trace_parent)
	VALUES (md5(:r::text || 'o')::uuid, 'bench-user-' || (:client_id::int % 4), 1, 'USD', 1498, 499, 0, 1997,
		1, :quote_id, :address, 1, now(), now(), :trace_parent);
INSERT INTO orders.order_items (id, order_id, position, variant_id, product_id, sku, title, quantity, unit_price_minor, line_total_minor)
	SELECT u.id, md5(:r::text || 'o')::uuid, u.position, u.variant_id, u.product_id, u.sku, u.title, 1, u.price, u.price
	FROM unnest(ARRAY[md5(:r::text || 'i0')::uuid, md5(:r::text || 'i1')::uuid], ARRAY[0, 1], :variant_ids::text[],
		:product_ids::text[], :skus::text[], :titles::text[], ARRAY[299, 1199]::bigint[])
		AS u(id, position, variant_id, product_id, sku, title, price);
INSERT INTO orders.order_events (id, order_id, type, from_status, to_status, message, created_at)
	VALUES (md5(:r::text || 'e0')::uuid, md5(:r::text || 'o')::uuid, 'order.placed', 0, 1, 'order placed', now());
INSERT INTO orders.outbox (id, type, payload, headers)
	VALUES (md5(:r::text || 'x0')::uuid, :placed_type, :placed_payload, :headers);
COMMIT;
\endpipeline
-- 2. reservation (catalog), on OrderPlaced
\startpipeline
BEGIN;
INSERT INTO catalog.processed_messages (consumer, message_id) VALUES ('catalog.stock', md5(:r::text || 'x0')) ON CONFLICT DO NOTHING;
SELECT v.id, v.active, p.active, v.stock_tracked, v.available
	FROM catalog.variants v JOIN catalog.products p ON p.id = v.product_id WHERE v.id = ANY(:variant_ids::uuid[]);
INSERT INTO catalog.outbox (id, type, payload, headers)
	VALUES (md5(:r::text || 'x1')::uuid, :reserved_type, :reserved_payload, :headers);
COMMIT;
\endpipeline
-- 3. payment and production (orders), on StockReserved, after the charge
\startpipeline
BEGIN;
INSERT INTO orders.processed_messages (consumer, message_id) VALUES ('orders.worker', md5(:r::text || 'x1')) ON CONFLICT DO NOTHING;
UPDATE orders.orders SET status = 4, payment_id = 'pay_' || :r, stock_reserved = true, updated_at = now(), version = version + 1
	WHERE id = md5(:r::text || 'o')::uuid AND version = 1;
INSERT INTO orders.order_events (id, order_id, type, from_status, to_status, message, created_at)
	VALUES (md5(:r::text || 'e1')::uuid, md5(:r::text || 'o')::uuid, 'stock.reserved', 1, 2, 'stock reserved', now()),
		(md5(:r::text || 'e2')::uuid, md5(:r::text || 'o')::uuid, 'payment.captured', 2, 3, 'payment captured', now()),
		(md5(:r::text || 'e3')::uuid, md5(:r::text || 'o')::uuid, 'print_files.ready', 3, 4, 'in production', now());
INSERT INTO orders.outbox (id, type, payload, headers)
	VALUES (md5(:r::text || 'x2')::uuid, :paid_type, :paid_payload, :headers);
COMMIT;
\endpipeline
`

// WholeWayCommits and WholeWayRoundTrips are what the script spends per
// order: three transactions, one pipelined round trip each.
const (
	WholeWayCommits    = 3
	WholeWayRoundTrips = 3
)

// The two variants the script orders, seeded into the scratch catalog
// without stock tracking (as the demo catalog's posters and stickers).
var wholeWayVariants = []struct{ variant, product, sku, title string }{
	{"5c0f8a9e-3f7d-5b1e-8c2a-1d4e6f7a8b9c", "7e2b0c1a-5f9d-5d3a-ae4c-3f6a8b9c0d1e", "STK-KC-WHT-3IN", "Kiss-Cut Sticker / White / 3x3 in"},
	{"6d1a9b0f-4e8c-5c2f-9d3b-2e5f7a8b9c0d", "8f3c1d2b-6a0e-5e4b-bf5d-4a7b9c0d1e2f", "PST-1218-WHT-OS", "Matte Poster 12x18 / White / One size"},
}

func byteaLiteral(n int, seed byte) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)*31 + seed
	}
	return `\x` + hex.EncodeToString(b)
}

// WholeWayDefines are the script's -D variables: payloads the size of the
// real ones (the stored response 565 bytes, OrderPlaced 345 bytes; the
// StockReserved and OrderPaid messages are smaller).
func WholeWayDefines() map[string]string {
	arr := func(f func(int) string) string {
		return "{" + f(0) + "," + f(1) + "}"
	}
	return map[string]string{
		"req_hash": byteaLiteral(32, 7), "response": byteaLiteral(565, 11),
		"placed_payload": byteaLiteral(345, 13), "reserved_payload": byteaLiteral(120, 17), "paid_payload": byteaLiteral(140, 19),
		"placed_type": eventsv1.KeyOrderPlaced, "reserved_type": eventsv1.KeyStockReserved, "paid_type": eventsv1.KeyOrderPaid,
		"quote_id":     "0198c3d2-7a10-7c4e-9a51-3f4b2c1d0e9f",
		"address":      `{"name":"Ada Bench","line1":"1 Load St","line2":"","city":"Springfield","region":"IL","postal_code":"62701","country_code":"US"}`,
		"headers":      `{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`,
		"trace_parent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"variant_ids":  arr(func(i int) string { return wholeWayVariants[i].variant }),
		"product_ids":  arr(func(i int) string { return wholeWayVariants[i].product }),
		"skus":         arr(func(i int) string { return wholeWayVariants[i].sku }),
		"titles":       arr(func(i int) string { return `"` + wholeWayVariants[i].title + `"` }),
	}
}

// WholeWayConfig says where and how long to run the whole-way script.
type WholeWayConfig struct {
	Host, User string
	Port       int
	// Database is the scratch database, dropped and created fresh.
	Database string
	// Orders and Catalog are the services' migrations (outbox included).
	Orders, Catalog fs.FS
	Clients         int
	Threads         int
	Duration        time.Duration
	// Transactions, when > 0, runs that many scripts per client (-t)
	// instead of Duration.
	Transactions int
	// WorkDir holds the script and the per-transaction logs.
	WorkDir string
}

func (c WholeWayConfig) url(db string, params string) string {
	u := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", c.User, c.Host, c.Port, db)
	if params != "" {
		u += "&" + params
	}
	return u
}

// WholeWayResult is pgbench's report and the server's count of the
// transactions the script committed per order.
type WholeWayResult struct {
	*PgbenchResult
	// CommitsPerOrder is pg_stat_database's xact_commit of the scratch
	// database over the run, per order (-1 when not read).
	CommitsPerOrder float64
}

// WholeWay creates the scratch database with both schemas, runs the
// whole-way script with c.Clients clients, and drops the database again.
func WholeWay(ctx context.Context, c WholeWayConfig) (*WholeWayResult, error) {
	if err := c.setup(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = drop(context.WithoutCancel(ctx), c.url("postgres", ""), c.Database) }()
	// The setup's connections have closed; their backends report their
	// counters as they exit, which the client does not wait for.
	time.Sleep(statsSettle)
	before, berr := c.commits(ctx)
	res, err := c.run(ctx)
	if err != nil {
		return nil, err
	}
	out := &WholeWayResult{PgbenchResult: res, CommitsPerOrder: -1}
	// pgbench's backends report their counters as they exit.
	time.Sleep(statsSettle)
	if after, aerr := c.commits(ctx); berr == nil && aerr == nil && res.Processed > 0 {
		out.CommitsPerOrder = float64(after-before) / float64(res.Processed)
	}
	return out, nil
}

// statsSettle is how long an exiting backend's counters take to reach
// pg_stat_database, with room to spare.
const statsSettle = 1500 * time.Millisecond

// commits is the scratch database's xact_commit, read from the postgres
// database (so that the read is not counted).
func (c WholeWayConfig) commits(ctx context.Context) (int64, error) {
	conn, err := pgx.Connect(ctx, c.url("postgres", ""))
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, c.Database).Scan(&n)
	return n, err
}

// setup creates the database, the schemas orders and catalog with their
// migrations, and the two untracked variants.
func (c WholeWayConfig) setup(ctx context.Context) error {
	if err := recreate(ctx, c.url("postgres", ""), c.Database); err != nil {
		return err
	}
	for _, s := range []struct {
		schema string
		mig    fs.FS
	}{{"orders", c.Orders}, {"catalog", c.Catalog}} {
		conn, err := pgx.Connect(ctx, c.url(c.Database, ""))
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, "CREATE SCHEMA "+s.schema)
		conn.Close(ctx)
		if err != nil {
			return fmt.Errorf("create schema %s: %w", s.schema, err)
		}
		pool, err := pgxpool.New(ctx, c.url(c.Database, "search_path="+s.schema))
		if err != nil {
			return err
		}
		err = postgres.Migrate(ctx, pool, s.mig)
		pool.Close()
		if err != nil {
			return fmt.Errorf("migrate schema %s: %w", s.schema, err)
		}
	}
	conn, err := pgx.Connect(ctx, c.url(c.Database, ""))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for i, v := range wholeWayVariants {
		if _, err := conn.Exec(ctx, `INSERT INTO catalog.products (id, title) VALUES ($1, $2)`, v.product, v.title); err != nil {
			return fmt.Errorf("seed product: %w", err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO catalog.variants (id, product_id, position, sku, title, price_minor, stock_tracked)
			VALUES ($1, $2, $3, $4, $5, $6, false)`, v.variant, v.product, i, v.sku, v.title, 299+900*i); err != nil {
			return fmt.Errorf("seed variant: %w", err)
		}
	}
	return nil
}

// run writes the script and runs pgbench on the prepared database.
func (c WholeWayConfig) run(ctx context.Context) (*PgbenchResult, error) {
	if err := os.MkdirAll(c.WorkDir, 0o755); err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp(c.WorkDir, "pgbench-wholeway-log-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(logDir)
	scriptPath := filepath.Join(c.WorkDir, "order-whole-way.pgbench.sql")
	if err := os.WriteFile(scriptPath, []byte(WholeWayScript), 0o644); err != nil {
		return nil, err
	}
	threads := max(1, min(c.Threads, c.Clients))
	length := []string{"-T", strconv.Itoa(max(1, int(c.Duration.Seconds())))}
	if c.Transactions > 0 {
		length = []string{"-t", strconv.Itoa(c.Transactions)}
	}
	args := []string{"-h", c.Host, "-p", strconv.Itoa(c.Port), "-U", c.User, "-n", "-M", "prepared",
		"-c", strconv.Itoa(c.Clients), "-j", strconv.Itoa(threads)}
	args = append(args, length...)
	args = append(args, "-f", scriptPath, "-l", "--log-prefix", filepath.Join(logDir, "tx"))
	defs := WholeWayDefines()
	for _, k := range slices.Sorted(maps.Keys(defs)) {
		args = append(args, "-D", k+"="+defs[k])
	}
	args = append(args, c.Database)
	out, err := exec.CommandContext(ctx, "pgbench", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pgbench: %w\n%s", err, tailLines(string(out), 15))
	}
	res, err := ParsePgbenchSummary(string(out))
	if err != nil {
		return nil, err
	}
	if res.Failed > 0 || (c.Transactions > 0 && res.Processed != int64(c.Transactions*c.Clients)) {
		return nil, fmt.Errorf("pgbench: %d of the whole-way scripts failed:\n%s", res.Failed, tailLines(string(out), 15))
	}
	res.Script = WholeWayScript
	res.Command = "pgbench -n -M prepared -c " + strconv.Itoa(c.Clients) + " -j " + strconv.Itoa(threads) + " " +
		strings.Join(length, " ") + " -f order-whole-way.pgbench.sql -l"
	if err := readPgbenchLogs(logDir, &res.Latency); err != nil {
		return nil, err
	}
	return res, nil
}
