// Package report holds a benchmark run's results, checks them against the
// budgets, and renders them: the text table, the JSON file and the chart.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Row is one measured phase.
type Row struct {
	// Scenario names what ran, Mode how ("closed 32", "open 250/s", "8 clients").
	Scenario string `json:"scenario"`
	Mode     string `json:"mode"`
	// Group ties rows of one scenario together in the chart.
	Group string `json:"group"`
	// Baseline marks the machine's own limits.
	Baseline bool `json:"baseline"`
	// Throughput is successful operations per second; Unit names them.
	Throughput float64 `json:"throughput"`
	Unit       string  `json:"unit"`
	Count      int64   `json:"count"`
	// Latency percentiles; zero when not measured.
	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// Limit names the baseline this row is held against, LimitValue its
	// throughput and Ratio Throughput/LimitValue (0 when there is none).
	Limit      string  `json:"limit,omitempty"`
	LimitValue float64 `json:"limit_value,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	Errors     int64   `json:"errors"`
	ErrorKinds string  `json:"error_kinds,omitempty"`
	Note       string  `json:"note,omitempty"`
	// CPU says how busy the machine was during the phase and the CPU time
	// per operation of each process group.
	CPU string `json:"cpu,omitempty"`
	// Cost is what the phase cost per operation, from the machine's and
	// the processes' counters (nil when not measured).
	Cost *Cost `json:"cost,omitempty"`
	// Skipped says why the phase did not run (its numbers are then empty).
	Skipped string `json:"skipped,omitempty"`
}

// Cost is a phase's cost per operation (an order for the create and
// end-to-end phases, a request for the reads) over its measuring window.
type Cost struct {
	// Ops is what the figures are divided by; Unit names it.
	Ops     int64   `json:"ops"`
	Unit    string  `json:"unit"`
	WindowS float64 `json:"window_s"`
	// CPUms is CPU milliseconds per op by process group (fleet processes by
	// name, PostgreSQL, RabbitMQ, Redis, S3, the load generator, pgbench);
	// CPUmsTotal sums the system under test: all but the load generator
	// and the bench's own tools.
	CPUms      map[string]float64 `json:"cpu_ms_per_op"`
	CPUmsTotal float64            `json:"cpu_ms_per_op_total"`
	// MachineBusy is the busy share of the whole machine; OtherBusy the
	// share used by work outside the bench. Noisy marks OtherBusy > 15%;
	// Rerun marks the second attempt of a phase whose first was noisy
	// (FirstOtherBusy is that attempt's OtherBusy).
	MachineBusy    float64 `json:"machine_busy"`
	OtherBusy      float64 `json:"other_busy"`
	Noisy          bool    `json:"noisy"`
	Rerun          bool    `json:"rerun,omitempty"`
	FirstOtherBusy float64 `json:"first_other_busy,omitempty"`
	// PGCommits is the server's xact_commit (pg_stat_database, summed over
	// the fleet's databases) per op, less the idle rate and the bench's own
	// reads; -1 when not measured.
	PGCommits float64 `json:"pg_commits_per_op"`
	// PGRoundTrips is the processes' printfleet_db_round_trips_total per
	// op, less the idle rate, in total and by process; -1 when not measured.
	PGRoundTrips   float64            `json:"pg_round_trips_per_op"`
	PGRoundTripsBy map[string]float64 `json:"pg_round_trips_per_op_by_process,omitempty"`
	// Publishes and Deliveries are the processes' broker counters per op
	// (printfleet_amqp_published_total, printfleet_amqp_consumer_handled_total),
	// less the idle rate; -1 when not measured.
	Publishes  float64 `json:"amqp_publishes_per_op"`
	Deliveries float64 `json:"amqp_deliveries_per_op"`
}

// Knee is the create sweep's verdict: the client count beyond which
// throughput gains less than MinGain while p99 grows.
type Knee struct {
	Clients int     `json:"clients"`
	MinGain float64 `json:"min_gain"`
	Note    string  `json:"note"`
}

// SustainedStep is one open-loop step of the sustained-rate search.
type SustainedStep struct {
	Rate float64 `json:"rate"`
	// Achieved is the create rate the loop kept.
	Achieved float64 `json:"achieved"`
	// BacklogStart/End are PENDING/CONFIRMED orders plus unpublished
	// outbox rows at the step's start and end; Slope their least-squares
	// growth per second.
	BacklogStart int64   `json:"backlog_start"`
	BacklogEnd   int64   `json:"backlog_end"`
	Slope        float64 `json:"backlog_slope_per_s"`
	Bounded      bool    `json:"bounded"`
	Noisy        bool    `json:"noisy"`
	Why          string  `json:"why"`
}

// Sustained is the search for the highest create rate at which the
// pipeline keeps up (the headline).
type Sustained struct {
	Rate  float64         `json:"rate"`
	Steps []SustainedStep `json:"steps"`
	Note  string          `json:"note"`
}

// Status of a budget check.
const (
	Pass   = "PASS"
	Miss   = "MISS"
	NotRun = "NOT RUN"
)

// Budget is one line of DESIGN.md's budgets, checked.
type Budget struct {
	Name   string `json:"name"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Status string `json:"status"`
}

