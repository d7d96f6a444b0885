package harness

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/printfleet/printfleet/bench/internal/report"
)

func TestFindKnee(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	// 8 -> 16 gains 60%, 16 -> 32 gains 5% while p99 doubles: the knee is 16.
	k := findKnee([]sweepPoint{{32, 525, 80 * ms}, {8, 312, 20 * ms}, {64, 530, 160 * ms}, {16, 500, 40 * ms}}, 0.10)
	if k.Clients != 16 || !strings.Contains(k.Note, "knee at 16 clients") {
		t.Errorf("knee %+v, want 16", k)
	}
	// A small gain without a p99 rise is no knee.
	k = findKnee([]sweepPoint{{8, 300, 30 * ms}, {16, 310, 25 * ms}, {32, 400, 40 * ms}}, 0.10)
	if k.Clients != 32 || !strings.Contains(k.Note, "no knee up to 32") {
		t.Errorf("knee %+v, want none up to 32", k)
	}
	if k := findKnee([]sweepPoint{{8, 300, 30 * ms}}, 0.10); k.Clients != 8 {
		t.Errorf("one point: %+v", k)
	}
}

func samplesOf(step time.Duration, ns ...int64) []backlogSample {
	var s []backlogSample
	for i, n := range ns {
		s = append(s, backlogSample{time.Duration(i) * step, n})
	}
	return s
}

func TestJudgeStep(t *testing.T) {
	t.Parallel()
	half := 500 * time.Millisecond
	for _, c := range []struct {
		name           string
		samples        []backlogSample
		rate, achieved float64
		errRate        float64
		want           bool
		why            string
	}{
		{"flat", samplesOf(half, 0, 30, 25, 35, 28, 31, 29, 33, 30, 27, 32, 30), 100, 99, 0, true, "bounded"},
		{"growing", samplesOf(half, 0, 30, 40, 55, 70, 85, 100, 115, 130, 145, 160, 175), 100, 99, 0, false, "backlog grew"},
		// A start-up ramp in the first second is not growth.
		{"ramp then flat", samplesOf(half, 0, 60, 80, 80, 81, 79, 80, 80, 80), 100, 100, 0, true, "bounded"},
		{"creates behind", samplesOf(half, 0, 1, 1, 1), 100, 80, 0, false, "creates fell behind"},
		{"errors", samplesOf(half, 0, 1, 1, 1), 100, 100, 0.02, false, "failed"},
		// Flat but huge: what piled up early stays piled up.
		{"plateau too high", samplesOf(half, 0, 100, 300, 300, 301, 300, 300), 100, 100, 0, false, "ended at 300"},
	} {
		ok, _, why := judgeStep(c.samples, c.rate, c.achieved, c.errRate)
		if ok != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: %v (%s), want %v (%s)", c.name, ok, why, c.want, c.why)
		}
	}
	if s := lsSlope(samplesOf(time.Second, 0, 10, 20, 30)); s != 10 {
		t.Errorf("slope %v, want 10/s", s)
	}
}

func TestRateSearch(t *testing.T) {
	t.Parallel()
	// The pipeline keeps up to 130/s: 100 holds, 125 holds, 156.25 grows,
	// then the search bisects.
	capacity := 130.0
	s := &rateSearch{ceiling: 1000, maxSteps: 6}
	var tried []float64
	for rate := 100.0; ; {
		tried = append(tried, rate)
		next, done := s.next(rate, rate <= capacity)
		if done {
			break
		}
		rate = next
	}
	want := []float64{100, 125, 156.25, 140.625, 132.8125}
	if len(tried) != len(want) {
		t.Fatalf("tried %v, want %v", tried, want)
	}
	for i := range want {
		if tried[i] != want[i] {
			t.Fatalf("tried %v, want %v", tried, want)
		}
	}
	if s.lo != 125 || s.hi != 132.8125 {
		t.Errorf("lo %v hi %v", s.lo, s.hi)
	}
	// Nothing holds: it steps down; the ceiling stops a search that never fails.
	s = &rateSearch{ceiling: 1000, maxSteps: 3}
	if next, done := s.next(90, false); done || next != 60 {
		t.Errorf("after a failure at 90: %v %v, want 60", next, done)
	}
	s = &rateSearch{ceiling: 110, maxSteps: 9}
	if next, _ := s.next(100, true); next != 110 {
		t.Errorf("above the ceiling: %v", next)
	}
	if _, done := s.next(110, true); !done {
		t.Error("a search at its ceiling went on")
	}
	s = &rateSearch{ceiling: 1000, maxSteps: 2}
	s.next(10, true)
	if _, done := s.next(12.5, true); !done {
		t.Error("the step limit was not kept")
	}
}

// A phase during which others used more than 15% of the machine runs once
// more; the second attempt's rows replace the first's and say so. A quiet
// phase runs once, and a second noisy attempt is kept (marked noisy).
func TestNoisyPhaseRunsOnceMore(t *testing.T) {
	t.Parallel()
	b := &bench{o: Options{Log: io.Discard}, run: &report.Run{}}
	calls := 0
	b.phase("quiet", func() {
		calls++
		b.add(report.Row{Scenario: "quiet", Cost: &report.Cost{OtherBusy: 0.1}})
	})
	if calls != 1 || len(b.run.Rows) != 1 || b.run.Rows[0].Cost.Rerun {
		t.Fatalf("a quiet phase ran %d times: %+v", calls, b.run.Rows)
	}
	calls = 0
	b.phase("noisy", func() {
		calls++
		other := []float64{0.3, 0.2}[calls-1]
		b.add(report.Row{Scenario: "noisy", Note: fmt.Sprint(calls), Cost: &report.Cost{OtherBusy: other, Noisy: other > noisyShare}})
		b.add(report.Row{Scenario: "noisy, no cost"})
	})
	if calls != 2 || len(b.run.Rows) != 3 {
		t.Fatalf("a noisy phase ran %d times, %d rows", calls, len(b.run.Rows))
	}
	r := b.run.Rows[1]
	if r.Note != "2" || !r.Cost.Rerun || r.Cost.FirstOtherBusy != 0.3 || !r.Cost.Noisy {
		t.Errorf("the second attempt's row: %+v %+v", r, r.Cost)
	}
	if len(b.run.Notes) != 1 || !strings.Contains(b.run.Notes[0], "30%") {
		t.Errorf("notes %v", b.run.Notes)
	}
	b.o.NoRerun = true
	calls = 0
	b.phase("noisy, kept", func() {
		calls++
		b.add(report.Row{Scenario: "x", Cost: &report.Cost{OtherBusy: 0.5, Noisy: true}})
	})
	if calls != 1 {
		t.Errorf("-no-rerun ran a noisy phase %d times", calls)
	}
}
