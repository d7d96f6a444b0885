package inspect

import (
	"fmt"
	"math"
)

// Placement is a print area: its physical size and DPI thresholds.
type Placement struct {
	ID, Name          string
	WidthIn, HeightIn float64
	MinDPI            int // below: rejected for this placement; 0 means no minimum
	RecommendedDPI    int // below: a warning; 0 means the minimum
}

// Verdict is a design's fitness for one placement.
type Verdict string

// Verdicts, as the DesignProcessed event spells them.
const (
	VerdictOK     Verdict = "ok"
	VerdictWarn   Verdict = "warn"
	VerdictReject Verdict = "reject"
)

// PlacementResult is the DPI check of a design against one placement.
type PlacementResult struct {
	Placement
	EffectiveDPI float64
	Verdict      Verdict
	Problem      string // empty when ok
}

// EffectiveDPI is the resolution the design prints at when fitted to the
// placement: min(width_px/width_in, height_px/height_in). The limiting side
// decides, because the design is scaled uniformly to fit inside the area.
func EffectiveDPI(widthPx, heightPx int, p Placement) float64 {
	if p.WidthIn <= 0 || p.HeightIn <= 0 || math.IsNaN(p.WidthIn) || math.IsNaN(p.HeightIn) {
		return 0
	}
	return math.Min(float64(widthPx)/p.WidthIn, float64(heightPx)/p.HeightIn)
}

// Judge checks a design of widthPx×heightPx (as oriented) against each
// placement: below the minimum DPI rejects it there, below the recommended
// DPI warns.
func Judge(widthPx, heightPx int, ps []Placement) []PlacementResult {
	out := make([]PlacementResult, 0, len(ps))
	for _, p := range ps {
		r := PlacementResult{Placement: p, EffectiveDPI: EffectiveDPI(widthPx, heightPx, p)}
		rec := max(p.RecommendedDPI, p.MinDPI)
		label := p.Name
		if label == "" {
			label = p.ID
		}
		switch {
		case p.WidthIn <= 0 || p.HeightIn <= 0 || math.IsNaN(p.WidthIn+p.HeightIn) || math.IsInf(p.WidthIn+p.HeightIn, 0):
			r.Verdict = VerdictReject
			r.Problem = fmt.Sprintf("placement %s has no valid print size (%gx%g in)", label, p.WidthIn, p.HeightIn)
		case r.EffectiveDPI < float64(p.MinDPI):
			r.Verdict = VerdictReject
			r.Problem = fmt.Sprintf("placement %s: %.0f DPI at %gx%g in, below the minimum %d DPI", label, math.Floor(r.EffectiveDPI), p.WidthIn, p.HeightIn, p.MinDPI)
		case r.EffectiveDPI < float64(rec):
			r.Verdict = VerdictWarn
			r.Problem = fmt.Sprintf("placement %s: %.0f DPI at %gx%g in, below the recommended %d DPI", label, math.Floor(r.EffectiveDPI), p.WidthIn, p.HeightIn, rec)
		default:
			r.Verdict = VerdictOK
		}
		out = append(out, r)
	}
	return out
}

// Printable reports whether the design can be printed on at least one of
// the placements (or none were given, so nothing constrains it).
func Printable(rs []PlacementResult) bool {
	if len(rs) == 0 {
		return true
	}
	for _, r := range rs {
		if r.Verdict != VerdictReject {
			return true
		}
	}
	return false
}
