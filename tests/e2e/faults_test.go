package e2e

// Fault injection ("Proof"): a second fleet runs on private PostgreSQL,
// Redis and RabbitMQ instances that this test starts itself, so it can
// SIGKILL and restart them — and the fleet's own processes — by pid while
// orders flow, without touching the servers other tests share. Every
// scenario prints its pass criteria with the measured figures and asserts
// them.
//
// Skipped with -short (no fleet) or PRINTFLEET_E2E_FAULTS=off.
// PRINTFLEET_E2E_FAULTS_ORDERS sets N for the broker and cache kills.
//
// This file starts the fleet and runs the scenarios in order; each scenario
// has its own file (faults_broker, _relay, _poison, _postgres, _payment,
// _marketplace), on the clients of faults_load and the checks of
// faults_effects.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/printfleet/printfleet/tests/e2e/faultinfra"
	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

// faultFleet is the second fleet and its private datastores.
type faultFleet struct {
	*environment
	pg    *faultinfra.Postgres
	redis *faultinfra.Redis
	mq    *faultinfra.RabbitMQ
	httpc *http.Client

	users      []string // user tokens
	fulfilment string   // fulfillment token
	variants   []string // stock-tracked variants with ample stock
	seedStock  map[string]int64
	store      storeRef // an Etsy store of users[0]
	// nextRecpt numbers made-up receipts, used only when the stand-in
	// could not place one (the push then fails, and the scenario says so).
	nextRecpt atomic.Int64
}

// storeRef is a store, its seller and its shop id at the marketplace.
type storeRef struct{ ID, User, Shop string }

// Order statuses as stored (the proto enum numbers).
const (
	stPending      = 1
	stConfirmed    = 2
	stPaid         = 3
	stInProduction = 4
	stShipped      = 5
	stDelivered    = 6
	stRejected     = 7
	stPayFailed    = 8
	stCancelled    = 9
)

var statusName = map[int]string{stPending: "PENDING", stConfirmed: "CONFIRMED", stPaid: "PAID",
	stInProduction: "IN_PRODUCTION", stShipped: "SHIPPED", stDelivered: "DELIVERED", stRejected: "REJECTED",
	stPayFailed: "PAYMENT_FAILED", stCancelled: "CANCELLED"}

func TestFaults(t *testing.T) {
	e := need(t)
	if os.Getenv("PRINTFLEET_E2E_FAULTS") == "off" {
		t.Skip("PRINTFLEET_E2E_FAULTS=off")
	}
	began := time.Now()
	fx := startFaultFleet(t, e)
	t.Logf("fault fleet up in %v (postgres :%d, redis :%d, rabbitmq %s :%d)", time.Since(began).Round(time.Millisecond),
		fx.pg.Port, fx.redis.Port, fx.mq.Node, fx.mq.Port)

	for _, sc := range []struct {
		name string
		run  func(*testing.T, *faultFleet)
	}{
		{"BrokerAndCacheKills", testBrokerAndCacheKills},
		{"RelayAndWorkerKills", testRelayAndWorkerKills},
		{"PoisonMessage", testPoisonMessage},
		{"PostgresRestart", testPostgresRestart},
		{"SandboxFaults", testSandboxFaults},
		{"PaymentLongOutage", testPaymentLongOutage},
		{"LostStockAnswer", testLostStockAnswer},
		{"LogsHoldNoSecrets", func(t *testing.T, fx *faultFleet) { scanLogsForSecrets(t, fx.environment) }},
	} {
		start := time.Now()
		t.Run(sc.name, func(t *testing.T) {
			fx.heal(t)
			before := fx.etsyReport(t)
			sc.run(t, fx)
			// Every scenario answers for its own pushes: none may reach
			// Etsy over its budget or before a Retry-After it was given.
			if after := fx.etsyReport(t); after.Counters.OverBudget != before.Counters.OverBudget {
				n := after.Counters.OverBudget - before.Counters.OverBudget
				t.Errorf("Etsy over_budget +%d during %s (refused for budget +%d, requests +%d): a push ignored the budget or a Retry-After; the requests: %+v",
					n, sc.name, after.Counters.RejectedBudget-before.Counters.RejectedBudget, after.Counters.Requests-before.Counters.Requests,
					after.OverBudgetEvents[max(0, len(after.OverBudgetEvents)-n):])
			}
		})
		t.Logf("%s took %v", sc.name, time.Since(start).Round(time.Second))
	}
	t.Logf("faults suite took %v", time.Since(began).Round(time.Second))
}

