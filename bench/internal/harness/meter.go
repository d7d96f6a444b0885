package harness

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/bench/internal/client"
	"github.com/printfleet/printfleet/bench/internal/report"
)

// meter takes the snapshots a phase's cost is the difference of: the CPU
// of every watched process (cpuWatch), the server's committed
// transactions on the fleet's databases (pg_stat_database), and each
// fleet process's own counters from its admin /metrics (round trips to
// PostgreSQL, broker publishes and deliveries).
type meter struct {
	watch cpuWatch
	// pgAdmin is a connection string to a database outside the fleet's,
	// so that reading the counters adds no commit to them.
	pgAdmin string
	dbs     []string
	// admins are the fleet processes' /metrics URLs by process name.
	admins map[string]string
	// own counts the bench's own transactions on the fleet's databases
	// (backlog polls, timeline reads), subtracted from the commits.
	own *atomic.Int64
	// idle are the per-second rates of the counters with the fleet idle.
	idle *rates

	mu   sync.Mutex
	conn *pgx.Conn
}

// meterSnap is one reading of every counter.
type meterSnap struct {
	at      time.Time
	cpu     cpuSnap
	commits int64 // -1: not read
	own     int64
	procs   map[string]procCounters // nil: not scraped
}

// procCounters are one process's counters.
type procCounters struct{ roundTrips, published, delivered float64 }

// rates are counters per second with the fleet idle.
type rates struct {
	commits, roundTrips, published, delivered float64
	roundTripsBy                              map[string]float64
}

func (m *meter) snap(ctx context.Context) meterSnap {
	s := meterSnap{at: time.Now(), cpu: m.watch.snap(), commits: -1}
	if m.own != nil {
		s.own = m.own.Load()
	}
	if m.pgAdmin != "" {
		if n, err := m.commits(ctx); err == nil {
			s.commits = n
		}
	}
	if len(m.admins) > 0 {
		s.procs = map[string]procCounters{}
		for name, url := range m.admins {
			pc, err := scrapeCounters(ctx, url)
			if err != nil {
				s.procs = nil // a process that did not answer: no figure rather than a wrong one
				break
			}
			s.procs[name] = pc
		}
	}
	return s
}

// during runs fn between two snapshots, tracking processes that exit
// meanwhile (see cpuWatch.track).
func (m *meter) during(ctx context.Context, fn func()) (a, b meterSnap) {
	a = m.snap(ctx)
	stop := m.watch.track(250 * time.Millisecond)
	fn()
	cpu := stop()
	b = m.snap(ctx)
	b.cpu = cpu
	return a, b
}

// commits sums xact_commit over the fleet's databases.
func (m *meter) commits(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil || m.conn.IsClosed() {
		c, err := pgx.Connect(ctx, m.pgAdmin)
		if err != nil {
			return 0, err
		}
		m.conn = c
	}
	if _, err := m.conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return 0, err
	}
	var n int64
	err := m.conn.QueryRow(ctx, `SELECT coalesce(sum(xact_commit), 0)::bigint FROM pg_stat_database WHERE datname = ANY($1)`, m.dbs).Scan(&n)
	return n, err
}

func (m *meter) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn != nil {
		_ = m.conn.Close(context.Background())
		m.conn = nil
	}
}

// measureIdle reads the counters' rates over an idle window.
func (m *meter) measureIdle(ctx context.Context, d time.Duration) *rates {
	time.Sleep(statsFlush)
	a := m.snap(ctx)
	time.Sleep(d)
	time.Sleep(statsFlush)
	b := m.snap(ctx)
	c := costOf(a, b, 1, "second", nil)
	secs := b.at.Sub(a.at).Seconds()
	r := &rates{commits: c.PGCommits / secs, roundTrips: c.PGRoundTrips / secs, published: c.Publishes / secs,
		delivered: c.Deliveries / secs, roundTripsBy: map[string]float64{}}
	for k, v := range c.PGRoundTripsBy {
		r.roundTripsBy[k] = v / secs
	}
	return r
}

// costOf is the cost per op between two snapshots: CPU from the process
// samples, commits from the server less the bench's own and the idle rate,
// round trips, publishes and deliveries from the processes' counters less
// the idle rate. A counter not read at both ends is -1.
func costOf(a, b meterSnap, ops int64, unit string, idle *rates) *report.Cost {
	c := &report.Cost{Ops: ops, Unit: unit, WindowS: b.at.Sub(a.at).Seconds(), CPUms: map[string]float64{},
		PGCommits: -1, PGRoundTrips: -1, Publishes: -1, Deliveries: -1}
	if ops <= 0 {
		return c
	}
	u := a.cpu.until(b.cpu, ops)
	c.CPUms, c.CPUmsTotal, c.MachineBusy, c.OtherBusy, c.Noisy = u.PerOp, u.Total(), u.Busy, u.Other, u.Noisy()
	var idleC, idleRT, idlePub, idleDel float64
	if idle != nil {
		idleC, idleRT, idlePub, idleDel = idle.commits, idle.roundTrips, idle.published, idle.delivered
	}
	per := func(delta, idleRate float64) float64 {
		return max(0, delta-idleRate*c.WindowS) / float64(ops)
	}
	if a.commits >= 0 && b.commits >= 0 {
		c.PGCommits = per(float64(b.commits-a.commits-(b.own-a.own)), idleC)
	}
	if a.procs != nil && b.procs != nil {
		var rt, pub, del float64
		c.PGRoundTripsBy = map[string]float64{}
		for name, pb := range b.procs {
			pa := a.procs[name]
			d := pb.roundTrips - pa.roundTrips
			rt += d
			pub += pb.published - pa.published
			del += pb.delivered - pa.delivered
			idleBy := 0.0
			if idle != nil {
				idleBy = idle.roundTripsBy[name]
			}
			if v := per(d, idleBy); v > 0 {
				c.PGRoundTripsBy[name] = v
			}
		}
		c.PGRoundTrips, c.Publishes, c.Deliveries = per(rt, idleRT), per(pub, idlePub), per(del, idleDel)
	}
	return c
}

// scrapeCounters reads a process's round trips, publishes and deliveries
// from its Prometheus text exposition.
func scrapeCounters(ctx context.Context, url string) (procCounters, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c := client.New(1)
	defer c.CloseIdleConnections()
	body, err := client.Do(ctx, c, http.MethodGet, url, nil, nil)
	if err != nil {
		return procCounters{}, err
	}
	return parseCounters(string(body)), nil
}

// parseCounters sums each counter's samples over all its labels.
func parseCounters(text string) procCounters {
	var pc procCounters
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			name, rest, ok = strings.Cut(line, " ")
			if !ok {
				continue
			}
			rest = "} " + rest
		}
		_, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "printfleet_db_round_trips_total":
			pc.roundTrips += v
		case "printfleet_amqp_published_total":
			pc.published += v
		case "printfleet_amqp_consumer_handled_total":
			pc.delivered += v
		}
	}
	return pc
}

// costString is the CPU line of a row: machine and others' share, then
// CPU ms per op by group.
func costString(c *report.Cost) string {
	if c == nil {
		return ""
	}
	return cpuUse{Busy: c.MachineBusy, Other: c.OtherBusy, PerOp: c.CPUms}.String() +
		fmt.Sprintf(" (per %s)", c.Unit)
}
