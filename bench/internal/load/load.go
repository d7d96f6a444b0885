// Package load is the benchmark's load generator: a closed loop (N workers,
// each sending its next request when the last one answered — the maximum
// throughput) and an open loop (requests scheduled at a fixed rate whatever
// the answers do). Open-loop latency is measured from each request's
// intended send time, not from when a free worker got around to sending
// it, so a stall is charged to every request it delayed (no coordinated
// omission). Both loops are bounded in time and in count.
package load

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/printfleet/printfleet/bench/internal/hist"
)

// Op is one request. worker is the index of the goroutine sending it and
// seq a number unique within the run (for idempotency keys and the like).
// A non-nil error is counted under its Class.
type Op func(ctx context.Context, worker int, seq int64) error

// Result is what a loop measured.
type Result struct {
	Mode        string        // "closed" or "open"
	Concurrency int           // workers (closed) or maximum in flight (open)
	TargetRate  float64       // open loop only, requests per second
	Elapsed     time.Duration // first send to last answer
	// Latency holds every answered request, failures included: a fast
	// error is still an answer a client waited for.
	Latency hist.Histogram
	OK      int64
	// Errors counts failures by class; "not sent" are scheduled requests
	// the loop gave up on at its hard deadline (their waiting time so far
	// is in Latency as a lower bound).
	Errors map[string]int64
}

