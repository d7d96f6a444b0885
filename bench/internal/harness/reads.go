package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/bench/internal/client"
	"github.com/printfleet/printfleet/bench/internal/load"
	"github.com/printfleet/printfleet/bench/internal/report"
	"github.com/printfleet/printfleet/bench/internal/scenario"
)

// queryCount is what a database did during a read phase, beyond what it
// does when idle.
type queryCount struct {
	requests   int64
	xacts      int64   // transactions during the phase
	idleXacts  float64 // expected from the idle rate over the phase
	tableScans int64   // scans of the read's own tables
	tuples     int64
	tables     []string
	db         string
	projection string // the catalog's own hit/miss counters, when read
}

func (q *queryCount) excess() float64 { return float64(q.xacts) - q.idleXacts }

func (q *queryCount) perRequest() float64 {
	if q.requests == 0 {
		return 0
	}
	return q.excess() / float64(q.requests)
}

func (q *queryCount) String() string {
	return fmt.Sprintf("%s: %d transactions during %d requests (idle rate predicts %.0f; excess %.3f per request), %d scans of %v, %d tuples read",
		q.db, q.xacts, q.requests, q.idleXacts, q.perRequest(), q.tableScans, q.tables, q.tuples)
}

// counted runs phase and measures the database's transactions and the
// scans of tables during it against an idle window of idle length first.
func (b *bench) counted(ctx context.Context, url, db string, tables []string, idle time.Duration, phase func() int64) (*queryCount, error) {
	time.Sleep(statsFlush)
	s0, err := readStats(ctx, url, tables)
	if err != nil {
		return nil, err
	}
	time.Sleep(idle)
	s1, err := readStats(ctx, url, tables)
	if err != nil {
		return nil, err
	}
	idleRate := float64(s1.sub(s0).Xacts-ownReads) / idle.Seconds()
	t0 := time.Now()
	n := phase()
	el := time.Since(t0)
	time.Sleep(statsFlush)
	s2, err := readStats(ctx, url, tables)
	if err != nil {
		return nil, err
	}
	d := s2.sub(s1)
	return &queryCount{requests: n, xacts: d.Xacts - ownReads, idleXacts: max(0, idleRate) * (el + statsFlush).Seconds(),
		tableScans: d.Scans, tuples: d.Tuples, tables: tables, db: db}, nil
}

// cachedGet reads orders the open loop created (PAID by now, so their
// cache entries are not invalidated during the phase) as their owners.
func (b *bench) cachedGet(ctx context.Context, fr *fleetRun) {
	b.o.logf("scenario: %s", scCached)
	type owned struct {
		u  *scenario.User
		id string
	}
	var orders []owned
	// The newest 50 orders of each user.
	for _, u := range fr.users {
		ids, err := b.orderIDs(ctx, fr, u.ID, 50)
		if err != nil {
			b.add(report.Row{Scenario: scCached, Skipped: err.Error()})
			return
		}
		for _, id := range ids {
			orders = append(orders, owned{u, id})
		}
	}
	if len(orders) == 0 {
		b.add(report.Row{Scenario: scCached, Skipped: "no orders to read"})
		return
	}
	op := func(ctx context.Context, _ int, seq int64) error {
		o := orders[int(seq)%len(orders)]
		_, err := fr.api.GetOrder(ctx, o.u, o.id)
		return err
	}
	// Fill the cache: one read of each.
	for _, o := range orders {
		if _, err := fr.api.GetOrder(ctx, o.u, o.id); err != nil {
			b.add(report.Row{Scenario: scCached, Skipped: "warm-up read: " + err.Error()})
			return
		}
	}
	var maxRes, openRes *load.Result
	var maxCost *report.Cost
	qc, err := b.counted(ctx, fr.layout.PGURL("orders"), fr.layout.DBName("orders"), []string{"orders", "order_items", "shipments"}, 3*time.Second, func() int64 {
		maxRes = b.closed(ctx, b.o.d(6*time.Second), op)
		maxCost = b.lastCost
		openRes = b.open(ctx, halfRate(maxRes), b.o.d(6*time.Second), op)
		return maxRes.OK + openRes.OK + maxRes.Failed() + openRes.Failed()
	})
	if maxRes == nil {
		b.add(report.Row{Scenario: scCached, Skipped: err.Error()})
		return
	}
	r := fromResult(scCached, "cached GET order", maxRes)
	r.Cost = maxCost
	r.Note = fmt.Sprintf("%d orders of %d users, each read once before", len(orders), len(fr.users))
	b.add(r)
	o := b.row(scCached, "cached GET order", openRes)
	if qc != nil {
		b.cachedPG = qc
		o.Note = qc.String()
	} else {
		b.note("cached GET: query count not measured: %v", err)
	}
	b.add(o)
}