// Check builds a budget line: PASS when ok, MISS otherwise.
func Check(name, want, got string, ok bool) Budget {
	s := Miss
	if ok {
		s = Pass
	}
	return Budget{Name: name, Want: want, Got: got, Status: s}
}

// Skip is a budget that could not be checked, with the reason as Got.
func Skip(name, want, why string) Budget {
	return Budget{Name: name, Want: want, Got: why, Status: NotRun}
}

// Machine describes where and when the run happened.
type Machine struct {
	Host      string    `json:"host"`
	CPUs      int       `json:"cpus"`
	GoVersion string    `json:"go_version"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	// LoadAvg are /proc/loadavg's 1-minute values at the start and end: the
	// machine is shared, and a busy one lowers every number.
	LoadStart float64 `json:"load_avg_1m_start"`
	LoadEnd   float64 `json:"load_avg_1m_end"`
}

// Run is everything one benchmark run produced.
type Run struct {
	Machine Machine  `json:"machine"`
	Rows    []Row    `json:"rows"`
	Budgets []Budget `json:"budgets"`
	// Notes explain how numbers were obtained and anything that went wrong.
	Notes []string `json:"notes"`
	// Inputs are texts that make the run reproducible (the pgbench script
	// and its variables).
	Inputs map[string]string `json:"inputs,omitempty"`
	// Clients is the one client count of the baselines and the fleet's
	// closed loops.
	Clients int `json:"clients"`
	// Knee is the create sweep's knee; Sustained the headline search.
	Knee      *Knee      `json:"knee,omitempty"`
	Sustained *Sustained `json:"sustained,omitempty"`
}

// Find returns the first row whose scenario and mode start with the given
// prefixes.
func (r *Run) Find(scenario, modePrefix string) *Row {
	for i := range r.Rows {
		if r.Rows[i].Scenario == scenario && strings.HasPrefix(r.Rows[i].Mode, modePrefix) {
			return &r.Rows[i]
		}
	}
	return nil
}

// Misses counts budgets that are not PASS.
func (r *Run) Misses() int {
	n := 0
	for _, b := range r.Budgets {
		if b.Status != Pass {
			n++
		}
	}
	return n
}

// WriteJSON writes the run, indented, to path (directories created).
func (r *Run) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// FormatDuration prints a latency with three significant digits in the
// unit that suits it; zero prints as "-".
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return sig3(float64(d)/float64(time.Microsecond)) + " µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + " ms"
	default:
		return sig3(d.Seconds()) + " s"
	}
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// FormatRate prints a throughput with thousands separators (or two
// decimals below 10); zero prints as "-".
func FormatRate(v float64, unit string) string {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	var s string
	if v < 10 {
		s = fmt.Sprintf("%.2f", v)
	} else {
		s = thousands(int64(math.Round(v)))
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// FormatRatio prints a ratio as a percentage ("-" when there is none).
func FormatRatio(r float64) string {
	if r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", r*100)
}

// Table renders rows as an aligned text table with the columns scenario |
// throughput | p50 | p95 | p99 | errors | limit | ratio.
func Table(rows []Row) string {
	header := []string{"scenario", "throughput", "p50", "p95", "p99", "errors", "limit", "ratio"}
	cells := [][]string{header}
	for _, r := range rows {
		name := r.Scenario
		if r.Mode != "" {
			name += " [" + r.Mode + "]"
		}
		if r.Skipped != "" {
			cells = append(cells, []string{name, "NOT RUN: " + r.Skipped, "", "", "", "", "", ""})
			continue
		}
		errs := "0"
		if r.Errors > 0 {
			errs = fmt.Sprintf("%d (%s)", r.Errors, r.ErrorKinds)
		}
		limit := "-"
		if r.Limit != "" {
			limit = r.Limit + " " + FormatRate(r.LimitValue, "")
		}
		cells = append(cells, []string{name, FormatRate(r.Throughput, r.Unit), FormatDuration(r.P50), FormatDuration(r.P95),
			FormatDuration(r.P99), errs, limit, FormatRatio(r.Ratio)})
	}
	return align(cells, map[int]bool{1: true, 2: true, 3: true, 4: true, 7: true})
}

// BudgetTable renders the budget checks: budget | want | measured | verdict.
func BudgetTable(bs []Budget) string {
	cells := [][]string{{"budget", "want", "measured", "verdict"}}
	for _, b := range bs {
		cells = append(cells, []string{b.Name, b.Want, b.Got, b.Status})
	}
	return align(cells, nil)
}

// align pads columns to equal width (right-aligned where right[i]) with a
// " | " separator and a dashed rule under the header. A row whose later
// cells are all empty spans the table instead.
func align(cells [][]string, right map[int]bool) string {
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		if spans(row) {
			continue
		}
		for i, c := range row {
			width[i] = max(width[i], runeLen(c))
		}
	}
	var b strings.Builder
	for ri, row := range cells {
		if spans(row) {
			b.WriteString(strings.TrimRight(row[0]+" | "+row[1], " "))
			b.WriteByte('\n')
			continue
		}
		for i, c := range row {
			if i > 0 {
				b.WriteString(" | ")
			}
			pad := strings.Repeat(" ", width[i]-runeLen(c))
			if right[i] {
				b.WriteString(pad + c)
			} else if i == len(row)-1 {
				b.WriteString(c)
			} else {
				b.WriteString(c + pad)
			}
		}
		b.WriteByte('\n')
		if ri == 0 {
			for i, w := range width {
				if i > 0 {
					b.WriteString("-|-")
				}
				b.WriteString(strings.Repeat("-", w))
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func spans(row []string) bool {
	if len(row) < 3 {
		return false
	}
	for _, c := range row[2:] {
		if c != "" {
			return false
		}
	}
	return true
}

func runeLen(s string) int { return len([]rune(s)) }

// CostTable renders the rows that carry a cost: scenario | per | CPU ms |
// others | PG commits | PG round trips | publishes | deliveries | noise.
func CostTable(rows []Row) string {
	cells := [][]string{{"phase", "per", "CPU ms", "others busy", "PG commits", "PG round trips", "publishes", "deliveries", "noise"}}
	for _, r := range rows {
		c := r.Cost
		if c == nil || r.Skipped != "" {
			continue
		}
		name := r.Scenario
		if r.Mode != "" {
			name += " [" + r.Mode + "]"
		}
		noise := "-"
		switch {
		case c.Rerun && c.Noisy:
			noise = fmt.Sprintf("noisy, re-run (first %.0f%%)", 100*c.FirstOtherBusy)
		case c.Rerun:
			noise = fmt.Sprintf("re-run (first %.0f%%)", 100*c.FirstOtherBusy)
		case c.Noisy:
			noise = "noisy"
		}
		cells = append(cells, []string{name, c.Unit, fmt.Sprintf("%.2f", c.CPUmsTotal), fmt.Sprintf("%.0f%%", 100*c.OtherBusy),
			perOp(c.PGCommits), perOp(c.PGRoundTrips), perOp(c.Publishes), perOp(c.Deliveries), noise})
	}
	if len(cells) == 1 {
		return ""
	}
	return align(cells, map[int]bool{2: true, 3: true, 4: true, 5: true, 6: true, 7: true})
}

// perOp prints a per-operation count ("-" when not measured).
func perOp(v float64) string {
	if v < 0 || math.IsNaN(v) {
		return "-"
	}
	if math.Abs(v) < 0.1 && v != 0 {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