// startFaultFleet starts the private datastores and the second fleet on them.
func startFaultFleet(t *testing.T, e *environment) *faultFleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	type started struct {
		err  error
		what string
	}
	fx := &faultFleet{httpc: &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second},
	}}
	// The three start side by side: RabbitMQ's boot dominates.
	var wg sync.WaitGroup
	errc := make(chan started, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		var err error
		fx.pg, err = faultinfra.StartPostgres(ctx, t)
		errc <- started{err, "postgres"}
	}()
	go func() {
		defer wg.Done()
		var err error
		fx.redis, err = faultinfra.StartRedis(ctx, t)
		errc <- started{err, "redis"}
	}()
	go func() {
		defer wg.Done()
		var err error
		fx.mq, err = faultinfra.StartRabbitMQ(ctx, t)
		errc <- started{err, "rabbitmq"}
	}()
	wg.Wait()
	close(errc)
	for s := range errc {
		if s.err != nil {
			t.Fatalf("private %s: %v", s.what, s.err)
		}
	}

	// Its logs and span files in a directory of their own: the main fleet's
	// trace tests and log scan read only the main fleet's files, and the
	// scenario LogsHoldNoSecrets scans these.
	logs := filepath.Join(filepath.Dir(e.logs), "faults", "logs")
	_ = os.RemoveAll(logs)
	l := e2eLayout() // same secrets, so token() works for this fleet too
	l.TraceDir = logs
	l.Offset = 3000
	l.DBPrefix = "faults_"
	l.Vhost = "%2F" // the private node's default vhost "/"
	l.RedisDB = 0
	l.PGPort = fx.pg.Port
	l.RedisAddr = fx.redis.Addr()
	l.AMQPPort = fx.mq.Port
	l.RateLimit = "100000/1m"
	// The private node has only guest, no per-process users.
	l.BrokerUsers = false
	// No ops service: the scenarios survey the .dlq queues themselves
	// (ops would park and empty them).
	l.NoOps = true
	if l.AMQPURL() != fx.mq.URL() {
		t.Fatalf("layout AMQP URL %s, private node %s", l.AMQPURL(), fx.mq.URL())
	}
	fx.environment = &environment{
		layout: l, bin: e.bin, logs: logs,
		api: &client{base: l.GatewayURL(), http: &http.Client{Timeout: 30 * time.Second}},
	}
	if err := l.EnsureDatabases(ctx, true); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.New(e.bin, logs, l.Common())
	if err != nil {
		t.Fatal(err)
	}
	fx.fleet = f
	t.Cleanup(func() {
		if err := f.Stop(20 * time.Second); err != nil {
			t.Errorf("the fault fleet did not stop cleanly: %v (logs: %s)", err, logs)
		}
	})
	procs := l.Procs()
	if err := f.StartSeeded(ctx, 90*time.Second, procs, l.Seeds()); err != nil {
		t.Fatal(err)
	}

	for i := range 24 {
		fx.users = append(fx.users, token(t, fmt.Sprintf("faults-user-%02d-%s", i, uuid.NewString()[:6]), "user", 2*time.Hour))
	}
	fx.fulfilment = token(t, "faults-print-partner", "fulfillment", 2*time.Hour)

	// Blank items on stock-tracked variants that have room for every
	// scenario's orders: stock is really reserved, and nothing waits on
	// rendering.
	fx.seedStock = map[string]int64{}
	err = fx.withDB(ctx, "catalog", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT v.id::text, v.available FROM variants v JOIN products p ON p.id = v.product_id
			WHERE v.stock_tracked AND v.active AND p.active AND v.available >= 100 ORDER BY v.id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			fx.variants = append(fx.variants, id)
			fx.seedStock[id] = n
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range fx.seedStock {
		total += n
	}
	if len(fx.variants) < 20 {
		t.Fatalf("only %d stock-tracked demo variants with ≥ 100 in stock", len(fx.variants))
	}
	t.Logf("orders use %d stock-tracked variants holding %d units", len(fx.variants), total)

	// An Etsy shop the fleet's stand-in issued (it accepts only the
	// credentials it issued and knows only the receipts placed in it), with
	// order import off: the store orders are typed in over REST.
	shop, _ := connectShopWith(t, fx.environment, fx.users[0], "etsy", "",
		map[string]any{"order_import": "off", "name": "Faults Etsy shop"}, nil)
	fx.store = storeRef{ID: shop.storeID, User: fx.users[0], Shop: shop.shopID}
	fx.nextRecpt.Store(time.Now().UnixMilli() % 100_000_000 * 10)
	return fx
}

// heal makes sure every process and datastore runs and no sandbox fault is
// left on, so one scenario's failure does not cascade into the next.
func (fx *faultFleet) heal(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if fx.pg.Pid() == 0 {
		if err := fx.pg.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if fx.redis.Pid() == 0 {
		if err := fx.redis.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if fx.mq.Pid() == 0 {
		if err := fx.mq.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range fx.layout.Procs() {
		if fx.fleet.Pid(p.Name) == 0 {
			t.Logf("restarting %s, found stopped", p.Name)
			if err := fx.fleet.Restart(ctx, p.Name, 90*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	sandboxFaults(t, fx.layout.PaymentURL(), `{"latency_ms":0,"error_rate":0,"error_next":0,"decline_rate":0,"outage":false}`)
	sandboxFaults(t, fx.layout.MarketplacesURL(), `{"throttle":false,"throttle_next":0,"error_rate":0,"error_next":0,"latency_ms":0}`)
}

// testSandboxFaults runs the scenarios that turn on the sandbox's own fault
// switches (payment provider, marketplaces) under one deadline.
func testSandboxFaults(t *testing.T, fx *faultFleet) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	t.Run("PaymentOutage", func(t *testing.T) { testPaymentOutage(ctx, t, fx) })
	t.Run("MarketplaceThrottleStorm", func(t *testing.T) { testMarketplaceThrottleStorm(ctx, t, fx) })
}
