package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/bench/internal/report"
)

func verdicts(bs []report.Budget) map[string]report.Budget {
	m := map[string]report.Budget{}
	for _, b := range bs {
		m[b.Name] = b
	}
	return m
}

func TestBudgets(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	run := &report.Run{Clients: 32, Rows: []report.Row{
		{Scenario: scPgbench, Mode: "32 clients", Throughput: 1000, Count: 10000},
		{Scenario: scWholeWay, Mode: "32 clients", Throughput: 400, Count: 4000},
		{Scenario: scCreate, Mode: "closed 16", Throughput: 550, Count: 5500},
		{Scenario: scRedis, Mode: "closed 64", Throughput: 10000, Count: 100000},
		{Scenario: scHello, Mode: "closed 64", Throughput: 30000, Count: 300000},
		{Scenario: scCreate, Mode: "closed 32", Throughput: 600, Count: 6000},
		{Scenario: scCreate, Mode: "closed 64", Throughput: 610, Count: 6100},
		{Scenario: scSustain, Mode: "max sustained", Throughput: 190, Count: 1900, P99: 200 * ms,
			Cost: &report.Cost{Ops: 1900, CPUmsTotal: 3.5, PGCommits: 4.2, PGRoundTrips: 20, Noisy: true, OtherBusy: 0.2}},
		{Scenario: scCreate, Mode: "open 95/s", Throughput: 95, Count: 950, P99: 30 * ms,
			Cost: &report.Cost{Ops: 950, CPUmsTotal: 6, PGCommits: 4, PGRoundTrips: -1}},
		{Scenario: scQuote, Mode: "closed 32", Throughput: 9000, Count: 90000},
		{Scenario: scCached, Mode: "closed 32", Throughput: 3000, Count: 30000, Errors: 1000},
		{Scenario: scCached, Mode: "open 1500/s", Throughput: 1500, Count: 15000, P99: 4 * ms, Errors: 200},
		{Scenario: scProduct, Mode: "closed 32", Throughput: 5000, Count: 50000},
		{Scenario: scProduct, Mode: "open 2500/s", Throughput: 2500, Count: 30000, P99: 4 * ms},
	}}
	b := &bench{run: run, product: &queryCount{requests: 80000, xacts: 10, idleXacts: 12}}
	got := verdicts(budgets(run, b))
	for name, want := range map[string]string{
		"create order: throughput vs pgbench (same SQL)":                  report.Pass, // 60% at 32 clients
		"sustained placed -> PAID vs pgbench whole way":                   report.Miss, // 190 of 400 = 47.5%
		"create order: p99 at half the sustained rate":                    report.Miss, // 30 ms > 25 ms
		"CPU per order (every process incl. PostgreSQL, RabbitMQ, Redis)": report.Pass, // 3.5 ms at the sustained rate
		"PostgreSQL commits per blank order (server)":                     report.Miss, // 4.2
		"PostgreSQL round trips per blank order (processes)":              report.Pass, // 20
		"quote: throughput vs hello":                                      report.Pass, // 30%
		"GET product (projection): throughput vs bare Redis GET handler":  report.Pass, // 50%
		"cached order read: p99 at half max":                              report.Miss, // 4 ms, but 1.3% errors
		"cached order read: throughput vs bare Redis GET handler":         report.Miss, // 30%, and errors
		"product read: p99 at half max":                                   report.Pass,
		"product read: PostgreSQL queries on the hot path":                report.Pass,
		"order placed -> PAID: p99 at half the sustained rate":            report.NotRun,
		"design render: worker vs vips CLI (time)":                        report.NotRun,
	} {
		if got[name].Status != want {
			t.Errorf("%s: %s (%s), want %s", name, got[name].Status, got[name].Got, want)
		}
	}
	if r := run.Find(scCreate, "closed 32"); r.Limit != "pgbench" || r.Ratio != 0.6 {
		t.Errorf("create row at the shared client count not held against pgbench: %+v", r)
	}
	if r := run.Find(scSustain, ""); r.Limit != "pgbench whole way" || r.Ratio != 190.0/400 {
		t.Errorf("sustained row not held against the whole way: %+v", r)
	}
	cpu := got["CPU per order (every process incl. PostgreSQL, RabbitMQ, Redis)"].Got
	if !strings.Contains(cpu, "3.50ms at the sustained rate (6.00ms at half of it); noisy") {
		t.Errorf("CPU budget does not show both rates and the noise: %q", cpu)
	}
	if r := run.Find(scProduct, "closed"); r.Limit != "Redis GET" {
		t.Errorf("product row limit %q", r.Limit)
	}
	if !strings.Contains(got["cached order read: p99 at half max"].Got, "errors 1.32%") {
		t.Errorf("the error share is not shown: %q", got["cached order read: p99 at half max"].Got)
	}

	// A scan of the product tables is a query on the hot path, whatever
	// the transaction count says.
	b.product = &queryCount{requests: 80000, xacts: 10, idleXacts: 12, tableScans: 3}
	if v := verdicts(budgets(run, b))["product read: PostgreSQL queries on the hot path"]; v.Status != report.Miss {
		t.Errorf("3 scans: %s", v.Status)
	}
	// Placed -> PAID: unpaid orders beyond 1% are a miss even with a fast p99.
	p := &paidResult{notPaid: map[string]int64{"REJECTED": 50}, rate: 100, paid: 950}
	for range 950 {
		p.h.Record(100 * ms)
	}
	b.paidStats = p
	if v := verdicts(budgets(run, b))["order placed -> PAID: p99 at half the sustained rate"]; v.Status != report.Miss {
		t.Errorf("5%% unpaid: %s (%s)", v.Status, v.Got)
	}
	p.notPaid = map[string]int64{}
	if v := verdicts(budgets(run, b))["order placed -> PAID: p99 at half the sustained rate"]; v.Status != report.Pass {
		t.Errorf("all paid within 100ms: %s (%s)", v.Status, v.Got)
	}
	// Render: 1.6x the CLI's median is a miss.
	b.renderW = &report.Row{P50: 1600 * ms}
	b.renderCLI = &report.Row{P50: 1000 * ms}
	if v := verdicts(budgets(run, b))["design render: worker vs vips CLI (time)"]; v.Status != report.Miss {
		t.Errorf("1.6x: %s", v.Status)
	}
}