// Throughput is successful requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Failed is the number of failed requests of every class.
func (r *Result) Failed() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// ErrorSummary lists the error classes, most frequent first ("" when none).
func (r *Result) ErrorSummary() string {
	if len(r.Errors) == 0 {
		return ""
	}
	keys := slices.Collect(maps.Keys(r.Errors))
	slices.SortFunc(keys, func(a, b string) int {
		if d := r.Errors[b] - r.Errors[a]; d != 0 {
			return int(d)
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", r.Errors[k], k)
	}
	return strings.Join(parts, ", ")
}

// Classed is an error with a short class for the error tally (e.g. "http
// 503"); other errors are tallied by Classify.
type Classed interface{ Class() string }

// Classify names an error's class.
func Classify(err error) string {
	var c Classed
	switch {
	case errors.As(err, &c):
		return c.Class()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// tally is one worker's private counters, merged at the end.
type tally struct {
	h      hist.Histogram
	ok     int64
	errors map[string]int64
}

func (t *tally) add(d time.Duration, err error) {
	t.h.Record(d)
	if err == nil {
		t.ok++
		return
	}
	if t.errors == nil {
		t.errors = map[string]int64{}
	}
	t.errors[Classify(err)]++
}

func merge(r *Result, ts []*tally) {
	r.Errors = map[string]int64{}
	for _, t := range ts {
		r.Latency.Merge(&t.h)
		r.OK += t.ok
		for k, v := range t.errors {
			r.Errors[k] += v
		}
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
}

// ClosedConfig bounds a closed loop.
type ClosedConfig struct {
	Workers  int
	Duration time.Duration
	// MaxRequests stops the loop early once this many were started (0: no cap).
	MaxRequests int64
	// Timeout bounds each request (0: 10 s).
	Timeout time.Duration
}

// Closed runs op from cfg.Workers goroutines back to back for cfg.Duration.
// Latency is each request's own time: in a closed loop nothing waits
// behind a slow request except its own worker.
func Closed(ctx context.Context, cfg ClosedConfig, op Op) *Result {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	var seq atomic.Int64
	ts := make([]*tally, cfg.Workers)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		ts[w] = &tally{}
		wg.Go(func() {
			t := ts[w]
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := seq.Add(1)
				if cfg.MaxRequests > 0 && n > cfg.MaxRequests {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
				t0 := time.Now()
				err := op(rctx, w, n)
				t.add(time.Since(t0), err)
				cancel()
			}
		})
	}
	wg.Wait()
	r := &Result{Mode: "closed", Concurrency: cfg.Workers, Elapsed: time.Since(start)}
	merge(r, ts)
	return r
}

// Schedule is the open loop's timetable: request i (from 0) is due at
// Start + i/Rate, computed from i each time so that rounding never
// accumulates into drift.
type Schedule struct {
	Start time.Time
	Rate  float64 // requests per second, > 0
	Total int64   // number of requests
}

// NewSchedule plans rate requests per second for d.
func NewSchedule(start time.Time, rate float64, d time.Duration) Schedule {
	total := int64(rate * d.Seconds())
	if rate <= 0 || total < 0 {
		total = 0
	}
	return Schedule{Start: start, Rate: rate, Total: total}
}

// Offset is when request i is due, relative to Start.
func (s Schedule) Offset(i int64) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / s.Rate)
}

// Intended is when request i is due.
func (s Schedule) Intended(i int64) time.Time { return s.Start.Add(s.Offset(i)) }

// Due is how many requests are due by now (requests 0..Due-1), at most Total.
func (s Schedule) Due(now time.Time) int64 {
	el := now.Sub(s.Start)
	if el < 0 || s.Total == 0 {
		return 0
	}
	n := int64(el.Seconds()*s.Rate) + 1
	// Guard the float rounding at exact boundaries: request n must really
	// be due, request n-1 too.
	for n > 0 && s.Offset(n-1) > el {
		n--
	}
	for n < s.Total && s.Offset(n) <= el {
		n++
	}
	return min(n, s.Total)
}

// OpenConfig bounds an open loop.
type OpenConfig struct {
	Rate     float64       // requests per second
	Duration time.Duration // sending window
	// MaxInFlight is the number of senders; requests beyond it wait in the
	// queue, and that wait counts in their latency.
	MaxInFlight int
	// Drain is how long after the window the loop waits for answers before
	// it stops (0: 10 s); requests still queued then are "not sent".
	Drain time.Duration
	// Timeout bounds each request (0: 10 s).
	Timeout time.Duration
}

// Open sends cfg.Rate requests per second for cfg.Duration and measures
// each from its intended send time.
func Open(ctx context.Context, cfg OpenConfig, op Op) *Result {
	if cfg.MaxInFlight < 1 {
		cfg.MaxInFlight = 1
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	start := time.Now().Add(5 * time.Millisecond)
	sched := NewSchedule(start, cfg.Rate, cfg.Duration)
	hard, cancel := context.WithDeadline(ctx, start.Add(cfg.Duration+cfg.Drain))
	defer cancel()

	type job struct {
		seq      int64
		intended time.Time
	}
	queue := make(chan job, min(sched.Total, 1<<20)+1)
	ts := make([]*tally, cfg.MaxInFlight)
	var wg sync.WaitGroup
	var last atomic.Int64 // unix nanos of the last answer
	for w := range cfg.MaxInFlight {
		ts[w] = &tally{}
		wg.Go(func() {
			t := ts[w]
			for j := range queue {
				if hard.Err() != nil {
					// Gave up: charge the wait so far, count it as not sent.
					t.add(time.Since(j.intended), classed("not sent"))
					continue
				}
				if d := time.Until(j.intended); d > 0 {
					time.Sleep(d)
				}
				rctx, rcancel := context.WithTimeout(hard, cfg.Timeout)
				err := op(rctx, w, j.seq+1)
				rcancel()
				end := time.Now()
				t.add(end.Sub(j.intended), err)
				for n := end.UnixNano(); ; {
					if old := last.Load(); n <= old || last.CompareAndSwap(old, n) {
						break
					}
				}
			}
		})
	}
	// Dispatcher: hand out every request that is due, then sleep until the
	// next one. Senders sleep the last few microseconds themselves.
	var sent int64
	for sent < sched.Total && hard.Err() == nil {
		due := sched.Due(time.Now().Add(200 * time.Microsecond))
		for ; sent < due; sent++ {
			queue <- job{seq: sent, intended: sched.Intended(sent)}
		}
		if sent < sched.Total {
			if d := time.Until(sched.Intended(sent)) - 200*time.Microsecond; d > 0 {
				select {
				case <-time.After(d):
				case <-hard.Done():
				}
			}
		}
	}
	close(queue)
	wg.Wait()
	r := &Result{Mode: "open", Concurrency: cfg.MaxInFlight, TargetRate: cfg.Rate}
	merge(r, ts)
	if unsent := sched.Total - sent; unsent > 0 {
		if r.Errors == nil {
			r.Errors = map[string]int64{}
		}
		r.Errors["not sent"] += unsent
		// Their latency is at least the wait until the loop gave up.
		giveUp := start.Add(cfg.Duration + cfg.Drain)
		for i := sent; i < sched.Total; i++ {
			r.Latency.Record(giveUp.Sub(sched.Intended(i)))
		}
	}
	// The window is the schedule's length, or longer if answers came late.
	r.Elapsed = max(cfg.Duration, time.Duration(last.Load()-start.UnixNano()))
	return r
}

type classed string

func (c classed) Error() string { return string(c) }
func (c classed) Class() string { return string(c) }
