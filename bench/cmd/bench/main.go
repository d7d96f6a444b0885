// Command bench is `make bench`: the machine's own limits and the fleet's
// scenarios in one run, held against DESIGN.md's budgets. It prints the
// table and writes bench/results/<date>.json and <date>.png.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/printfleet/printfleet/bench/internal/harness"
	"github.com/printfleet/printfleet/bench/internal/report"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "", "results directory (default <repo>/bench/results)")
	scale := flag.Float64("scale", 1, "multiply every phase's duration (e.g. 0.2 for a smoke run)")
	noFleet := flag.Bool("no-fleet", false, "only the machine's limits")
	noRender := flag.Bool("no-render", false, "skip the design render comparison")
	renders := flag.Int("render-runs", 3, "timed render jobs per side")
	serve := flag.Bool("serve", false, "only start the benchmark's fleet (ports +2000) and keep it up until Ctrl-C")
	only := flag.String("only", "", "comma-separated phases to run (hello,redis,pgbench,render,create,cached,product,quote,lists); default all")
	flag.Parse()
	var onlySet map[string]bool
	if *only != "" {
		onlySet = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			onlySet[strings.TrimSpace(p)] = true
		}
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
		return harness.Serve(ctx, harness.Options{Root: root, Log: os.Stderr})
	}
	res, err := harness.Run(ctx, harness.Options{Root: root, OutDir: *out, Scale: *scale, NoFleet: *noFleet,
		NoRender: *noRender, RenderRuns: *renders, Only: onlySet, Log: os.Stderr})
	if res == nil {
		return err
	}
	date := res.Machine.Started.Format("2006-01-02")
	fmt.Printf("\nprintfleet benchmark, %s, %d CPUs, load average %.1f -> %.1f\n\n", res.Machine.Started.Format(time.RFC3339),
		res.Machine.CPUs, res.Machine.LoadStart, res.Machine.LoadEnd)
	fmt.Print(report.Table(res.Rows))
	fmt.Println()
	fmt.Print(report.BudgetTable(res.Budgets))
	fmt.Println()
	fmt.Println("CPU during each phase (machine busy share, then CPU ms per successful operation by process):")
	for _, r := range res.Rows {
		if r.CPU != "" {
			fmt.Printf("  %s [%s]: %s\n", r.Scenario, r.Mode, r.CPU)
		}
	}
	fmt.Println()
	for _, n := range res.Notes {
		fmt.Println("note:", n)
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
	fmt.Printf("\nwrote %s and %s\n", jsonPath, pngPath)
	if err != nil {
		return err
	}
	if m := res.Misses(); m > 0 {
		fmt.Printf("%d of %d budgets not met\n", m, len(res.Budgets))
	}
	return nil
}
