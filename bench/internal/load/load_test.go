package load

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestScheduleMath(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	for _, tc := range []struct {
		rate      float64
		d         time.Duration
		wantTotal int64
	}{
		{1000, time.Second, 1000},
		{3, 10 * time.Second, 30},
		{250.5, 2 * time.Second, 501},
		{0, time.Second, 0},
		{0.5, time.Second, 0},
	} {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			t.Parallel()
			s := NewSchedule(start, tc.rate, tc.d)
			if s.Total != tc.wantTotal {
				t.Fatalf("total %d, want %d", s.Total, tc.wantTotal)
			}
			if s.Total == 0 {
				if s.Due(start.Add(time.Hour)) != 0 {
					t.Fatal("an empty schedule has requests due")
				}
				return
			}
			if s.Intended(0) != start {
				t.Errorf("first request at %v, want the start", s.Intended(0))
			}
			// Evenly spaced to the nanosecond, no drift at the end.
			gap := float64(time.Second) / tc.rate
			last := s.Offset(s.Total - 1)
			if want := time.Duration(float64(s.Total-1) * gap); last != want {
				t.Errorf("last offset %v, want %v", last, want)
			}
			if last >= tc.d {
				t.Errorf("last request at %v, not inside the %v window", last, tc.d)
			}
			// Due counts exactly the requests whose time has come.
			var prev int64
			for i := range s.Total {
				at := s.Intended(i)
				if got := s.Due(at); got != i+1 {
					t.Fatalf("at request %d's own time Due=%d, want %d", i, got, i+1)
				}
				if got := s.Due(at.Add(-time.Nanosecond)); got != i {
					t.Fatalf("just before request %d Due=%d, want %d", i, got, i)
				}
				if d := s.Due(at); d < prev {
					t.Fatalf("Due went back from %d to %d", prev, d)
				} else {
					prev = d
				}
			}
			if got := s.Due(start.Add(-time.Second)); got != 0 {
				t.Errorf("before the start Due=%d", got)
			}
			if got := s.Due(start.Add(10 * tc.d)); got != s.Total {
				t.Errorf("long after the end Due=%d, want all %d", got, s.Total)
			}
		})
	}
	// A long schedule keeps its phase: request one million at 3/s is due at
	// exactly 333333.333333333 s, not a sum of rounded gaps.
	s := Schedule{Start: start, Rate: 3, Total: 2_000_000}
	if got, want := s.Offset(1_000_000), time.Duration(333333333333333); got != want {
		t.Errorf("offset of request 1e6 at 3/s: %v, want %v", got, want)
	}
}

type statusErr int

func (e statusErr) Error() string { return fmt.Sprintf("status %d", int(e)) }
func (e statusErr) Class() string { return fmt.Sprintf("http %d", int(e)) }

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{statusErr(503), "http 503"},
		{fmt.Errorf("create: %w", statusErr(409)), "http 409"},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "cancelled"},
		{errors.New("connection refused"), "connection refused"},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestClosedCountsEveryRequestAndHonoursTheCap(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	seen := make([]atomic.Bool, 101)
	r := Closed(context.Background(), ClosedConfig{Workers: 4, Duration: 5 * time.Second, MaxRequests: 100}, func(_ context.Context, w int, seq int64) error {
		calls.Add(1)
		if seq < 1 || seq > 100 || seen[seq].Swap(true) {
			t.Errorf("seq %d out of range or repeated", seq)
		}
		if w < 0 || w >= 4 {
			t.Errorf("worker %d", w)
		}
		time.Sleep(time.Millisecond)
		if seq%10 == 0 {
			return statusErr(500)
		}
		return nil
	})
	if calls.Load() != 100 {
		t.Fatalf("%d calls, want exactly the cap of 100", calls.Load())
	}
	if r.OK != 90 || r.Errors["http 500"] != 10 || r.Failed() != 10 {
		t.Errorf("ok %d errors %v, want 90 ok and 10 http 500", r.OK, r.Errors)
	}
	if r.Latency.Count() != 100 || r.Latency.Min() < time.Millisecond {
		t.Errorf("latency count %d min %v, want 100 values of at least 1ms", r.Latency.Count(), r.Latency.Min())
	}
	if r.Elapsed > 4*time.Second {
		t.Errorf("the cap did not stop the loop early: ran %v", r.Elapsed)
	}
	if got := r.ErrorSummary(); got != "10 http 500" {
		t.Errorf("summary %q", got)
	}
}

