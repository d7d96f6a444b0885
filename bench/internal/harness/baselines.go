package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/printfleet/printfleet/bench/internal/baseline"
	"github.com/printfleet/printfleet/bench/internal/client"
	"github.com/printfleet/printfleet/bench/internal/load"
	"github.com/printfleet/printfleet/bench/internal/report"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
)

// Scenario names, shared by rows and budgets.
const (
	scPgbench  = "pgbench order-create tx"
	scWholeWay = "pgbench order whole way"
	scSustain  = "sustained placed -> PAID"
	scStep     = "sustained search step"
	scHello    = "net/http hello"
	scRedis    = "net/http + Redis GET"
	scVipsCLI  = "vips CLI design render"
	scCreate   = "create order (REST)"
	scPaid     = "placed -> PAID"
	scCached   = "cached GET order"
	scProduct  = "GET product (projection)"
	scQuote    = "quote"
	scList1    = "list orders page 1"
	scList50   = "list orders page 50"
	scRender   = "design render (worker)"
	openSender = 128
)

func (b *bench) baselines(ctx context.Context) {
	if b.want("hello") {
		b.phase(scHello, func() { b.hello(ctx) })
	}
	if b.want("redis") {
		b.phase(scRedis, func() { b.redisGet(ctx) })
	}
	if b.want("pgbench") {
		b.phase(scPgbench, func() { b.pgbench(ctx) })
	}
	if b.want("wholeway") {
		b.phase(scWholeWay, func() { b.wholeWay(ctx) })
	}
}

// hammer runs a closed loop of GETs against url.
func (b *bench) hammer(ctx context.Context, url string, d time.Duration) *load.Result {
	c := client.New(b.o.Clients)
	defer c.CloseIdleConnections()
	op := func(ctx context.Context, _ int, _ int64) error {
		_, err := client.Do(ctx, c, http.MethodGet, url, nil, nil)
		return err
	}
	return b.closed(ctx, d, op)
}

func (b *bench) hello(ctx context.Context) {
	b.o.logf("baseline: %s", scHello)
	srv, err := baseline.Hello()
	if err != nil {
		b.add(report.Row{Scenario: scHello, Baseline: true, Skipped: err.Error()})
		return
	}
	defer srv.Close()
	res := b.hammer(ctx, srv.URL, b.o.d(6*time.Second))
	r := b.row(scHello, "limit: hello", res)
	r.Baseline = true
	b.add(r)
}

func (b *bench) redisGet(ctx context.Context) {
	b.o.logf("baseline: %s", scRedis)
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379", DB: 2, PoolSize: b.o.Clients})
	defer rdb.Close()
	// A value the size of a cached order.
	value := []byte(`{"id":"0198c3d2-7a10-7c4e-9a51-3f4b2c1d0e9f","status":"ORDER_STATUS_PAID","items":[` +
		strings.Repeat(`{"sku":"STK-KC-WHT-3IN","quantity":1,"unit_price":{"currency":"USD","amount_minor":"299"}},`, 12) + `{}]}`)
	key := fmt.Sprintf("bench:baseline:%d", time.Now().UnixNano())
	srv, err := baseline.RedisGet(ctx, rdb, key, value)
	if err != nil {
		b.add(report.Row{Scenario: scRedis, Baseline: true, Skipped: err.Error()})
		return
	}
	defer func() {
		srv.Close()
		rdb.Del(context.WithoutCancel(ctx), key)
	}()
	res := b.hammer(ctx, srv.URL, b.o.d(6*time.Second))
	r := b.row(scRedis, "limit: Redis GET", res)
	r.Baseline = true
	r.Note = fmt.Sprintf("%d-byte value, go-redis pool %d", len(value), b.o.Clients)
	b.add(r)
}

