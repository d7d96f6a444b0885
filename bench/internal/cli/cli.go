// Package cli is the bench command's body: it reads the flags, runs the
// harness, prints the results table and writes the JSON and the chart.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/printfleet/printfleet/bench/internal/harness"
	"github.com/printfleet/printfleet/bench/internal/report"
)

// Run parses args (without the program name), runs the benchmark until done
// or interrupted (SIGINT, SIGTERM), prints the tables to stdout and logs
// progress to stderr. A flag error prints the usage and exits, as the flag
// package does.
func Run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "results directory (default <repo>/bench/results)")
	scale := fs.Float64("scale", 1, "multiply every phase's duration (e.g. 0.2 for a smoke run)")
	noFleet := fs.Bool("no-fleet", false, "only the machine's limits")
	noRender := fs.Bool("no-render", false, "skip the design render comparison")
	renders := fs.Int("render-runs", 3, "timed render jobs per side")
	serve := fs.Bool("serve", false, "only start the benchmark's fleet (ports +2000) and keep it up until Ctrl-C")
	only := fs.String("only", "", "comma-separated phases to run (hello,redis,pgbench,wholeway,render,create,cached,product,quote,lists); default all")
	clients := fs.Int("clients", harness.DefaultClients, "the one client count of the baselines (pgbench, bare handlers) and the fleet's closed loops")
	sweep := fs.String("sweep", "8,16,32,64", "client counts of the create sweep")
	noRerun := fs.Bool("no-rerun", false, "keep a noisy phase's first attempt instead of running it once more")
	_ = fs.Parse(args) // ExitOnError: Parse exits on a bad flag
	var onlySet map[string]bool
	if *only != "" {
		onlySet = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			onlySet[strings.TrimSpace(p)] = true
		}
	}

	var sweepN []int
	for _, p := range strings.Split(*sweep, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return fmt.Errorf("-sweep: %q is not a client count", p)
		}
		sweepN = append(sweepN, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := harness.FindRoot(wd)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(root, "bench", "results")
	}
	if *serve {
		return harness.Serve(ctx, harness.Options{Root: root, Log: stderr})
	}
	res, err := harness.Run(ctx, harness.Options{Root: root, OutDir: *out, Scale: *scale, NoFleet: *noFleet,
		NoRender: *noRender, RenderRuns: *renders, Only: onlySet, Clients: *clients, Sweep: sweepN, NoRerun: *noRerun, Log: stderr})
	if res == nil {
		return err
	}
	date := res.Machine.Started.Format("2006-01-02")
	fmt.Fprintf(stdout, "\nprintfleet benchmark, %s, %d CPUs, load average %.1f -> %.1f, %d clients for baselines and closed loops\n\n",
		res.Machine.Started.Format(time.RFC3339), res.Machine.CPUs, res.Machine.LoadStart, res.Machine.LoadEnd, res.Clients)
	fmt.Fprint(stdout, report.Table(res.Rows))
	fmt.Fprintln(stdout)
	if res.Knee != nil {
		fmt.Fprintln(stdout, "create sweep:", res.Knee.Note)
	}
	if s := res.Sustained; s != nil {
		fmt.Fprintf(stdout, "sustained end-to-end rate: %.0f orders/s (%s)\n", s.Rate, s.Note)
		for _, st := range s.Steps {
			fmt.Fprintf(stdout, "  step %.0f/s: kept %.0f/s, backlog %d -> %d, %s\n", st.Rate, st.Achieved, st.BacklogStart, st.BacklogEnd, st.Why)
		}
	}
	fmt.Fprintln(stdout)
	if t := report.CostTable(res.Rows); t != "" {
		fmt.Fprintln(stdout, "Cost per operation (CPU: every process but the load generator, pgbench and the sandbox; PG commits: the server's pg_stat_database;")
		fmt.Fprintln(stdout, "round trips, publishes, deliveries: the fleet processes' own counters; idle rates subtracted):")
		fmt.Fprint(stdout, t)
		fmt.Fprintln(stdout)
	}
	fmt.Fprint(stdout, report.BudgetTable(res.Budgets))
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "CPU during each phase (machine busy share, others' share, then CPU ms per operation by process):")
	for _, r := range res.Rows {
		if r.CPU != "" {
			fmt.Fprintf(stdout, "  %s [%s]: %s\n", r.Scenario, r.Mode, r.CPU)
		}
	}
	fmt.Fprintln(stdout)
	for _, n := range res.Notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	jsonPath := filepath.Join(*out, date+".json")
	pngPath := filepath.Join(*out, date+".png")
	if werr := res.WriteJSON(jsonPath); werr != nil {
		return werr
	}
	guides := []report.Guide{{Label: "p99 budget: reads 5 ms", At: 5 * time.Millisecond},
		{Label: "p99 budget: create 25 ms", At: 25 * time.Millisecond}, {Label: "p99 budget: placed->PAID 250 ms", At: 250 * time.Millisecond}}
	if werr := report.WriteChart(pngPath, "printfleet bench "+date+": latency vs throughput ("+res.Machine.Host+", "+fmt.Sprint(res.Machine.CPUs)+" CPUs)", res.Rows, guides...); werr != nil {
		return werr
	}
	fmt.Fprintf(stdout, "\nwrote %s and %s\n", jsonPath, pngPath)
	if err != nil {
		return err
	}
	if m := res.Misses(); m > 0 {
		fmt.Fprintf(stdout, "%d of %d budgets not met\n", m, len(res.Budgets))
	}
	return nil
}
