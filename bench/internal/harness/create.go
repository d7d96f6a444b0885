package harness

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/bench/internal/hist"
	"github.com/printfleet/printfleet/bench/internal/load"
	"github.com/printfleet/printfleet/bench/internal/report"
)

// connect opens the bench's own connections to the orders and catalog
// databases and learns how their outbox marks a published row.
func (fr *fleetRun) connect(ctx context.Context) error {
	var err error
	if fr.ordersDB, err = pgx.Connect(ctx, fr.layout.PGURL("orders")); err != nil {
		return err
	}
	if fr.catalogDB, err = pgx.Connect(ctx, fr.layout.PGURL("catalog")); err != nil {
		return err
	}
	// A relay that deletes what it published (no published_at column)
	// leaves only unpublished rows.
	fr.outboxPending = `SELECT count(*) FROM outbox WHERE published_at IS NULL`
	var marks bool
	if err := fr.ordersDB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_name = 'outbox' AND column_name = 'published_at')`).Scan(&marks); err == nil && !marks {
		fr.outboxPending = `SELECT count(*) FROM outbox`
	}
	return nil
}

func (fr *fleetRun) close() {
	for _, c := range []*pgx.Conn{fr.ordersDB, fr.catalogDB} {
		if c != nil {
			_ = c.Close(context.Background())
		}
	}
}

// backlog is the pipeline's work in hand: orders PENDING or CONFIRMED and
// unpublished outbox rows of orders and catalog; paid counts orders PAID
// that have yet to reach production.
func (fr *fleetRun) backlog(ctx context.Context) (orders, outbox, paid int64, err error) {
	fr.own.Add(2)
	err = fr.ordersDB.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status IN (1, 2)), count(*) FILTER (WHERE status = 3),
		(`+fr.outboxPending+`) FROM orders WHERE status IN (1, 2, 3)`).Scan(&orders, &paid, &outbox)
	if err != nil {
		return 0, 0, 0, err
	}
	var cat int64
	if err := fr.catalogDB.QueryRow(ctx, fr.outboxPending).Scan(&cat); err != nil {
		return 0, 0, 0, err
	}
	return orders, outbox + cat, paid, nil
}

