package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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
	bareConns  = 64 // closed-loop workers against the bare handlers
	fleetConns = 32 // closed-loop workers against the fleet
	openSender = 128
)

func (b *bench) baselines(ctx context.Context) {
	if b.want("hello") {
		b.hello(ctx)
	}
	if b.want("redis") {
		b.redisGet(ctx)
	}
	if b.want("pgbench") {
		b.pgbench(ctx)
	}
}

// hammer runs a closed loop of GETs against url.
func (b *bench) hammer(ctx context.Context, url string, d time.Duration) *load.Result {
	c := client.New(bareConns)
	defer c.CloseIdleConnections()
	op := func(ctx context.Context, _ int, _ int64) error {
		_, err := client.Do(ctx, c, http.MethodGet, url, nil, nil)
		return err
	}
	// A short warm-up opens the connections.
	load.Closed(ctx, load.ClosedConfig{Workers: bareConns, Duration: 500 * time.Millisecond}, op)
	s0 := b.watch.snap()
	res := load.Closed(ctx, load.ClosedConfig{Workers: bareConns, Duration: d}, op)
	b.lastCPU = s0.until(b.watch.snap(), res.OK)
	return res
}

func (b *bench) hello(ctx context.Context) {
	b.o.logf("baseline: %s", scHello)
	srv, err := baseline.Hello()
	if err != nil {
		b.add(report.Row{Scenario: scHello, Baseline: true, Skipped: err.Error()})
		return
	}
	defer srv.Close()
	res := b.hammer(ctx, srv.URL, b.o.d(10*time.Second))
	r := b.row(scHello, "limit: hello", res)
	r.Baseline = true
	b.add(r)
}

func (b *bench) redisGet(ctx context.Context) {
	b.o.logf("baseline: %s", scRedis)
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379", DB: 2, PoolSize: 64})
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
	res := b.hammer(ctx, srv.URL, b.o.d(10*time.Second))
	r := b.row(scRedis, "limit: Redis GET", res)
	r.Baseline = true
	r.Note = fmt.Sprintf("%d-byte value, go-redis pool 64", len(value))
	b.add(r)
}

func (b *bench) pgbench(ctx context.Context) {
	b.o.logf("baseline: %s (8 clients)", scPgbench)
	mig := postgres.MustMerge(outbox.Migrations, os.DirFS(filepath.Join(b.o.Root, "services", "orders", "internal", "store", "postgres", "migrations")))
	d := max(b.o.d(12*time.Second), 2*time.Second)
	res, err := baseline.Pgbench(ctx, baseline.PgbenchConfig{
		Host: "127.0.0.1", Port: 5432, User: "postgres", Database: "bench_pgbench_scratch", Migrations: mig,
		Clients: 8, Threads: 2, Duration: d, Values: baseline.DefaultOrderValues, WorkDir: b.work,
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
	b.add(report.Row{Scenario: scPgbench, Mode: "8 clients", Group: "limit: pgbench", Baseline: true, Throughput: res.TPS, Unit: "tx/s",
		Count: res.Processed, P50: res.Latency.Quantile(0.5), P95: res.Latency.Quantile(0.95), P99: res.Latency.Quantile(0.99),
		Max: res.Latency.Max(), Errors: res.Failed,
		Note: res.Command + " on a scratch database with the orders schema; script in .run/bench/order-create.pgbench.sql"})
}
