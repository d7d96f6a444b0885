package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names the live figures read.
const (
	// MetricTransitions counts the orders' state transitions (labels from,
	// to), exported by the orders processes.
	MetricTransitions = "printfleet_orders_transitions_total"
	// MetricBudget is the marketplace worker's rate-budget use per
	// (marketplace, shop): the shop id the store has at its marketplace.
	MetricBudget = "printfleet_marketplace_budget_used_ratio"
	// MetricRequestDuration is the gateway's own request duration
	// histogram (labels route, method, code).
	MetricRequestDuration = "printfleet_gateway_http_request_duration_seconds"
	// createRoute is the route whose p99 the console shows.
	createRoute = "/v1/orders"
)

// Target is one admin /metrics endpoint to scrape.
type Target struct {
	Name, URL string
}

// ParseTargets reads name=url pairs.
func ParseTargets(specs []string) ([]Target, error) {
	var out []Target
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		name, raw, ok := strings.Cut(s, "=")
		u, err := url.Parse(raw)
		if !ok || name == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%q is not name=http(s)://host/metrics", s)
		}
		out = append(out, Target{Name: name, URL: raw})
	}
	return out, nil
}

// Gatherer gathers the gateway's own metrics (prometheus.Gatherer).
type Gatherer interface {
	Gather() ([]*dto.MetricFamily, error)
}

// FiguresOptions configure the sampler.
type FiguresOptions struct {
	Targets []Target
	Gateway Gatherer
	Client  *http.Client
	Log     *slog.Logger
	Now     func() time.Time
	// Every is the background period while someone looked within Watch;
	// Floor the least time between two samples taken on demand.
	Every, Floor, Watch time.Duration
	// Keep is how many samples the ring holds.
	Keep int
}

// sample is what one round of scrapes found, reduced to the figures.
type sample struct {
	at time.Time
	// transitions by target state; seen reports whether any target
	// exported the counter.
	transitions     map[string]float64
	transitionsSeen bool
	// create is the create route's cumulative histogram (upper bound →
	// count), summed over status classes.
	create     map[float64]float64
	createSeen bool
	budgets    map[string]float64
	failures   map[string]string
}

// Figures samples the services' metrics into a small ring and computes
// rates and quantiles from the deltas.
type Figures struct {
	o        FiguresOptions
	sampling sync.Mutex // one round of scrapes at a time
	mu       sync.Mutex
	ring     []sample
	lastLook time.Time
}

// NewFigures starts the background sampler; it stops with ctx.
func NewFigures(ctx context.Context, o FiguresOptions) *Figures {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 2 * time.Second}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Every <= 0 {
		o.Every = 10 * time.Second
	}
	if o.Floor <= 0 {
		o.Floor = 2 * time.Second
	}
	if o.Watch <= 0 {
		o.Watch = 5 * time.Minute
	}
	if o.Keep <= 0 {
		o.Keep = 90
	}
	f := &Figures{o: o}
	go f.loop(ctx)
	return f
}

// loop samples every Every while someone looked in the last Watch.
func (f *Figures) loop(ctx context.Context) {
	t := time.NewTicker(f.o.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.mu.Lock()
			watched := f.o.Now().Sub(f.lastLook) < f.o.Watch
			f.mu.Unlock()
			if watched {
				f.Sample(ctx)
			}
		}
	}
}

