// Package harness is `make bench`: it measures the machine's own limits
// (pgbench on the order-create SQL, a bare net/http hello, a bare handler
// doing one Redis GET, the vips CLI on the design render), starts the
// fleet on its own layout, runs every scenario over REST against it, and
// holds the results against DESIGN.md's budgets in one table, a JSON file
// and a chart.
package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/printfleet/printfleet/bench/internal/fleetrun"
	"github.com/printfleet/printfleet/bench/internal/load"
	"github.com/printfleet/printfleet/bench/internal/report"
)

// Options shape a run.
type Options struct {
	// Root is the repository root (holds go.work).
	Root string
	// OutDir receives <date>.json and <date>.png.
	OutDir string
	// Scale multiplies every phase's duration (1 for the real run).
	Scale float64
	// NoFleet skips building, starting and benchmarking the fleet.
	NoFleet bool
	// NoRender skips the design render comparison.
	NoRender bool
	// RenderRuns is the number of timed jobs per side.
	RenderRuns int
	// Only, when not empty, names the phases to run (hello, redis,
	// pgbench, wholeway, render, create, cached, product, quote, lists);
	// the others are left out of the table. For working on one scenario.
	Only map[string]bool
	// Clients is the one client count of the baselines (pgbench, the bare
	// handlers) and the fleet's closed loops (0: DefaultClients).
	Clients int
	// Sweep are the client counts of the create sweep (nil: DefaultSweep).
	Sweep []int
	// NoRerun keeps a noisy phase's first attempt.
	NoRerun bool
	// Log receives progress lines.
	Log io.Writer
}

// DefaultClients and DefaultSweep are the client counts when not set.
const DefaultClients = 32

// DefaultSweep are the create sweep's client counts.
var DefaultSweep = []int{8, 16, 32, 64}

func (o Options) d(base time.Duration) time.Duration {
	return time.Duration(float64(base) * o.Scale)
}

func (o Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Run performs the whole benchmark and returns its results; the caller
// prints and writes them.
func Run(ctx context.Context, o Options) (*report.Run, error) {
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.RenderRuns <= 0 {
		o.RenderRuns = 3
	}
	if o.Clients <= 0 {
		o.Clients = DefaultClients
	}
	if len(o.Sweep) == 0 {
		o.Sweep = DefaultSweep
	}
	if !slices.Contains(o.Sweep, o.Clients) {
		o.Sweep = append(slices.Clone(o.Sweep), o.Clients)
		slices.Sort(o.Sweep)
	}
	host, _ := os.Hostname()
	run := &report.Run{Machine: report.Machine{Host: host, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Started: time.Now().UTC(), LoadStart: loadAvg()}, Clients: o.Clients}
	work := filepath.Join(o.Root, ".run", "bench")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	b := &bench{o: o, run: run, work: work}

	// Compile first: a build running beside the baselines would lower them.
	var fleetErr error
	if !o.NoFleet {
		fleetErr = b.buildFleet(ctx)
	}
	b.meter = &meter{}
	b.baselines(ctx)
	if !o.NoRender && b.want("render") {
		b.phase("render", func() { b.render(ctx) })
	}
	switch {
	case o.NoFleet:
		b.skipFleet("not requested (-no-fleet)")
	case fleetErr != nil:
		b.skipFleet(fleetErr.Error())
	default:
		if err := b.fleetScenarios(ctx); err != nil {
			b.note("fleet: %v", err)
		}
	}
	run.Machine.Finished = time.Now().UTC()
	run.Machine.LoadEnd = loadAvg()
	run.Budgets = budgets(run, b)
	return run, ctx.Err()
}

// bench carries a run's state between phases.
type bench struct {
	o    Options
	run  *report.Run
	work string

	binDir    string
	missing   []string
	paidStats *paidResult
	product   *queryCount
	cachedPG  *queryCount
	renderCLI *report.Row
	renderW   *report.Row
	// meter reads the counters phases are costed by; lastCost is the cost
	// of the loop that ran last.
	meter    *meter
	lastCost *report.Cost
	// e2eEstimate is the orders per second the pipeline finished during
	// the create sweep: where the sustained-rate search starts.
	e2eEstimate float64
	createMax   float64
}

// phase runs fn, which adds rows, and runs it once more when work outside
// the bench used more than noisyShare of the machine during it; the rows
// of the second attempt replace the first's and say so.
func (b *bench) phase(name string, fn func()) {
	n := len(b.run.Rows)
	fn()
	other := 0.0
	for _, r := range b.run.Rows[n:] {
		if r.Cost != nil && r.Cost.Noisy {
			other = max(other, r.Cost.OtherBusy)
		}
	}
	if other == 0 || b.o.NoRerun {
		return
	}
	b.note("%s: work outside the bench used %.0f%% of the machine (> %.0f%%): running it once more", name, 100*other, 100*noisyShare)
	b.run.Rows = b.run.Rows[:n]
	fn()
	for i := n; i < len(b.run.Rows); i++ {
		if c := b.run.Rows[i].Cost; c != nil {
			c.Rerun, c.FirstOtherBusy = true, other
		}
	}
}

func (b *bench) want(phase string) bool { return len(b.o.Only) == 0 || b.o.Only[phase] }

func (b *bench) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	b.run.Notes = append(b.run.Notes, s)
	b.o.logf("note: %s", s)
}

