package harness

import (
	"fmt"
	"time"

	"github.com/printfleet/printfleet/bench/internal/report"
)

// maxErrorRate is the share of failed requests above which a phase's
// latency cannot pass a budget: fast failures would flatter it.
const maxErrorRate = 0.01

func errorRate(r *report.Row) float64 {
	total := r.Count + r.Errors
	if total == 0 {
		return 1
	}
	return float64(r.Errors) / float64(total)
}

// ms formats a duration for a budget line.
func fmtD(d time.Duration) string { return report.FormatDuration(d) }

// budgets holds the run against DESIGN.md's budgets; a budget whose phase
// did not run is NOT RUN, never PASS.
func budgets(run *report.Run, b *bench) []report.Budget {
	var out []report.Budget
	pg := run.Find(scPgbench, "")
	whole := run.Find(scWholeWay, "")
	redis := run.Find(scRedis, "closed")
	createMax := run.Find(scCreate, fmt.Sprintf("closed %d", run.Clients))
	createOpen := run.Find(scCreate, "open")
	sus := run.Find(scSustain, "max sustained")

	// Ratios against the limits go into the rows, too.
	link := func(r, limit *report.Row, name string) {
		if r != nil && limit != nil && limit.Throughput > 0 {
			r.Limit, r.LimitValue, r.Ratio = name, limit.Throughput, r.Throughput/limit.Throughput
		}
	}
	link(createMax, pg, "pgbench")
	link(sus, whole, "pgbench whole way")
	// Reads served from Redis are held against the bare Redis handler;
	// the rest against the bare hello handler.
	link(run.Find(scCached, "closed"), redis, "Redis GET")
	link(run.Find(scProduct, "closed"), redis, "Redis GET")
	hello := run.Find(scHello, "closed")
	for _, sc := range []string{scQuote, scList1, scList50} {
		link(run.Find(sc, "closed"), hello, "hello")
	}

	ok := func(r *report.Row) bool { return r != nil && r.Skipped == "" && r.Count > 0 }

	// create: throughput >= 50% of pgbench.
	name, want := "create order: throughput vs pgbench (same SQL)", ">= 50%"
	if ok(createMax) && ok(pg) {
		out = append(out, report.Check(name, want,
			fmt.Sprintf("%s (%s vs %s); errors %.1f%%", report.FormatRatio(createMax.Ratio), report.FormatRate(createMax.Throughput, "req/s"),
				report.FormatRate(pg.Throughput, "tx/s"), 100*errorRate(createMax)),
			createMax.Ratio >= 0.5 && errorRate(createMax) <= maxErrorRate))
	} else {
		out = append(out, report.Skip(name, want, "create or pgbench did not run"))
	}

	// The headline: the sustained end-to-end rate against the whole way.
	name, want = "sustained placed -> PAID vs pgbench whole way", ">= 50%"
	if ok(sus) && ok(whole) {
		out = append(out, report.Check(name, want, fmt.Sprintf("%s (%s vs %s)", report.FormatRatio(sus.Ratio),
			report.FormatRate(sus.Throughput, "orders/s"), report.FormatRate(whole.Throughput, "orders/s")), sus.Ratio >= 0.5))
	} else {
		out = append(out, report.Skip(name, want, "sustained search or whole-way pgbench did not run"))
	}
	out = append(out, p99Budget("create order: p99 at half the sustained rate", 25*time.Millisecond, createOpen))

	cachedOpen := run.Find(scCached, "open")
	out = append(out, p99Budget("cached order read: p99 at half max", 5*time.Millisecond, cachedOpen))
	cachedMax := run.Find(scCached, "closed")
	name, want = "cached order read: throughput vs bare Redis GET handler", ">= 40%"
	if ok(cachedMax) && ok(redis) {
		out = append(out, report.Check(name, want, fmt.Sprintf("%s (%s vs %s)", report.FormatRatio(cachedMax.Ratio),
			report.FormatRate(cachedMax.Throughput, "req/s"), report.FormatRate(redis.Throughput, "req/s")),
			cachedMax.Ratio >= 0.4 && errorRate(cachedMax) <= maxErrorRate))
	} else {
		out = append(out, report.Skip(name, want, "cached read or Redis baseline did not run"))
	}

	out = append(out, p99Budget("product read: p99 at half max", 5*time.Millisecond, run.Find(scProduct, "open")))
	name, want = "product read: PostgreSQL queries on the hot path", "zero"
	if q := b.product; q != nil {
		// Zero scans of the product tables, and no transactions beyond
		// the idle rate (within 1 per 1,000 requests of noise).
		got := fmt.Sprintf("%d scans of products/variants/placements; %+.0f transactions vs idle over %d requests (%.4f/request)",
			q.tableScans, q.excess(), q.requests, q.perRequest())
		if q.projection != "" {
			got += "; " + q.projection
		}
		out = append(out, report.Check(name, want, got, q.tableScans == 0 && q.perRequest() < 0.001))
	} else {
		out = append(out, report.Skip(name, want, "product phase did not run"))
	}

	name, want = "order placed -> PAID: p99 at half the sustained rate", "<= 250 ms"
	if p := b.paidStats; p != nil && p.h.Count() > 0 {
		var notPaid int64
		for _, n := range p.notPaid {
			notPaid += n
		}
		got := fmt.Sprintf("%s at %.0f orders/s (%d paid, %d not paid)", fmtD(p.h.Quantile(0.99)), p.rate, p.paid, notPaid)
		share := float64(notPaid) / float64(p.paid+notPaid)
		out = append(out, report.Check(name, want, got, p.h.Quantile(0.99) <= 250*time.Millisecond && share <= maxErrorRate))
	} else {
		out = append(out, report.Skip(name, want, "no orders were measured"))
	}

	out = append(out, costBudgets(sus, run.Find(scCreate, "open"))...)

	for _, rb := range []struct {
		sc, limitName string
		limit         *report.Row
		share         float64
	}{{scProduct, "bare Redis GET handler", redis, 0.4}, {scQuote, "hello", hello, 0.3}} {
		r := run.Find(rb.sc, "closed")
		name, want := rb.sc+": throughput vs "+rb.limitName, fmt.Sprintf(">= %.0f%%", 100*rb.share)
		if ok(r) && ok(rb.limit) {
			out = append(out, report.Check(name, want, fmt.Sprintf("%s (%s vs %s)", report.FormatRatio(r.Ratio),
				report.FormatRate(r.Throughput, "req/s"), report.FormatRate(rb.limit.Throughput, "req/s")),
				r.Ratio >= rb.share && errorRate(r) <= maxErrorRate))
		} else {
			out = append(out, report.Skip(name, want, "phase or baseline did not run"))
		}
	}

	name, want = "design render: worker vs vips CLI (time)", "<= 1.5x"
	if w, c := b.renderW, b.renderCLI; w != nil && c != nil && c.P50 > 0 {
		x := float64(w.P50) / float64(c.P50)
		out = append(out, report.Check(name, want, fmt.Sprintf("%.2fx (median %s vs %s)", x, fmtD(w.P50), fmtD(c.P50)), x <= 1.5))
	} else {
		out = append(out, report.Skip(name, want, "render comparison did not run"))
	}
	return out
}

