package app

import (
	"math"

	"github.com/printfleet/printfleet/workers/images/internal/domain"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
)

// setHeader records what inspection learnt about the file.
func setHeader(r *domain.Report, h inspect.Header) {
	r.Format = string(h.Format)
	r.WidthPx, r.HeightPx = h.Oriented()
	r.Stored = &domain.ReportSize{WidthPx: h.Width, HeightPx: h.Height, Orientation: h.Orientation}
	r.HasAlpha = h.HasAlpha
}

// setPlacements records the DPI verdicts, and their problems among the
// report's.
func setPlacements(r *domain.Report, rs []inspect.PlacementResult) {
	r.Placements = make([]domain.ReportPlacement, 0, len(rs))
	for _, p := range rs {
		r.Placements = append(r.Placements, domain.ReportPlacement{
			PlacementID: p.ID, Name: p.Name, WidthIn: p.WidthIn, HeightIn: p.HeightIn,
			MinDPI: p.MinDPI, RecommendedDPI: p.RecommendedDPI,
			EffectiveDPI: math.Round(p.EffectiveDPI*10) / 10, Verdict: string(p.Verdict),
		})
		if p.Problem != "" {
			r.Problems = append(r.Problems, p.Problem)
		}
	}
}

func toInspectPlacements(ps []domain.Placement) []inspect.Placement {
	out := make([]inspect.Placement, 0, len(ps))
	for _, p := range ps {
		out = append(out, inspect.Placement{
			ID: p.ID, Name: p.Name, WidthIn: p.WidthIn, HeightIn: p.HeightIn,
			MinDPI: p.MinDPI, RecommendedDPI: p.RecommendedDPI,
		})
	}
	return out
}