func (b *bench) add(r report.Row) *report.Row {
	if r.CPU == "" && r.Cost != nil {
		r.CPU = costString(r.Cost)
	}
	b.run.Rows = append(b.run.Rows, r)
	row := &b.run.Rows[len(b.run.Rows)-1]
	if r.Skipped != "" {
		b.o.logf("%-28s NOT RUN: %s", r.Scenario, r.Skipped)
		return row
	}
	b.o.logf("%-28s %-14s %s  p50 %s p99 %s  errors %d %s", r.Scenario, r.Mode, report.FormatRate(r.Throughput, r.Unit),
		report.FormatDuration(r.P50), report.FormatDuration(r.P99), r.Errors, r.ErrorKinds)
	if r.CPU != "" {
		b.o.logf("%-28s %s", "", r.CPU)
	}
	return row
}

// fromResult turns a load result into a row.
func fromResult(scenario, group string, res *load.Result) report.Row {
	mode := fmt.Sprintf("closed %d", res.Concurrency)
	if res.Mode == "open" {
		mode = fmt.Sprintf("open %s/s", strconv.FormatFloat(res.TargetRate, 'f', 0, 64))
	}
	return report.Row{Scenario: scenario, Mode: mode, Group: group, Throughput: res.Throughput(), Unit: "req/s",
		Count: res.OK, P50: res.Latency.Quantile(0.50), P95: res.Latency.Quantile(0.95), P99: res.Latency.Quantile(0.99),
		Max: res.Latency.Max(), Errors: res.Failed(), ErrorKinds: res.ErrorSummary()}
}

// loadAvg is the 1-minute load average (0 when unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// Serve builds and starts the benchmark's fleet and keeps it running until
// ctx ends: for profiling or poking at the layout the benchmark uses.
func Serve(ctx context.Context, o Options) error {
	work := filepath.Join(o.Root, ".run", "bench")
	b := &bench{o: o, run: &report.Run{}, work: work}
	if err := b.buildFleet(ctx); err != nil {
		return err
	}
	l := fleetrun.Layout()
	f, err := fleetrun.Start(ctx, l, b.binDir, filepath.Join(work, "logs"))
	if err != nil {
		return err
	}
	o.logf("fleet up: gateway %s, logs %s; Ctrl-C stops it", l.GatewayURL(), filepath.Join(work, "logs"))
	<-ctx.Done()
	return f.Stop(20 * time.Second)
}

// FindRoot walks up from dir to the directory holding go.work.
func FindRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s: run from the repository", dir)
		}
	}
}