func (b *bench) pgbench(ctx context.Context) {
	b.o.logf("baseline: %s (%d clients)", scPgbench, b.o.Clients)
	mig := postgres.MustMerge(outbox.Migrations, os.DirFS(filepath.Join(b.o.Root, "services", "orders", "internal", "store", "postgres", "migrations")))
	d := max(b.o.d(10*time.Second), 2*time.Second)
	var res *baseline.PgbenchResult
	var err error
	s0, s1 := b.meter.during(ctx, func() {
		res, err = baseline.Pgbench(ctx, baseline.PgbenchConfig{
			Host: "127.0.0.1", Port: 5432, User: "postgres", Database: "bench_pgbench_scratch", Migrations: mig,
			Clients: b.o.Clients, Threads: pgbenchThreads(b.o.Clients), Duration: d, Values: baseline.DefaultOrderValues, WorkDir: b.work,
		})
	})
	if err != nil {
		b.add(report.Row{Scenario: scPgbench, Baseline: true, Skipped: firstLine(err.Error())})
		b.note("pgbench: %v", err)
		return
	}
	if b.run.Inputs == nil {
		b.run.Inputs = map[string]string{}
	}
	b.run.Inputs["pgbench_script"] = res.Script
	b.run.Inputs["pgbench_command"] = res.Command + " -D <pgbench_variables> " + "bench_pgbench_scratch"
	vars, _ := json.Marshal(baseline.DefaultOrderValues.Defines())
	b.run.Inputs["pgbench_variables"] = string(vars)
	b.add(report.Row{Scenario: scPgbench, Mode: fmt.Sprintf("%d clients", b.o.Clients), Group: "limit: pgbench", Baseline: true, Throughput: res.TPS, Unit: "tx/s",
		Count: res.Processed, P50: res.Latency.Quantile(0.5), P95: res.Latency.Quantile(0.95), P99: res.Latency.Quantile(0.99),
		Max: res.Latency.Max(), Errors: res.Failed, Cost: costOf(s0, s1, res.Processed, "tx", nil),
		Note: res.Command + " on a scratch database with the orders schema; script in .run/bench/order-create.pgbench.sql"})
}

// pgbenchThreads is pgbench's -j: one thread per core, at most one per
// client.
func pgbenchThreads(clients int) int { return max(1, min(clients, runtime.NumCPU())) }

// wholeWay runs the whole-way pgbench script: the minimal SQL of one blank
// order's create, reservation, payment and production.
func (b *bench) wholeWay(ctx context.Context) {
	b.o.logf("baseline: %s (%d clients)", scWholeWay, b.o.Clients)
	dir := func(svc string) string {
		return filepath.Join(b.o.Root, "services", svc, "internal", "store", "postgres", "migrations")
	}
	var res *baseline.WholeWayResult
	var err error
	s0, s1 := b.meter.during(ctx, func() {
		res, err = baseline.WholeWay(ctx, baseline.WholeWayConfig{
			Host: "127.0.0.1", Port: 5432, User: "postgres", Database: "bench_pgbench_wholeway",
			Orders:  postgres.MustMerge(outbox.Migrations, os.DirFS(dir("orders"))),
			Catalog: postgres.MustMerge(outbox.Migrations, os.DirFS(dir("catalog"))),
			Clients: b.o.Clients, Threads: pgbenchThreads(b.o.Clients), Duration: max(b.o.d(10*time.Second), 2*time.Second), WorkDir: b.work,
		})
	})
	if err != nil {
		b.add(report.Row{Scenario: scWholeWay, Baseline: true, Skipped: firstLine(err.Error())})
		b.note("pgbench whole way: %v", err)
		return
	}
	cost := costOf(s0, s1, res.Processed, "order", nil)
	// Commits from the server's counter, as the fleet's; round trips from
	// the script (pgbench has no counter of its own: one per pipeline).
	cost.PGCommits, cost.PGRoundTrips = res.CommitsPerOrder, baseline.WholeWayRoundTrips
	if b.run.Inputs == nil {
		b.run.Inputs = map[string]string{}
	}
	b.run.Inputs["pgbench_whole_way_script"] = res.Script
	b.run.Inputs["pgbench_whole_way_command"] = res.Command + " -D <pgbench_whole_way_variables> bench_pgbench_wholeway"
	vars, _ := json.Marshal(baseline.WholeWayDefines())
	b.run.Inputs["pgbench_whole_way_variables"] = string(vars)
	b.add(report.Row{Scenario: scWholeWay, Mode: fmt.Sprintf("%d clients", b.o.Clients), Group: "limit: pgbench whole way", Baseline: true,
		Throughput: res.TPS, Unit: "orders/s", Count: res.Processed, P50: res.Latency.Quantile(0.5), P95: res.Latency.Quantile(0.95),
		P99: res.Latency.Quantile(0.99), Max: res.Latency.Max(), Errors: res.Failed, Cost: cost, CPU: costString(cost),
		Note: res.Command + " on a scratch database with the orders and catalog schemas; script in .run/bench/order-whole-way.pgbench.sql (3 transactions, 3 round trips per order; commits per order from pg_stat_database)"})
}