// p99Budget checks an open-loop phase's p99 and that it kept its rate
// with (almost) no errors.
func p99Budget(name string, limit time.Duration, r *report.Row) report.Budget {
	want := "<= " + fmtD(limit)
	if r == nil || r.Skipped != "" || r.Count == 0 {
		return report.Skip(name, want, "phase did not run")
	}
	got := fmt.Sprintf("%s at %s", fmtD(r.P99), r.Mode)
	if er := errorRate(r); er > 0 {
		got += fmt.Sprintf(", errors %.2f%%", 100*er)
	}
	return report.Check(name, want, got, r.P99 <= limit && errorRate(r) <= maxErrorRate)
}

// Per-order budgets for a blank order, held at the sustained rate (the
// half-rate figure is shown beside it).
const (
	maxCPUPerOrder        = 4.0 // ms, every process including the datastores
	maxCommitsPerOrder    = 4
	maxRoundTripsPerOrder = 25
)

func costBudgets(sus, half *report.Row) []report.Budget {
	var out []report.Budget
	at := func(r *report.Row) *report.Cost {
		if r == nil || r.Skipped != "" || r.Cost == nil || r.Cost.Ops == 0 {
			return nil
		}
		return r.Cost
	}
	c, h := at(sus), at(half)
	for _, b := range []struct {
		name, want string
		get        func(*report.Cost) float64
		limit      float64
		unit       string
	}{
		{"CPU per order (every process incl. PostgreSQL, RabbitMQ, Redis)", fmt.Sprintf("<= %.0f ms", maxCPUPerOrder),
			func(c *report.Cost) float64 { return c.CPUmsTotal }, maxCPUPerOrder, "ms"},
		{"PostgreSQL commits per blank order (server)", fmt.Sprintf("<= %d", maxCommitsPerOrder),
			func(c *report.Cost) float64 { return c.PGCommits }, maxCommitsPerOrder, ""},
		{"PostgreSQL round trips per blank order (processes)", fmt.Sprintf("<= %d", maxRoundTripsPerOrder),
			func(c *report.Cost) float64 { return c.PGRoundTrips }, maxRoundTripsPerOrder, ""},
	} {
		if c == nil || b.get(c) < 0 {
			out = append(out, report.Skip(b.name, b.want, "the sustained phase did not run or the counter was not read"))
			continue
		}
		got := fmt.Sprintf("%.2f%s at the sustained rate", b.get(c), b.unit)
		if h != nil && b.get(h) >= 0 {
			got += fmt.Sprintf(" (%.2f%s at half of it)", b.get(h), b.unit)
		}
		if c.Noisy {
			got += fmt.Sprintf("; noisy: others used %.0f%% of the machine", 100*c.OtherBusy)
		}
		out = append(out, report.Check(b.name, b.want, got, b.get(c) <= b.limit))
	}
	return out
}
