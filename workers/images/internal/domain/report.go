package domain

// A design's verdict, as its report spells it.
const (
	VerdictReady    = "ready"
	VerdictRejected = "rejected"
)

// Report is the JSON validation report stored next to a design's outputs.
// It holds no clock readings, so the same input writes the same bytes.
type Report struct {
	DesignID   string            `json:"design_id"`
	Verdict    string            `json:"verdict"`          // ready | rejected
	Reason     string            `json:"reason,omitempty"` // rejection reason
	Problems   []string          `json:"problems"`
	Source     ReportSource      `json:"source"`
	Format     string            `json:"format,omitempty"`
	WidthPx    int               `json:"width_px,omitempty"` // oriented
	HeightPx   int               `json:"height_px,omitempty"`
	Stored     *ReportSize       `json:"stored,omitempty"` // before orientation
	HasAlpha   bool              `json:"has_alpha"`
	Placements []ReportPlacement `json:"placements"`
	Outputs    *ReportOutputs    `json:"outputs,omitempty"`
	Limits     ReportLimits      `json:"limits"`
}

// ReportSource is the uploaded object.
type ReportSource struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	SHA256 string `json:"sha256,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
}

// ReportSize is a stored size and orientation.
type ReportSize struct {
	WidthPx     int `json:"width_px"`
	HeightPx    int `json:"height_px"`
	Orientation int `json:"orientation"`
}

// ReportPlacement is one DPI verdict: "ok", "warn" or "reject".
type ReportPlacement struct {
	PlacementID    string  `json:"placement_id"`
	Name           string  `json:"name"`
	WidthIn        float64 `json:"width_in"`
	HeightIn       float64 `json:"height_in"`
	MinDPI         int     `json:"min_dpi"`
	RecommendedDPI int     `json:"recommended_dpi"`
	EffectiveDPI   float64 `json:"effective_dpi"`
	Verdict        string  `json:"verdict"`
}

// ReportOutputs are the keys written for a ready design.
type ReportOutputs struct {
	Bucket    string `json:"bucket"`
	Master    string `json:"master"`
	Thumbnail string `json:"thumbnail"`
	Preview   string `json:"preview"`
}

// ReportLimits are the caps the design was checked against.
type ReportLimits struct {
	MaxBytes  int64 `json:"max_bytes"`
	MaxSide   int   `json:"max_side"`
	MaxPixels int64 `json:"max_pixels"`
}

// Reject turns r into a rejection for reason, with detail as the first
// problem.
func (r *Report) Reject(reason, detail string) {
	r.Verdict, r.Reason = VerdictRejected, reason
	r.Problems = append([]string{detail}, r.Problems...)
}
