package harness

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/bench/internal/fleetrun"
	"github.com/printfleet/printfleet/bench/internal/hist"
	"github.com/printfleet/printfleet/bench/internal/load"
	"github.com/printfleet/printfleet/bench/internal/report"
	"github.com/printfleet/printfleet/bench/internal/scenario"
	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

func (b *bench) buildFleet(ctx context.Context) error {
	b.binDir = filepath.Join(b.work, "bin")
	b.o.logf("building the fleet into %s", b.binDir)
	t0 := time.Now()
	missing, err := fleetrun.Build(ctx, b.o.Root, b.binDir, fleetrun.Layout())
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	b.missing = missing
	if len(missing) > 0 {
		b.note("fleet processes without a main package yet, not started: %s", strings.Join(missing, ", "))
	}
	b.o.logf("built in %v", time.Since(t0).Round(time.Second))
	return nil
}

func (b *bench) skipFleet(why string) {
	for _, sc := range []string{scCreate, scPaid, scCached, scProduct, scQuote, scList1, scList50} {
		b.add(report.Row{Scenario: sc, Skipped: why})
	}
}

// fleetRun is the state of the fleet scenarios.
type fleetRun struct {
	layout   fleet.Layout
	api      *scenario.API
	users    []*scenario.User
	variants []string
	products []string
	ids      *scenario.Ids
	body     []byte
	warn     string
}

const benchUsers = 4

