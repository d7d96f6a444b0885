package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exact is the nearest-rank quantile of sorted values.
func exact(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestIndexBoundsRoundTrip(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	vals := []int64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64 / 3}
	for range 10000 {
		vals = append(vals, r.Int64N(1<<45))
	}
	prev := -1
	for _, v := range slices.Sorted(slices.Values(vals)) {
		i := index(v)
		if i < prev {
			t.Fatalf("index not monotonic: index(%d)=%d < %d", v, i, prev)
		}
		prev = i
		lo, hi := bounds(i)
		if v < lo || v >= hi {
			t.Fatalf("value %d in bucket %d with bounds [%d,%d)", v, i, lo, hi)
		}
		if v >= 256 && float64(hi-lo)/float64(lo) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d [%d,%d) wider than 1/%d of its value", i, lo, hi, subCount)
		}
	}
}

func TestQuantilesMatchExactWithinOnePercent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"lognormal around 2ms", func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(r.NormFloat64()*0.8) * float64(2*time.Millisecond))
		}},
		{"uniform 0-100us", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(100 * time.Microsecond))) }},
		{"bimodal 1ms and 200ms", func(r *rand.Rand) time.Duration {
			if r.IntN(100) < 3 {
				return 200*time.Millisecond + time.Duration(r.Int64N(int64(time.Millisecond)))
			}
			return time.Millisecond + time.Duration(r.Int64N(int64(100*time.Microsecond)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(7, 9))
			var h Histogram
			vals := make([]time.Duration, 50000)
			for i := range vals {
				vals[i] = tc.gen(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
				got, want := h.Quantile(q), exact(vals, q)
				if got < want {
					t.Errorf("q%.3f: %v understates exact %v", q, got, want)
				}
				if float64(got-want) > float64(want)/subCount+1 {
					t.Errorf("q%.3f: %v more than 1/%d above exact %v", q, got, subCount, want)
				}
			}
			if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Errorf("min/max %v/%v, want %v/%v", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			if h.Count() != uint64(len(vals)) {
				t.Errorf("count %d, want %d", h.Count(), len(vals))
			}
		})
	}
}

func TestEdgeCases(t *testing.T) {
	t.Parallel()
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 || empty.Count() != 0 {
		t.Errorf("empty histogram: q99 %v mean %v count %d", empty.Quantile(0.99), empty.Mean(), empty.Count())
	}
	var one Histogram
	one.Record(1234567 * time.Nanosecond)
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if got := one.Quantile(q); got != 1234567 {
			t.Errorf("single value: q%v = %v, want 1.234567ms exactly (clamped)", q, got)
		}
	}
	var neg Histogram
	neg.Record(-time.Second)
	if neg.Max() != 0 || neg.Quantile(1) != 0 {
		t.Errorf("negative duration recorded as %v, want 0", neg.Max())
	}
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	if got := h.Percentile(100); got != 100*time.Microsecond {
		t.Errorf("p100 %v, want max 100us", got)
	}
	if got := h.Percentile(0); got != time.Microsecond {
		t.Errorf("p0 %v, want min 1us", got)
	}
	if got := h.Mean(); got != 50500*time.Nanosecond {
		t.Errorf("mean %v, want 50.5us", got)
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	var all, a, b Histogram
	for i := range 20000 {
		d := time.Duration(r.Int64N(int64(50 * time.Millisecond)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(nil)
	m.Merge(&Histogram{})
	for _, q := range []float64{0, 0.5, 0.95, 0.99, 1} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%v: merged %v, direct %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
	if m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Errorf("merged summary differs: %d %v %v %v vs %d %v %v %v", m.Count(), m.Min(), m.Max(), m.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
}
