package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "-"},
		{850, "850 ns"},
		{85 * time.Microsecond, "85.0 µs"},
		{1234 * time.Microsecond, "1.23 ms"},
		{24900 * time.Microsecond, "24.9 ms"},
		{250 * time.Millisecond, "250 ms"},
		{1500 * time.Millisecond, "1.50 s"},
	} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestFormatRateAndRatio(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{0, "req/s", "-"},
		{0.25, "jobs/s", "0.25 jobs/s"},
		{999.6, "", "1,000"},
		{38123.4, "req/s", "38,123 req/s"},
		{1234567, "tx/s", "1,234,567 tx/s"},
	} {
		if got := FormatRate(tc.v, tc.unit); got != tc.want {
			t.Errorf("FormatRate(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := FormatRatio(0.514); got != "51%" {
		t.Errorf("ratio %q", got)
	}
	if got := FormatRatio(0); got != "-" {
		t.Errorf("empty ratio %q", got)
	}
}

func TestTable(t *testing.T) {
	t.Parallel()
	rows := []Row{
		{Scenario: "pgbench order tx", Mode: "8 clients", Throughput: 1800, Unit: "tx/s", P50: 4 * time.Millisecond, P95: 7 * time.Millisecond, P99: 9500 * time.Microsecond},
		{Scenario: "create order", Mode: "closed 32", Throughput: 950.2, Unit: "req/s", P50: 30 * time.Millisecond, P95: 45 * time.Millisecond, P99: 61 * time.Millisecond,
			Limit: "pgbench", LimitValue: 1800, Ratio: 950.2 / 1800, Errors: 3, ErrorKinds: "3 http 409"},
		{Scenario: "design render", Skipped: "vips not installed"},
	}
	want := strings.Join([]string{
		"scenario                     | throughput |     p50 |     p95 |     p99 | errors         | limit         | ratio",
		"-----------------------------|------------|---------|---------|---------|----------------|---------------|------",
		"pgbench order tx [8 clients] | 1,800 tx/s | 4.00 ms | 7.00 ms | 9.50 ms | 0              | -             |     -",
		"create order [closed 32]     |  950 req/s | 30.0 ms | 45.0 ms | 61.0 ms | 3 (3 http 409) | pgbench 1,800 |   53%",
		"design render | NOT RUN: vips not installed",
		"",
	}, "\n")
	if got := Table(rows); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestBudgetTableAndMisses(t *testing.T) {
	t.Parallel()
	run := Run{Budgets: []Budget{
		Check("create p99 at half max", "<= 25 ms", "31.2 ms", false),
		Check("product read p99", "<= 5 ms", "2.10 ms", true),
		Skip("design render", "<= 1.5x vips CLI", "vips missing"),
	}}
	if run.Misses() != 2 {
		t.Errorf("misses %d, want 2 (a NOT RUN is not a pass)", run.Misses())
	}
	got := BudgetTable(run.Budgets)
	for _, want := range []string{"create p99 at half max | <= 25 ms", "| MISS", "| PASS", "| NOT RUN", "vips missing"} {
		if !strings.Contains(got, want) {
			t.Errorf("budget table lacks %q:\n%s", want, got)
		}
	}
}

func TestFind(t *testing.T) {
	t.Parallel()
	run := Run{Rows: []Row{{Scenario: "a", Mode: "closed 8"}, {Scenario: "a", Mode: "open 10/s"}}}
	if r := run.Find("a", "open"); r == nil || r.Mode != "open 10/s" {
		t.Errorf("Find open: %+v", r)
	}
	if r := run.Find("b", ""); r != nil {
		t.Errorf("Find of a missing scenario: %+v", r)
	}
}

func TestWriteJSONAndChart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rows := []Row{
		{Scenario: "hello", Group: "hello", Mode: "closed", Throughput: 20000, P50: 300 * time.Microsecond, P99: 2 * time.Millisecond},
		{Scenario: "create", Group: "create", Mode: "closed", Throughput: 900, P50: 20 * time.Millisecond, P99: 60 * time.Millisecond},
		{Scenario: "create", Group: "create", Mode: "open", Throughput: 450, P50: 5 * time.Millisecond, P99: 20 * time.Millisecond},
		{Scenario: "skipped", Skipped: "no fleet"},
	}
	run := Run{Rows: rows, Notes: []string{"n"}}
	jp := filepath.Join(dir, "sub", "r.json")
	if err := run.WriteJSON(jp); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(jp)
	if err != nil || !bytes.Contains(b, []byte(`"p99_ns": 60000000`)) {
		t.Errorf("json %s (err %v) lacks the p99 in ns", b, err)
	}
	var buf bytes.Buffer
	rows = append(rows, Row{Scenario: "render", Unit: "jobs/s", Throughput: 0.2, P50: 5 * time.Second, P99: 6 * time.Second})
	if err := Chart(&buf, "test", rows, Guide{"p99 budget 25 ms", 25 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, chartW, chartH) {
		t.Fatalf("bounds %v", img.Bounds())
	}
	// The first two groups' colours appear (their markers were drawn), and
	// the p99 marker of "create" at 450/s sits above its p50 marker.
	count := map[color.RGBA]int{}
	for y := 0; y < chartH; y++ {
		for x := 0; x < chartW; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			count[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}]++
		}
	}
	for i := range 2 {
		if count[palette[i]] < 50 {
			t.Errorf("colour %d drawn on %d pixels only", i, count[palette[i]])
		}
	}
	// Axes: throughput 100..100000, latency 0.1..100 ms (the render row,
	// in jobs/s, is left out: it would stretch both axes).
	ax := logAxis{100, 100000, plotL, plotR}
	ay := logAxis{0.1, 100, plotB, plotT}
	x, y99 := ax.px(450), ay.px(20)
	if got := img.At(x, y99); got != color.Color(palette[1]) {
		r, g, b, _ := got.RGBA()
		t.Errorf("no p99 marker at (%d,%d): %d %d %d", x, y99, r>>8, g>>8, b>>8)
	}
	if gy := ay.px(25); img.At(plotL+2, gy) == color.Color(color.RGBA{0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("no budget guide at y %d", gy)
	}
	if ay.px(5) <= y99 {
		t.Errorf("a lower latency must plot lower: p50 y %d, p99 y %d", ay.px(5), y99)
	}
	if err := WriteChart(filepath.Join(dir, "c.png"), "t", rows); err != nil {
		t.Fatal(err)
	}
}

func TestDecadeRange(t *testing.T) {
	t.Parallel()
	lo, hi := decadeRange([]float64{0, 450, 20000}, 1, 10)
	if lo != 100 || hi != 100000 {
		t.Errorf("range %v..%v, want 100..100000", lo, hi)
	}
	lo, hi = decadeRange(nil, 1, 10)
	if lo != 1 || hi != 10 {
		t.Errorf("default range %v..%v", lo, hi)
	}
	lo, hi = decadeRange([]float64{100}, 1, 10)
	if lo != 100 || hi != 1000 {
		t.Errorf("single power of ten %v..%v", lo, hi)
	}
}

func TestCostTable(t *testing.T) {
	t.Parallel()
	rows := []Row{
		{Scenario: "create", Mode: "closed 32", Cost: &Cost{Unit: "order", CPUmsTotal: 3.456, OtherBusy: 0.2, Noisy: true, Rerun: true, FirstOtherBusy: 0.3,
			PGCommits: 4, PGRoundTrips: 22.5, Publishes: 0.05, Deliveries: -1}},
		{Scenario: "hello", Mode: "closed 32"},
	}
	s := CostTable(rows)
	for _, want := range []string{"create [closed 32]", "order", "3.46", "20%", "4.00", "22.50", "0.050", " - ", "noisy, re-run (first 30%)"} {
		if !strings.Contains(s, want) {
			t.Errorf("cost table lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "hello") {
		t.Errorf("a row without a cost is listed:\n%s", s)
	}
	if CostTable(rows[1:]) != "" {
		t.Error("a table without costs is not empty")
	}
}
