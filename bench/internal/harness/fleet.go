package harness

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/bench/internal/fleetrun"
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
	for _, sc := range []string{scCreate, scSustain, scPaid, scCached, scProduct, scQuote, scList1, scList50} {
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
	// ordersDB and catalogDB are the bench's own connections for backlog
	// polls and timeline reads; own counts their transactions.
	ordersDB, catalogDB *pgx.Conn
	own                 *atomic.Int64
	outboxPending       string
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
	api, err := scenario.NewAPI(l.GatewayURL(), openSender+slices.Max(b.o.Sweep))
	if err != nil {
		return err
	}
	fr := &fleetRun{layout: l, api: api, ids: scenario.NewIds()}
	if err := fr.connect(ctx); err != nil {
		return err
	}
	defer fr.close()
	admins := map[string]string{}
	for _, p := range l.Procs() {
		if p.Admin != "" && !slices.Contains(f.Skipped, p.Name) {
			admins[p.Name] = "http://" + p.Admin + "/metrics"
		}
	}
	var own atomic.Int64
	fr.own = &own
	b.meter = &meter{watch: cpuWatch{pids: func() map[string]int {
		m := map[string]int{}
		for _, p := range l.Procs() {
			m[p.Name] = f.Pid(p.Name)
		}
		return m
	}}, pgAdmin: fmt.Sprintf("postgres://%s@%s:%d/postgres?sslmode=disable", l.PGUser, l.PGHost, l.PGPort),
		dbs: []string{l.DBName("orders"), l.DBName("catalog"), l.DBName("pricing")}, admins: admins, own: &own}
	defer func() { b.meter.close(); b.meter = &meter{} }()
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
	// The idle rates of the counters, subtracted from every phase's.
	if _, _, err := b.drain(ctx, fr, 30*time.Second); err != nil {
		b.note("seed backlog not drained: %v", err)
	}
	b.meter.idle = b.meter.measureIdle(ctx, 3*time.Second)
	b.note("idle fleet: %.1f commits/s (server), %.1f round trips/s, %.2f publishes/s, %.2f deliveries/s (processes); subtracted from every phase",
		b.meter.idle.commits, b.meter.idle.roundTrips, b.meter.idle.published, b.meter.idle.delivered)
	if b.want("create") {
		b.create(ctx, fr)
	}
	for _, sc := range []struct {
		name string
		run  func(context.Context, *fleetRun)
	}{{"cached", b.cachedGet}, {"product", b.productGet}, {"quote", b.quote}, {"lists", b.lists}} {
		if b.want(sc.name) {
			b.phase(sc.name, func() { sc.run(ctx, fr) })
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

// open runs an open loop and keeps its cost per request in b.lastCost.
func (b *bench) open(ctx context.Context, rate float64, d time.Duration, op load.Op) *load.Result {
	s0 := b.meter.snap(ctx)
	res := load.Open(ctx, load.OpenConfig{Rate: rate, Duration: d, MaxInFlight: openSender, Drain: 10 * time.Second}, op)
	b.lastCost = costOf(s0, b.meter.snap(ctx), res.OK, "request", b.meter.idle)
	return res
}

// closed runs a closed loop of b.o.Clients workers after a short warm-up
// (connections, lazily initialised paths) and keeps its cost per request
// in b.lastCost.
func (b *bench) closed(ctx context.Context, d time.Duration, op load.Op) *load.Result {
	load.Closed(ctx, load.ClosedConfig{Workers: b.o.Clients, Duration: 500 * time.Millisecond}, op)
	s0 := b.meter.snap(ctx)
	res := load.Closed(ctx, load.ClosedConfig{Workers: b.o.Clients, Duration: d}, op)
	b.lastCost = costOf(s0, b.meter.snap(ctx), res.OK, "request", b.meter.idle)
	return res
}

// row is fromResult with the cost of the loop that just ran.
func (b *bench) row(scenario, group string, res *load.Result) report.Row {
	r := fromResult(scenario, group, res)
	r.Cost = b.lastCost
	r.CPU = costString(r.Cost)
	return r
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