// orderIDs are a user's newest orders, read from the orders database.
func (b *bench) orderIDs(ctx context.Context, fr *fleetRun, user string, n int) ([]string, error) {
	conn, err := pgx.Connect(ctx, fr.layout.PGURL("orders"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id::text FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2`, user, n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// productGet reads products anonymously, as a storefront does, and counts
// what the catalog database did meanwhile.
func (b *bench) productGet(ctx context.Context, fr *fleetRun) {
	b.o.logf("scenario: %s", scProduct)
	op := func(ctx context.Context, _ int, seq int64) error {
		return fr.api.GetProduct(ctx, fr.products[int(seq)%len(fr.products)])
	}
	for _, p := range fr.products { // every projection read once
		if err := fr.api.GetProduct(ctx, p); err != nil {
			b.add(report.Row{Scenario: scProduct, Skipped: "warm-up read: " + err.Error()})
			return
		}
	}
	// Let the catalog finish what the seed and the orders set going
	// (outbox events, projector updates) so that the count below is the
	// reads' own.
	if err := b.quiet(ctx, fr.layout.PGURL("catalog"), 30*time.Second); err != nil {
		b.note("product GET: catalog outbox not drained: %v", err)
	}
	before, merr := projectionReads(ctx, "http://"+fr.layout.Admin(9202)+"/metrics")
	var maxRes, openRes *load.Result
	var maxCost *report.Cost
	qc, err := b.counted(ctx, fr.layout.PGURL("catalog"), fr.layout.DBName("catalog"), []string{"products", "variants", "placements"}, 4*time.Second, func() int64 {
		maxRes = b.closed(ctx, b.o.d(6*time.Second), op)
		maxCost = b.lastCost
		openRes = b.open(ctx, halfRate(maxRes), b.o.d(6*time.Second), op)
		return maxRes.OK + openRes.OK + maxRes.Failed() + openRes.Failed()
	})
	if maxRes == nil {
		b.add(report.Row{Scenario: scProduct, Skipped: err.Error()})
		return
	}
	r := fromResult(scProduct, "GET product", maxRes)
	r.Cost = maxCost
	r.Note = fmt.Sprintf("%d products, anonymous", len(fr.products))
	b.add(r)
	o := b.row(scProduct, "GET product", openRes)
	if qc != nil {
		b.product = qc
		o.Note = qc.String()
		after, aerr := projectionReads(ctx, "http://"+fr.layout.Admin(9202)+"/metrics")
		if merr == nil && aerr == nil {
			qc.projection = fmt.Sprintf("catalog_projection_reads_total{op=\"get\"} during the phase: %d hit, %d miss, %d error",
				after["hit"]-before["hit"], after["miss"]-before["miss"], after["error"]-before["error"])
			o.Note += "; " + qc.projection
		} else {
			b.note("product GET: catalog metrics not read: %v %v", merr, aerr)
		}
	} else {
		b.note("product GET: query count not measured: %v", err)
	}
	b.add(o)
}

func (b *bench) quote(ctx context.Context, fr *fleetRun) {
	b.o.logf("scenario: %s", scQuote)
	body, _ := json.Marshal(scenario.QuoteBody{Items: []scenario.Item{{VariantID: fr.variants[0], Quantity: 2}, {VariantID: fr.variants[1], Quantity: 1}},
		CountryCode: "US", Currency: "USD"})
	op := func(ctx context.Context, _ int, _ int64) error { return fr.api.Quote(ctx, body) }
	maxRes := b.closed(ctx, b.o.d(5*time.Second), op)
	b.add(b.row(scQuote, "quote", maxRes))
	b.add(b.row(scQuote, "quote", b.open(ctx, halfRate(maxRes), b.o.d(5*time.Second), op)))
}

const listPageSize = 10

// lists reads a user's first page, then the 50th page through the tokens.
// The user gets enough orders first when the create phases left too few.
func (b *bench) lists(ctx context.Context, fr *fleetRun) {
	b.o.logf("scenario: %s / %s", scList1, scList50)
	u := fr.users[0]
	need := 50*listPageSize - listPageSize + 1
	have, err := b.countOrders(ctx, fr, u.ID)
	if err != nil {
		b.add(report.Row{Scenario: scList1, Skipped: err.Error()})
		b.add(report.Row{Scenario: scList50, Skipped: err.Error()})
		return
	}
	if have < int64(need) {
		missing := int64(need) - have
		b.o.logf("creating %d more orders for %s to reach page 50", missing, u.ID)
		one := []*scenario.User{u}
		top := &fleetRun{api: fr.api, users: one, ids: fr.ids, body: fr.body}
		load.Closed(ctx, load.ClosedConfig{Workers: 8, Duration: time.Minute, MaxRequests: missing}, top.createOp(nil))
		if _, _, err := b.drain(ctx, fr, 30*time.Second); err != nil {
			b.note("lists: drain after top-up: %v", err)
		}
	}
	page1 := func(ctx context.Context, _ int, _ int64) error {
		_, _, err := fr.api.ListOrders(ctx, u, listPageSize, "")
		return err
	}
	maxRes := b.closed(ctx, b.o.d(5*time.Second), page1)
	b.add(b.row(scList1, "list page 1", maxRes))
	b.add(b.row(scList1, "list page 1", b.open(ctx, halfRate(maxRes), b.o.d(5*time.Second), page1)))

	token := ""
	for page := 1; page < 50; page++ {
		n, next, err := fr.api.ListOrders(ctx, u, listPageSize, token)
		if err != nil || next == "" || n == 0 {
			why := fmt.Sprintf("walking to page 50 stopped at page %d (%d orders, next token %q, err %v)", page, n, next, err)
			b.add(report.Row{Scenario: scList50, Skipped: why})
			return
		}
		token = next
	}
	page50 := func(ctx context.Context, _ int, _ int64) error {
		n, _, err := fr.api.ListOrders(ctx, u, listPageSize, token)
		if err == nil && n == 0 {
			return fmt.Errorf("page 50 came back empty")
		}
		return err
	}
	maxRes = b.closed(ctx, b.o.d(5*time.Second), page50)
	r := b.row(scList50, "list page 50", maxRes)
	r.Note = "token of page 50 reached by following 49 next_page_tokens"
	b.add(r)
	b.add(b.row(scList50, "list page 50", b.open(ctx, halfRate(maxRes), b.o.d(5*time.Second), page50)))
}

func (b *bench) countOrders(ctx context.Context, fr *fleetRun, user string) (int64, error) {
	conn, err := pgx.Connect(ctx, fr.layout.PGURL("orders"))
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT count(*) FROM orders WHERE user_id = $1`, user).Scan(&n)
	return n, err
}

// quiet waits until db's outbox has nothing left to publish, then a
// moment for the consumers of what it published.
func (b *bench) quiet(ctx context.Context, url string, limit time.Duration) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(limit)
	for {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			time.Sleep(time.Second)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d events still unpublished after %v", n, limit)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// projectionReads scrapes the catalog's catalog_projection_reads_total
// counters for op="get", by result.
func projectionReads(ctx context.Context, url string) (map[string]int64, error) {
	c := client.New(1)
	defer c.CloseIdleConnections()
	body, err := client.Do(ctx, c, http.MethodGet, url, nil, nil)
	if err != nil {
		return nil, err
	}
	return parseCounter(string(body), "catalog_projection_reads_total", "op", "get", "result"), nil
}

// parseCounter reads the samples of a counter from a Prometheus text
// exposition whose label sel equals selVal, keyed by label by's value.
func parseCounter(text, name, sel, selVal, by string) map[string]int64 {
	out := map[string]int64{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		labels, value, ok := strings.Cut(strings.TrimPrefix(line, name+"{"), "} ")
		if !ok {
			continue
		}
		l := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(v, `"`)
		}
		if l[sel] != selVal {
			continue
		}
		f, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err == nil {
			out[l[by]] += int64(f)
		}
	}
	return out
}
