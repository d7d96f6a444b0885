package inspect_test

import (
	"math"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/workers/images/internal/inspect"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	front := inspect.Placement{ID: "front", Name: "Front", WidthIn: 15, HeightIn: 18, MinDPI: 150, RecommendedDPI: 300}
	pocket := inspect.Placement{ID: "pocket", Name: "Pocket", WidthIn: 4, HeightIn: 4, MinDPI: 200, RecommendedDPI: 300}
	mug := inspect.Placement{ID: "wrap", Name: "Mug wrap", WidthIn: 9, HeightIn: 3.5, MinDPI: 150, RecommendedDPI: 0}
	noMin := inspect.Placement{ID: "free", WidthIn: 10, HeightIn: 10}
	broken := inspect.Placement{ID: "broken", Name: "Broken", WidthIn: 0, HeightIn: 10, MinDPI: 150}
	tests := []struct {
		name    string
		w, h    int
		p       inspect.Placement
		dpi     float64
		verdict inspect.Verdict
	}{
		{"exact recommended", 4500, 5400, front, 300, inspect.VerdictOK},
		{"above recommended", 6000, 7200, front, 400, inspect.VerdictOK},
		{"one pixel short of recommended", 4499, 5400, front, 4499.0 / 15, inspect.VerdictWarn},
		{"height limits", 4500, 3600, front, 200, inspect.VerdictWarn},
		{"exact minimum warns", 2250, 2700, front, 150, inspect.VerdictWarn},
		{"below minimum", 2249, 2700, front, 2249.0 / 15, inspect.VerdictReject},
		{"tiny", 100, 100, front, 100.0 / 18, inspect.VerdictReject},
		{"pocket ok", 1200, 1200, pocket, 300, inspect.VerdictOK},
		{"pocket wide design limited by width", 1200, 300, pocket, 75, inspect.VerdictReject},
		{"pocket warn", 1000, 1000, pocket, 250, inspect.VerdictWarn},
		{"no recommended: min is enough", 1350, 525, mug, 150, inspect.VerdictOK},
		{"no recommended: below min", 1340, 525, mug, 1340.0 / 9, inspect.VerdictReject},
		{"no thresholds", 10, 10, noMin, 1, inspect.VerdictOK},
		{"no print size", 4000, 4000, broken, 0, inspect.VerdictReject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := inspect.Judge(tt.w, tt.h, []inspect.Placement{tt.p})
			if len(rs) != 1 {
				t.Fatalf("Judge returned %d results", len(rs))
			}
			r := rs[0]
			if math.Abs(r.EffectiveDPI-tt.dpi) > 1e-9 || r.Verdict != tt.verdict {
				t.Errorf("got %.4f DPI %s, want %.4f DPI %s", r.EffectiveDPI, r.Verdict, tt.dpi, tt.verdict)
			}
			if (r.Problem == "") != (tt.verdict == inspect.VerdictOK) {
				t.Errorf("problem %q for verdict %s", r.Problem, r.Verdict)
			}
			if r.ID != tt.p.ID {
				t.Errorf("result for %q, want %q", r.ID, tt.p.ID)
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	t.Parallel()
	front := inspect.Placement{ID: "front", Name: "Front", WidthIn: 15, HeightIn: 18, MinDPI: 150, RecommendedDPI: 300}
	pocket := inspect.Placement{ID: "pocket", Name: "Pocket", WidthIn: 4, HeightIn: 4, MinDPI: 200, RecommendedDPI: 300}
	tests := []struct {
		name string
		w, h int
		ps   []inspect.Placement
		want bool
	}{
		{"no placements", 10, 10, nil, true},
		{"fits one of two", 1000, 1000, []inspect.Placement{front, pocket}, true},
		{"fits none", 500, 500, []inspect.Placement{front, pocket}, false},
		{"fits both", 4500, 5400, []inspect.Placement{front, pocket}, true},
	}
	for _, tt := range tests {
		rs := inspect.Judge(tt.w, tt.h, tt.ps)
		if got := inspect.Printable(rs); got != tt.want {
			t.Errorf("%s: Printable = %v, want %v (%+v)", tt.name, got, tt.want, rs)
		}
	}
	rs := inspect.Judge(500, 500, []inspect.Placement{front})
	if !strings.Contains(rs[0].Problem, "Front") || !strings.Contains(rs[0].Problem, "150") {
		t.Errorf("problem %q should name the placement and the minimum", rs[0].Problem)
	}
}
