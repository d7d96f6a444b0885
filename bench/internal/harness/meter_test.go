package harness

import (
	"math"
	"testing"
	"time"
)

func TestParseCounters(t *testing.T) {
	t.Parallel()
	text := `# HELP printfleet_db_round_trips_total Round trips.
# TYPE printfleet_db_round_trips_total counter
printfleet_db_round_trips_total{service="orders"} 1234
printfleet_amqp_published_total{outcome="ack"} 40
printfleet_amqp_published_total{outcome="returned"} 2
printfleet_amqp_consumer_handled_total{queue="orders.worker",outcome="ack"} 7
printfleet_amqp_consumer_handled_total{queue="orders.worker",outcome="retry"} 1
printfleet_amqp_consumer_handled_total_other 99
printfleet_amqp_consumer_redeliveries_total{queue="orders.worker"} 5
`
	pc := parseCounters(text)
	if pc.roundTrips != 1234 || pc.published != 42 || pc.delivered != 8 {
		t.Errorf("parsed %+v, want 1234 round trips, 42 publishes, 8 deliveries", pc)
	}
	if pc := parseCounters("printfleet_db_round_trips_total 3e+06\n"); pc.roundTrips != 3e6 {
		t.Errorf("an unlabelled sample: %+v", pc)
	}
}

func TestCostOf(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	a := meterSnap{at: t0, commits: 1000, own: 10, cpu: cpuSnap{busy: 0, total: 2000, procs: map[int]procSample{
		1: {"orders", 5, 100}, 2: {"PostgreSQL", 5, 100}, 3: {groupLoad, 5, 0}}},
		procs: map[string]procCounters{"orders": {roundTrips: 100, published: 10}, "orders-worker": {roundTrips: 50, delivered: 5}}}
	b := meterSnap{at: t0.Add(10 * time.Second), commits: 1000 + 450 + 30, own: 40, cpu: cpuSnap{busy: 1500, total: 4000, procs: map[int]procSample{
		1: {"orders", 5, 300}, 2: {"PostgreSQL", 5, 500}, 3: {groupLoad, 5, 100}}},
		procs: map[string]procCounters{"orders": {roundTrips: 1100, published: 110}, "orders-worker": {roundTrips: 1050, delivered: 205}}}
	idle := &rates{commits: 5, roundTrips: 10, roundTripsBy: map[string]float64{"orders": 10}}
	c := costOf(a, b, 100, "order", idle)
	// Commits: 480 less 30 of the bench's own less 5/s idle over 10 s = 400.
	// Round trips: 2000 less 10/s idle = 1900; publishes 100, deliveries 200.
	// CPU: orders 200 ticks = 2 s, PostgreSQL 4 s over 100 orders; the load
	// generator's 1 s is not the system's.
	for name, got := range map[string][2]float64{
		"commits":     {c.PGCommits, 4},
		"round trips": {c.PGRoundTrips, 19},
		"orders rt":   {c.PGRoundTripsBy["orders"], 9},
		"worker rt":   {c.PGRoundTripsBy["orders-worker"], 10},
		"publishes":   {c.Publishes, 1},
		"deliveries":  {c.Deliveries, 2},
		"cpu":         {c.CPUmsTotal, 60},
		"load gen":    {c.CPUms[groupLoad], 10},
		// 1500 busy ticks, 700 of them watched: others used 800 of 2000.
		"others": {c.OtherBusy, 0.4},
	} {
		if math.Abs(got[0]-got[1]) > 1e-9 {
			t.Errorf("%s: %v, want %v", name, got[0], got[1])
		}
	}
	if !c.Noisy {
		t.Error("40% used by others is noisy")
	}
	// Counters not read at one end are -1, not a wrong number.
	a.commits, a.procs = -1, nil
	if c := costOf(a, b, 100, "order", idle); c.PGCommits != -1 || c.PGRoundTrips != -1 || c.Publishes != -1 {
		t.Errorf("unread counters: %+v", c)
	}
}