func TestClosedStopsAtItsDuration(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := Closed(context.Background(), ClosedConfig{Workers: 2, Duration: 200 * time.Millisecond}, func(context.Context, int, int64) error {
		time.Sleep(5 * time.Millisecond)
		return nil
	})
	if el := time.Since(start); el < 200*time.Millisecond || el > 2*time.Second {
		t.Errorf("ran %v for a 200ms loop", el)
	}
	// Two workers at 5 ms each cannot exceed 2 × 200/5 + 2 requests.
	if r.OK == 0 || r.OK > 82 {
		t.Errorf("%d requests in 200ms from 2 workers sleeping 5ms", r.OK)
	}
	if tp := r.Throughput(); tp <= 0 || tp > 410 {
		t.Errorf("throughput %.0f/s", tp)
	}
}

// One 300 ms stall at the start of a 500/s open loop with one sender delays
// the ~150 requests scheduled during it. Measured from their intended send
// times, at least the 100 scheduled in the first 200 ms waited 100 ms or
// more — a loop that measured from the actual send would report them all
// as instant.
func TestOpenChargesStallsToEveryDelayedRequest(t *testing.T) {
	t.Parallel()
	r := Open(context.Background(), OpenConfig{Rate: 500, Duration: time.Second, MaxInFlight: 1}, func(_ context.Context, _ int, seq int64) error {
		if seq == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		return nil
	})
	if r.OK != 500 || r.Failed() != 0 {
		t.Fatalf("ok %d errors %v, want all 500", r.OK, r.Errors)
	}
	if r.Latency.Count() != 500 {
		t.Fatalf("%d latencies", r.Latency.Count())
	}
	if q := r.Latency.Quantile(0.80); q < 100*time.Millisecond {
		t.Errorf("p80 %v: the stall was not charged to the requests queued behind it", q)
	}
	if mx := r.Latency.Max(); mx < 290*time.Millisecond {
		t.Errorf("max %v, want about the 300ms stall", mx)
	}
	if tp := r.Throughput(); tp < 400 || tp > 520 {
		t.Errorf("throughput %.0f/s for a 500/s schedule", tp)
	}
}

func TestOpenPacesAtTheRate(t *testing.T) {
	t.Parallel()
	var first, last atomic.Int64
	r := Open(context.Background(), OpenConfig{Rate: 200, Duration: 500 * time.Millisecond, MaxInFlight: 8}, func(context.Context, int, int64) error {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		last.Store(now)
		return nil
	})
	if r.OK != 100 {
		t.Fatalf("%d requests, want 100 (200/s for 0.5s)", r.OK)
	}
	// The 100 sends are spread over ~495 ms, not fired in a burst.
	if span := time.Duration(last.Load() - first.Load()); span < 400*time.Millisecond {
		t.Errorf("sends spread over %v, want about 495ms", span)
	}
}

func TestOpenGivesUpAtTheHardDeadline(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := Open(context.Background(), OpenConfig{Rate: 100, Duration: 200 * time.Millisecond, MaxInFlight: 1, Drain: 200 * time.Millisecond, Timeout: time.Second},
		func(ctx context.Context, _ int, _ int64) error {
			<-ctx.Done() // a server that never answers
			return ctx.Err()
		})
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("loop ran %v past a 400ms hard deadline", el)
	}
	if r.OK != 0 || r.Failed() != 20 {
		t.Errorf("ok %d, errors %v: want all 20 scheduled requests failed", r.OK, r.Errors)
	}
	if r.Latency.Count() != 20 {
		t.Errorf("%d latencies recorded, want all 20 (lower bounds for the unsent)", r.Latency.Count())
	}
}