// Sample scrapes every target now and adds the result to the ring.
func (f *Figures) Sample(ctx context.Context) {
	f.sampling.Lock()
	defer f.sampling.Unlock()
	s := sample{at: f.o.Now(), transitions: map[string]float64{}, create: map[float64]float64{},
		budgets: map[string]float64{}, failures: map[string]string{}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, t := range f.o.Targets {
		wg.Go(func() {
			fams, err := f.scrape(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.failures[t.Name] = err.Error()
				return
			}
			s.add(fams, false)
		})
	}
	wg.Wait()
	if f.o.Gateway != nil {
		if fams, err := f.o.Gateway.Gather(); err == nil {
			m := map[string]*dto.MetricFamily{}
			for _, fam := range fams {
				m[fam.GetName()] = fam
			}
			s.add(m, true)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ring = append(f.ring, s)
	if len(f.ring) > f.o.Keep {
		f.ring = slices.Delete(f.ring, 0, len(f.ring)-f.o.Keep)
	}
}

// add folds one target's families into s; the create histogram is read
// from the gateway's own registry only (gateway).
func (s *sample) add(fams map[string]*dto.MetricFamily, gateway bool) {
	if fam, ok := fams[MetricTransitions]; ok {
		s.transitionsSeen = true
		for _, m := range fam.GetMetric() {
			s.transitions[label(m, "to")] += m.GetCounter().GetValue()
		}
	}
	if fam, ok := fams[MetricBudget]; ok {
		for _, m := range fam.GetMetric() {
			k := BudgetKey(label(m, "marketplace"), label(m, "shop"))
			s.budgets[k] = max(s.budgets[k], m.GetGauge().GetValue())
		}
	}
	if fam, ok := fams[MetricRequestDuration]; ok && gateway {
		for _, m := range fam.GetMetric() {
			if label(m, "route") != createRoute || label(m, "method") != http.MethodPost {
				continue
			}
			s.createSeen = true
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				s.create[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			}
			s.create[math.Inf(1)] += float64(h.GetSampleCount())
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// maxScrape bounds one target's exposition.
const maxScrape = 8 << 20

func (f *Figures) scrape(ctx context.Context, t Target) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := f.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: unreachable", t.Name)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %d", t.Name, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrape))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: unreadable exposition", t.Name)
	}
	return fams, nil
}

// fresh samples now unless the newest sample is younger than Floor, and
// notes that someone looks.
func (f *Figures) fresh(ctx context.Context) {
	f.mu.Lock()
	now := f.o.Now()
	f.lastLook = now
	stale := len(f.ring) == 0 || now.Sub(f.ring[len(f.ring)-1].at) >= f.o.Floor
	f.mu.Unlock()
	if stale {
		f.Sample(ctx)
	}
}

// StateRate is the orders entering one state per minute.
type StateRate struct {
	State     string
	PerMinute float64
}

// Snapshot is the live figures as a page shows them.
type Snapshot struct {
	// Window is the time between the two samples compared (0: only one
	// sample so far, no rates yet).
	Window time.Duration
	// Transitions reports whether the orders' transition counter was found.
	Transitions bool
	Rates       []StateRate
	// CreateP99 is the p99 of POST /v1/orders over the window (HasP99
	// false: no request in the window or no histogram).
	CreateP99 time.Duration
	HasP99    bool
	// Failures are the targets that could not be scraped, with why.
	Failures []string
	Targets  int
}

// window is how far back the rates look.
const window = time.Minute

// Look samples on demand (with the floor) and computes the figures.
func (f *Figures) Look(ctx context.Context) Snapshot {
	f.fresh(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	snap := Snapshot{Targets: len(f.o.Targets)}
	if len(f.ring) == 0 {
		return snap
	}
	last := f.ring[len(f.ring)-1]
	for name, why := range last.failures {
		snap.Failures = append(snap.Failures, name+": "+why)
	}
	sort.Strings(snap.Failures)
	snap.Transitions = last.transitionsSeen
	base := last
	for i := len(f.ring) - 2; i >= 0; i-- {
		if last.at.Sub(f.ring[i].at) > window {
			if base.at.Equal(last.at) {
				base = f.ring[i] // nothing closer: use the nearest older one
			}
			break
		}
		base = f.ring[i]
	}
	snap.Window = last.at.Sub(base.at)
	if snap.Window <= 0 {
		return snap
	}
	minutes := snap.Window.Minutes()
	for state, v := range last.transitions {
		d := delta(v, base.transitions[state])
		if d > 0 {
			snap.Rates = append(snap.Rates, StateRate{State: state, PerMinute: d / minutes})
		}
	}
	sort.Slice(snap.Rates, func(i, j int) bool { return snap.Rates[i].State < snap.Rates[j].State })
	if last.createSeen {
		buckets := map[float64]float64{}
		for le, v := range last.create {
			buckets[le] = delta(v, base.create[le])
		}
		if q, ok := Quantile(0.99, buckets); ok {
			snap.CreateP99, snap.HasP99 = time.Duration(q*float64(time.Second)).Round(100*time.Microsecond), true
		}
	}
	snap.Window = snap.Window.Round(time.Second)
	return snap
}

// BudgetKey names a store in Budgets: its marketplace ("shopify", "etsy",
// "amazon") and its shop id there.
func BudgetKey(marketplace, shop string) string { return strings.ToLower(marketplace) + "/" + shop }

// Budgets are the newest budget-use ratios by BudgetKey (fresh with the
// floor); a store without one is unknown.
func (f *Figures) Budgets(ctx context.Context) map[string]float64 {
	f.fresh(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ring) == 0 {
		return nil
	}
	return f.ring[len(f.ring)-1].budgets
}

// delta is a counter's increase, a reset counting from zero.
func delta(now, before float64) float64 {
	if now < before {
		return now
	}
	return now - before
}

// Quantile estimates the q-quantile of a cumulative histogram (upper bound
// → count, +Inf included) as Prometheus's histogram_quantile does: linear
// within the bucket the rank falls in; the highest finite bound when it
// falls in +Inf. ok is false for an empty histogram.
func Quantile(q float64, buckets map[float64]float64) (float64, bool) {
	bounds := make([]float64, 0, len(buckets))
	for le := range buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return 0, false
	}
	total := buckets[bounds[len(bounds)-1]]
	if !math.IsInf(bounds[len(bounds)-1], 1) || total <= 0 {
		return 0, false
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, le := range bounds {
		c := buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevBound, true
			}
			if c == prevCount {
				return le, true
			}
			return prevBound + (le-prevBound)*(rank-prevCount)/(c-prevCount), true
		}
		prevBound, prevCount = le, c
	}
	return prevBound, true
}