func (b *bench) fleetScenarios(ctx context.Context) (err error) {
	l := fleetrun.Layout()
	b.o.logf("starting the fleet (gateway %s)", l.GatewayURL())
	f, err := fleetrun.Start(ctx, l, b.binDir, filepath.Join(b.work, "logs"))
	if err != nil {
		b.skipFleet("fleet did not start: " + firstLine(err.Error()))
		return err
	}
	defer func() {
		b.o.logf("stopping the fleet")
		if serr := f.Stop(20 * time.Second); serr != nil {
			b.note("fleet stop: %v", serr)
		}
	}()
	b.note("fleet logs: .run/bench/logs; gateway rate limit lifted to %s for the run (the limiter still runs)", fleetrun.RateLimitOverride["PRINTFLEET_RATELIMIT_DEFAULT"])
	api, err := scenario.NewAPI(l.GatewayURL(), openSender+fleetConns)
	if err != nil {
		return err
	}
	b.watch = cpuWatch{pids: func() map[string]int {
		m := map[string]int{}
		for _, p := range l.Procs() {
			m[p.Name] = f.Pid(p.Name)
		}
		return m
	}}
	defer func() { b.watch = cpuWatch{} }()
	fr := &fleetRun{layout: l, api: api, ids: scenario.NewIds()}
	for i := range benchUsers {
		u, err := scenario.NewUser(l.JWTSecret, fmt.Sprintf("bench-user-%d", i))
		if err != nil {
			return err
		}
		fr.users = append(fr.users, u)
	}
	if err := fr.discover(ctx); err != nil {
		b.skipFleet("catalog: " + err.Error())
		return err
	}
	if fr.warn != "" {
		b.note("%s", fr.warn)
	}
	for _, sc := range []struct {
		name string
		run  func(context.Context, *fleetRun)
	}{{"create", b.create}, {"cached", b.cachedGet}, {"product", b.productGet}, {"quote", b.quote}, {"lists", b.lists}} {
		if b.want(sc.name) {
			sc.run(ctx, fr)
		}
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// discover picks the order's two variants — stock not tracked (poster,
// sticker), so that no order of the run is rejected for stock — and the
// product ids for the read scenario.
func (fr *fleetRun) discover(ctx context.Context) error {
	var products []scenario.Product
	var err error
	for range 50 { // the projector may still be filling
		products, err = fr.api.ListProducts(ctx)
		if err == nil && len(products) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	if len(products) == 0 {
		return errors.New("no products in the catalog")
	}
	// The demo catalog does not track the stock of posters (PST-) and
	// stickers (STK-); the public product shape does not say which
	// variants are tracked, so the SKU decides.
	var untracked, any []string
	for _, p := range products {
		fr.products = append(fr.products, p.ID)
		for _, v := range p.Variants {
			if !v.InStock {
				continue
			}
			any = append(any, v.ID)
			if strings.HasPrefix(v.SKU, "PST-") || strings.HasPrefix(v.SKU, "STK-") {
				untracked = append(untracked, v.ID)
			}
		}
	}
	pick := untracked
	if len(pick) < 2 {
		pick = any
		fr.warn = "no poster/sticker variants found: ordering tracked variants, which may run out of stock"
	}
	if len(pick) < 2 {
		return errors.New("fewer than two variants in stock")
	}
	fr.variants = []string{pick[0], pick[len(pick)-1]}
	fr.body = scenario.NewOrderBody(fr.variants)
	return nil
}

// createOp places an order as user worker%benchUsers; created, when not
// nil, collects the new orders.
func (fr *fleetRun) createOp(created *orderLog) load.Op {
	return func(ctx context.Context, w int, _ int64) error {
		u := fr.users[w%len(fr.users)]
		o, err := fr.api.CreateOrder(ctx, u, fr.ids.Next(), fr.body)
		if err != nil {
			return err
		}
		if created != nil {
			created.add(u, o.ID)
		}
		return nil
	}
}

// orderLog collects created orders by owner.
type orderLog struct {
	mu     sync.Mutex
	ids    []string
	owners map[string]*scenario.User
}

func (l *orderLog) add(u *scenario.User, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owners == nil {
		l.owners = map[string]*scenario.User{}
	}
	l.ids = append(l.ids, id)
	l.owners[id] = u
}

// halfRate is the open-loop rate: half the closed loop's maximum.
func halfRate(closed *load.Result) float64 {
	return max(1, closed.Throughput()/2)
}

// open runs an open loop and keeps its CPU use in b.lastCPU.
func (b *bench) open(ctx context.Context, rate float64, d time.Duration, op load.Op) *load.Result {
	s0 := b.watch.snap()
	res := load.Open(ctx, load.OpenConfig{Rate: rate, Duration: d, MaxInFlight: openSender, Drain: 10 * time.Second}, op)
	b.lastCPU = s0.until(b.watch.snap(), res.OK)
	return res
}

// closed runs a closed loop after a short warm-up (connections, lazily
// initialised paths) and keeps its CPU use in b.lastCPU.
func (b *bench) closed(ctx context.Context, d time.Duration, op load.Op) *load.Result {
	load.Closed(ctx, load.ClosedConfig{Workers: fleetConns, Duration: 500 * time.Millisecond}, op)
	s0 := b.watch.snap()
	res := load.Closed(ctx, load.ClosedConfig{Workers: fleetConns, Duration: d}, op)
	b.lastCPU = s0.until(b.watch.snap(), res.OK)
	return res
}

// row is fromResult with the CPU use of the loop that just ran.
func (b *bench) row(scenario, group string, res *load.Result) report.Row {
	r := fromResult(scenario, group, res)
	r.CPU = b.lastCPU.String()
	return r
}

// create measures POST /v1/orders: the closed loop's maximum, then an open
// loop at half of it, whose orders also give the placed → PAID latency.
func (b *bench) create(ctx context.Context, fr *fleetRun) {
	b.o.logf("scenario: %s", scCreate)
	maxRes := b.closed(ctx, b.o.d(12*time.Second), fr.createOp(nil))
	cr := b.row(scCreate, "create order", maxRes)
	// Let the closed loop's backlog (stock, payment) drain so the open loop
	// measures the sustained rate, not a queue left behind; how big it was
	// says how far the async pipeline fell behind the creates.
	t0 := time.Now()
	first, left, err := b.drain(ctx, fr, 60*time.Second)
	cr.Note = fmt.Sprintf("2 blank items (untracked stock), card; async pipeline running: %d orders not yet PAID when the loop ended, drained in %v",
		first, time.Since(t0).Round(100*time.Millisecond))
	if err != nil || left > 0 {
		cr.Note += fmt.Sprintf(" (%d still PENDING/CONFIRMED after 60 s; %v)", left, err)
	}
	b.add(cr)
	if maxRes.OK == 0 {
		b.add(report.Row{Scenario: scCreate, Mode: "open", Skipped: "no order was created in the closed loop"})
		b.add(report.Row{Scenario: scPaid, Skipped: "no order was created"})
		return
	}
	var created orderLog
	rate := halfRate(maxRes)
	openRes := b.open(ctx, rate, b.o.d(15*time.Second), fr.createOp(&created))
	or := b.row(scCreate, "create order", openRes)
	b.add(or)
	b.paid(ctx, fr, &created, rate)
}

// drain waits until no order is PENDING or CONFIRMED and the orders
// outbox is empty; it returns how many orders were on their way at first
// and at the end.
func (b *bench) drain(ctx context.Context, fr *fleetRun, limit time.Duration) (first, left int64, err error) {
	conn, err := pgx.Connect(ctx, fr.layout.PGURL("orders"))
	if err != nil {
		return -1, -1, err
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(limit)
	first = -1
	for {
		var inflight, unpublished int64
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM orders WHERE status IN (1, 2)),
			(SELECT count(*) FROM outbox WHERE published_at IS NULL)`).Scan(&inflight, &unpublished)
		if err != nil {
			return first, -1, err
		}
		if first < 0 {
			first = inflight
		}
		if inflight == 0 && unpublished == 0 {
			return first, 0, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return first, inflight, ctx.Err()
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// paidResult is the placed → PAID measurement.
type paidResult struct {
	h        hist.Histogram
	paid     int64
	notPaid  map[string]int64
	rate     float64
	waited   time.Duration
	timedOut int64
}

// paid waits for the open loop's orders to settle and reads, from the
// orders database, each one's timeline: the order.placed entry (written
// with the order) and the payment.captured entry (written by the worker in
// the transition's transaction). Orders that did not reach PAID are
// reported by status; those still on their way when the wait ended count
// with their waiting time as a lower bound.
func (b *bench) paid(ctx context.Context, fr *fleetRun, created *orderLog, rate float64) {
	if len(created.ids) == 0 {
		b.add(report.Row{Scenario: scPaid, Skipped: "the open loop created no order"})
		return
	}
	t0 := time.Now()
	_, left, err := b.drain(ctx, fr, 60*time.Second)
	pr := &paidResult{notPaid: map[string]int64{}, rate: rate, waited: time.Since(t0)}
	if err != nil {
		b.add(report.Row{Scenario: scPaid, Skipped: "orders database: " + err.Error()})
		return
	}
	conn, err := pgx.Connect(ctx, fr.layout.PGURL("orders"))
	if err != nil {
		b.add(report.Row{Scenario: scPaid, Skipped: err.Error()})
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT o.status, placed.created_at, paid.created_at, now()
		FROM orders o
		LEFT JOIN LATERAL (SELECT min(e.created_at) AS created_at FROM order_events e
			WHERE e.order_id = o.id AND e.type = 'order.placed') placed ON true
		LEFT JOIN LATERAL (SELECT min(e.created_at) AS created_at FROM order_events e
			WHERE e.order_id = o.id AND e.type = 'payment.captured') paid ON true
		WHERE o.id = ANY($1::uuid[])`, created.ids)
	if err != nil {
		b.add(report.Row{Scenario: scPaid, Skipped: "timeline query: " + err.Error()})
		return
	}
	for rows.Next() {
		var status int16
		var placed, paidAt *time.Time
		var now time.Time
		if err := rows.Scan(&status, &placed, &paidAt, &now); err != nil {
			b.add(report.Row{Scenario: scPaid, Skipped: err.Error()})
			rows.Close()
			return
		}
		switch {
		case placed != nil && paidAt != nil:
			pr.h.Record(paidAt.Sub(*placed))
			pr.paid++
		case placed != nil && (status == 1 || status == 2):
			pr.h.Record(now.Sub(*placed)) // still on its way: a lower bound
			pr.timedOut++
			pr.notPaid[statusName(status)]++
		default:
			pr.notPaid[statusName(status)]++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		b.add(report.Row{Scenario: scPaid, Skipped: err.Error()})
		return
	}
	b.paidStats = pr
	var n int64
	var kinds []string
	for _, k := range slices.Sorted(mapKeys(pr.notPaid)) {
		n += pr.notPaid[k]
		kinds = append(kinds, fmt.Sprintf("%d %s", pr.notPaid[k], k))
	}
	b.add(report.Row{Scenario: scPaid, Mode: fmt.Sprintf("at %.0f orders/s", rate), Group: "placed -> PAID",
		Throughput: float64(pr.paid) / b.o.d(15*time.Second).Seconds(), Unit: "orders/s", Count: pr.paid,
		P50: pr.h.Quantile(0.5), P95: pr.h.Quantile(0.95), P99: pr.h.Quantile(0.99), Max: pr.h.Max(),
		Errors: n, ErrorKinds: strings.Join(kinds, ", "),
		Note: fmt.Sprintf("timeline order.placed -> payment.captured of the %d orders of the open loop; %d still in flight after %v", len(created.ids), left, pr.waited.Round(time.Millisecond))})
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var statusNames = []string{"UNSPECIFIED", "PENDING", "CONFIRMED", "PAID", "IN_PRODUCTION", "SHIPPED", "DELIVERED", "REJECTED", "PAYMENT_FAILED", "CANCELLED"}

func statusName(s int16) string {
	if int(s) < len(statusNames) && s >= 0 {
		return statusNames[s]
	}
	return fmt.Sprint("status ", s)
}