// drain waits until no order is PENDING or CONFIRMED and both outboxes
// are empty, then (at most settleLimit more) until no order waits in PAID
// for production; it returns the backlog at first and at the end.
func (b *bench) drain(ctx context.Context, fr *fleetRun, limit time.Duration) (first, left int64, err error) {
	const settleLimit = 5 * time.Second
	deadline := time.Now().Add(limit)
	first = -1
	var settle time.Time
	for {
		orders, outbox, paid, err := fr.backlog(ctx)
		if err != nil {
			return first, -1, err
		}
		if first < 0 {
			first = orders + outbox
		}
		if orders == 0 && outbox == 0 {
			if settle.IsZero() {
				settle = time.Now().Add(settleLimit)
			}
			if paid == 0 || time.Now().After(settle) {
				return first, 0, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return first, orders + outbox, ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// create measures POST /v1/orders: the closed-loop sweep (and its knee),
// the sustained end-to-end rate, then an open loop at half of it for the
// create and placed → PAID latencies.
func (b *bench) create(ctx context.Context, fr *fleetRun) {
	b.o.logf("scenario: %s sweep %v", scCreate, b.o.Sweep)
	var points []sweepPoint
	for _, n := range b.o.Sweep {
		var p sweepPoint
		b.phase(fmt.Sprintf("create closed %d", n), func() { p = b.createPoint(ctx, fr, n) })
		if p.clients > 0 {
			points = append(points, p)
		}
	}
	if len(points) == 0 {
		b.add(report.Row{Scenario: scSustain, Skipped: "no order was created in the sweep"})
		b.add(report.Row{Scenario: scPaid, Skipped: "no order was created"})
		return
	}
	k := findKnee(points, 0.10)
	b.run.Knee = &k
	b.o.logf("create sweep: %s", k.Note)
	b.sustained(ctx, fr)
}

// sweepPoint is one closed loop of the create sweep.
type sweepPoint struct {
	clients    int
	throughput float64
	p99        time.Duration
}

// createPoint runs one closed loop of n clients and costs it per order over
// the loop and the pipeline's drain after it (each order's whole way).
func (b *bench) createPoint(ctx context.Context, fr *fleetRun, n int) sweepPoint {
	op := fr.createOp(nil)
	load.Closed(ctx, load.ClosedConfig{Workers: n, Duration: 500 * time.Millisecond}, op)
	if _, _, err := b.drain(ctx, fr, 30*time.Second); err != nil {
		b.note("create closed %d: warm-up not drained: %v", n, err)
	}
	s0 := b.meter.snap(ctx)
	res := load.Closed(ctx, load.ClosedConfig{Workers: n, Duration: b.o.d(5 * time.Second)}, op)
	t0 := time.Now()
	first, left, err := b.drain(ctx, fr, 60*time.Second)
	drained := time.Since(t0)
	time.Sleep(statsFlush)
	s1 := b.meter.snap(ctx)
	r := fromResult(scCreate, "create order", res)
	r.Cost = costOf(s0, s1, res.OK, "order", b.meter.idle)
	r.Note = fmt.Sprintf("2 blank items (untracked stock), card; cost per order over the loop and the pipeline's drain: %d orders in hand when the loop ended, drained in %v",
		first, drained.Round(100*time.Millisecond))
	if err != nil || left > 0 {
		r.Note += fmt.Sprintf(" (%d still in hand after 60 s; %v)", left, err)
	}
	b.add(r)
	if res.OK == 0 {
		return sweepPoint{}
	}
	// Every order of the loop finished its way in the window (less the
	// stats wait): a floor under the pipeline's capacity.
	b.e2eEstimate = max(b.e2eEstimate, float64(res.OK)/(s1.at.Sub(s0.at)-statsFlush).Seconds())
	b.createMax = max(b.createMax, res.Throughput())
	return sweepPoint{clients: n, throughput: res.Throughput(), p99: res.Latency.Quantile(0.99)}
}

// findKnee is the client count beyond which throughput gains less than
// minGain while p99 grows: the first point whose next point adds less than
// minGain of throughput with a higher p99. With none, the last point.
func findKnee(points []sweepPoint, minGain float64) report.Knee {
	ps := slices.Clone(points)
	slices.SortFunc(ps, func(a, b sweepPoint) int { return a.clients - b.clients })
	var desc []string
	for _, p := range ps {
		desc = append(desc, fmt.Sprintf("%d: %.0f/s p99 %s", p.clients, p.throughput, report.FormatDuration(p.p99)))
	}
	for i := 0; i+1 < len(ps); i++ {
		a, n := ps[i], ps[i+1]
		if a.throughput > 0 && n.throughput < a.throughput*(1+minGain) && n.p99 > a.p99 {
			return report.Knee{Clients: a.clients, MinGain: minGain, Note: fmt.Sprintf("knee at %d clients: %d clients add %+.0f%% throughput, p99 %s -> %s (%s)",
				a.clients, n.clients, 100*(n.throughput/a.throughput-1), report.FormatDuration(a.p99), report.FormatDuration(n.p99), strings.Join(desc, "; "))}
		}
	}
	last := ps[len(ps)-1]
	return report.Knee{Clients: last.clients, MinGain: minGain, Note: fmt.Sprintf("no knee up to %d clients: throughput still gains >= %.0f%% per step or p99 does not grow (%s)",
		last.clients, 100*minGain, strings.Join(desc, "; "))}
}

// backlogSample is the backlog at an offset into a step.
type backlogSample struct {
	at time.Duration
	n  int64
}

// judgeStep decides whether a step at rate kept up: the open loop kept at
// least 90% of its rate with at most 1% errors, the backlog's
// least-squares growth (after the first second) stayed under 5% of the
// rate (or 1 order/s), and it ended under two seconds' worth of orders (or
// 20).
func judgeStep(samples []backlogSample, rate, achieved, errRate float64) (bounded bool, slope float64, why string) {
	var use []backlogSample
	for _, s := range samples {
		if s.at >= time.Second {
			use = append(use, s)
		}
	}
	if len(use) < 3 {
		use = samples
	}
	slope = lsSlope(use)
	last := int64(0)
	if len(samples) > 0 {
		last = samples[len(samples)-1].n
	}
	switch {
	case achieved < 0.9*rate:
		return false, slope, fmt.Sprintf("creates fell behind: %.0f/s of %.0f/s", achieved, rate)
	case errRate > maxErrorRate:
		return false, slope, fmt.Sprintf("%.1f%% of the creates failed", 100*errRate)
	case slope > max(0.05*rate, 1):
		return false, slope, fmt.Sprintf("backlog grew %.1f/s (limit %.1f/s)", slope, max(0.05*rate, 1))
	case float64(last) > max(20, 2*rate):
		return false, slope, fmt.Sprintf("backlog ended at %d (limit %.0f)", last, max(20, 2*rate))
	}
	return true, slope, fmt.Sprintf("bounded: growth %.1f/s, ended at %d", slope, last)
}

// lsSlope is the least-squares slope of n over time, per second.
func lsSlope(s []backlogSample) float64 {
	if len(s) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, p := range s {
		x, y := p.at.Seconds(), float64(p.n)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(s))
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// rateSearch steps an open-loop rate up until the backlog grows, then
// bisects between the best bounded and the lowest unbounded rate; it never
// goes above ceiling (the create maximum).
type rateSearch struct {
	ceiling  float64
	lo, hi   float64 // highest bounded, lowest unbounded (0: none yet)
	steps    int
	maxSteps int
}

const (
	searchGrowth    = 1.25
	searchPrecision = 0.10
)

// next takes a step's verdict and returns the next rate to try, or done.
func (s *rateSearch) next(rate float64, bounded bool) (float64, bool) {
	s.steps++
	if bounded {
		s.lo = max(s.lo, rate)
	} else if s.hi == 0 || rate < s.hi {
		s.hi = rate
	}
	if s.steps >= s.maxSteps {
		return 0, true
	}
	switch {
	case s.hi == 0: // nothing failed yet: step up
		if s.lo >= s.ceiling {
			return 0, true
		}
		return math.Min(s.lo*searchGrowth, s.ceiling), false
	case s.lo == 0: // nothing held yet: step down
		return s.hi / 1.5, false
	case s.hi/s.lo <= 1+searchPrecision:
		return 0, true
	default:
		return (s.lo + s.hi) / 2, false
	}
}

// stepResult is one step's outcome.
type stepResult struct {
	step    report.SustainedStep
	res     *load.Result
	created *orderLog
	cost    *report.Cost
}

// sustained searches the highest create rate at which the pipeline's
// backlog stays bounded (the headline, held against the whole-way pgbench
// baseline), then measures create and placed → PAID latencies at half of
// it.
func (b *bench) sustained(ctx context.Context, fr *fleetRun) {
	ceiling := b.createMax
	start := math.Min(ceiling, math.Max(1, 0.8*b.e2eEstimate))
	b.o.logf("scenario: %s, search from %.0f orders/s (pipeline finished %.0f/s during the sweep; create maximum %.0f/s)", scSustain, start, b.e2eEstimate, ceiling)
	s := &rateSearch{ceiling: ceiling, maxSteps: 4}
	sus := &report.Sustained{Note: fmt.Sprintf("open-loop steps of %v from %.0f/s (0.8 x the pipeline's rate in the sweep), x%.2f up until the backlog grows, then bisected to %.0f%%; ceiling the create maximum %.0f/s",
		b.o.d(6*time.Second).Round(100*time.Millisecond), start, searchGrowth, 100*searchPrecision, ceiling)}
	b.run.Sustained = sus
	var best *stepResult
	lowest := start
	for rate := start; ; {
		r := b.sustainedStep(ctx, fr, rate)
		if !r.step.Bounded && r.step.Noisy && !b.o.NoRerun {
			b.note("sustained step at %.0f/s grew while others used %.0f%% of the machine: running it once more", rate, 100*r.cost.OtherBusy)
			r = b.sustainedStep(ctx, fr, rate)
		}
		sus.Steps = append(sus.Steps, r.step)
		b.o.logf("  step %.0f/s: %s", rate, r.step.Why)
		if r.step.Bounded && (best == nil || rate > best.step.Rate) {
			best = &r
		}
		lowest = math.Min(lowest, rate)
		next, done := s.next(rate, r.step.Bounded)
		if done || ctx.Err() != nil {
			break
		}
		rate = next
	}
	half := lowest / 2
	if best == nil {
		sus.Note += fmt.Sprintf("; no step kept up, the lowest tried was %.0f/s", lowest)
		b.add(report.Row{Scenario: scSustain, Mode: "max sustained", Skipped: fmt.Sprintf("no rate kept the backlog bounded (lowest tried %.0f orders/s)", lowest)})
	} else {
		sus.Rate = best.step.Rate
		half = best.step.Rate / 2
		pr := b.paidLatencies(ctx, fr, best.created, best.step.Rate)
		row := report.Row{Scenario: scSustain, Mode: "max sustained", Group: "sustained e2e", Throughput: best.res.Throughput(), Unit: "orders/s",
			Count: best.res.OK, Errors: best.res.Failed(), ErrorKinds: best.res.ErrorSummary(), Cost: best.cost,
			Note: fmt.Sprintf("highest open-loop create rate whose backlog stayed bounded (%s); latencies are placed -> PAID of that step's orders", best.step.Why)}
		if pr != nil {
			row.P50, row.P95, row.P99, row.Max = pr.h.Quantile(0.5), pr.h.Quantile(0.95), pr.h.Quantile(0.99), pr.h.Max()
		}
		b.add(row)
	}
	b.phase("create at half the sustained rate", func() { b.halfSustained(ctx, fr, math.Max(1, half)) })
}

// sustainedStep runs one open loop at rate, sampling the backlog, and
// costs it per order over the loop and the drain after it.
func (b *bench) sustainedStep(ctx context.Context, fr *fleetRun, rate float64) stepResult {
	if _, _, err := b.drain(ctx, fr, 60*time.Second); err != nil {
		b.note("sustained step %.0f/s: backlog not drained before: %v", rate, err)
	}
	created := &orderLog{}
	s0 := b.meter.snap(ctx)
	var samples []backlogSample
	done := make(chan struct{})
	sampled := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(sampled)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if o, ob, _, err := fr.backlog(ctx); err == nil {
				samples = append(samples, backlogSample{time.Since(t0), o + ob})
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	res := load.Open(ctx, load.OpenConfig{Rate: rate, Duration: b.o.d(6 * time.Second), MaxInFlight: openSender, Drain: 5 * time.Second}, fr.createOp(created))
	close(done)
	<-sampled
	errRate := 0.0
	if t := res.OK + res.Failed(); t > 0 {
		errRate = float64(res.Failed()) / float64(t)
	}
	bounded, slope, why := judgeStep(samples, rate, res.Throughput(), errRate)
	if _, _, err := b.drain(ctx, fr, 60*time.Second); err != nil {
		b.note("sustained step %.0f/s: backlog not drained after: %v", rate, err)
	}
	time.Sleep(statsFlush)
	cost := costOf(s0, b.meter.snap(ctx), res.OK, "order", b.meter.idle)
	st := report.SustainedStep{Rate: rate, Achieved: res.Throughput(), Slope: slope, Bounded: bounded, Noisy: cost.Noisy, Why: why}
	if len(samples) > 0 {
		st.BacklogStart, st.BacklogEnd = samples[0].n, samples[len(samples)-1].n
	}
	return stepResult{step: st, res: res, created: created, cost: cost}
}

// halfSustained is the open loop at half the sustained rate: the create
// latency and the placed → PAID latency of its orders.
func (b *bench) halfSustained(ctx context.Context, fr *fleetRun, rate float64) {
	if _, _, err := b.drain(ctx, fr, 60*time.Second); err != nil {
		b.note("half rate: backlog not drained before: %v", err)
	}
	created := &orderLog{}
	s0 := b.meter.snap(ctx)
	res := load.Open(ctx, load.OpenConfig{Rate: rate, Duration: b.o.d(10 * time.Second), MaxInFlight: openSender, Drain: 10 * time.Second}, fr.createOp(created))
	pr := b.paidLatencies(ctx, fr, created, rate) // drains first
	time.Sleep(statsFlush)
	cost := costOf(s0, b.meter.snap(ctx), res.OK, "order", b.meter.idle)
	r := fromResult(scCreate, "create order", res)
	r.Cost = cost
	r.Note = "at half the sustained rate; cost per order over the loop and the pipeline's drain"
	b.add(r)
	if pr == nil {
		b.add(report.Row{Scenario: scPaid, Skipped: "no order of the open loop could be read back"})
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
		Throughput: float64(pr.paid) / b.o.d(10*time.Second).Seconds(), Unit: "orders/s", Count: pr.paid,
		P50: pr.h.Quantile(0.5), P95: pr.h.Quantile(0.95), P99: pr.h.Quantile(0.99), Max: pr.h.Max(),
		Errors: n, ErrorKinds: strings.Join(kinds, ", "),
		Note: fmt.Sprintf("timeline order.placed -> payment.captured (or the first entry to PAID or later) of the %d orders of the open loop at half the sustained rate; %d still in flight after %v",
			len(created.ids), pr.timedOut, pr.waited.Round(time.Millisecond))})
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

// paidLatencies waits for the orders to settle and reads each one's
// timeline: the order.placed entry (written with the order) and the moment
// it reached PAID — its payment.captured entry, or the first entry moving
// it to PAID or later (a blank order may go to IN_PRODUCTION in one
// transition). Orders that never reached PAID are counted by status; those
// still on their way count with their waiting time as a lower bound.
func (b *bench) paidLatencies(ctx context.Context, fr *fleetRun, created *orderLog, rate float64) *paidResult {
	if len(created.ids) == 0 {
		return nil
	}
	t0 := time.Now()
	if _, _, err := b.drain(ctx, fr, 60*time.Second); err != nil {
		b.note("placed -> PAID: %v", err)
	}
	pr := &paidResult{notPaid: map[string]int64{}, rate: rate, waited: time.Since(t0)}
	fr.own.Add(1)
	rows, err := fr.ordersDB.Query(ctx, `
		SELECT o.status, placed.at, paid.at, now()
		FROM orders o
		LEFT JOIN LATERAL (SELECT min(e.created_at) AS at FROM order_events e
			WHERE e.order_id = o.id AND e.type = 'order.placed') placed ON true
		LEFT JOIN LATERAL (SELECT min(e.created_at) AS at FROM order_events e
			WHERE e.order_id = o.id AND (e.type = 'payment.captured' OR e.to_status BETWEEN 3 AND 6)) paid ON true
		WHERE o.id = ANY($1::uuid[])`, created.ids)
	if err != nil {
		b.note("placed -> PAID: timeline query: %v", err)
		return nil
	}
	defer rows.Close()
	for rows.Next() {
		var status int16
		var placed, paidAt *time.Time
		var now time.Time
		if err := rows.Scan(&status, &placed, &paidAt, &now); err != nil {
			b.note("placed -> PAID: %v", err)
			return nil
		}
		switch {
		case placed != nil && (paidAt != nil || (status >= 3 && status <= 6)):
			at := now
			if paidAt != nil {
				at = *paidAt
			}
			pr.h.Record(at.Sub(*placed))
			pr.paid++
		case placed != nil && (status == 1 || status == 2):
			pr.h.Record(now.Sub(*placed)) // still on its way: a lower bound
			pr.timedOut++
			pr.notPaid[statusName(status)]++
		default:
			pr.notPaid[statusName(status)]++
		}
	}
	if rows.Err() != nil {
		b.note("placed -> PAID: %v", rows.Err())
		return nil
	}
	return pr
}
