package domain

import "time"

// DesignStatus is where a design is in its validation.
type DesignStatus string

// Design statuses.
const (
	DesignPendingUpload DesignStatus = "pending_upload"
	DesignProcessing    DesignStatus = "processing"
	DesignReady         DesignStatus = "ready"
	DesignRejected      DesignStatus = "rejected"
)

// DesignContentTypes are the upload content types a design may have.
var DesignContentTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/webp": true}

// Design is uploaded artwork.
type Design struct {
	ID           string
	OwnerID      string
	Status       DesignStatus
	Filename     string
	ContentType  string
	SizeBytes    int64 // declared at creation, the stored size once processed
	ObjectKey    string
	MasterKey    string
	ThumbnailKey string
	PreviewKey   string
	Report       *DesignReport
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// DesignReport is the image worker's validation report.
type DesignReport struct {
	Format     string             `json:"format"`
	WidthPx    int32              `json:"width_px"`
	HeightPx   int32              `json:"height_px"`
	HasAlpha   bool               `json:"has_alpha"`
	Placements []PlacementVerdict `json:"placements"`
	Problems   []string           `json:"problems"`
}

// PlacementVerdict is a design's DPI check against one placement.
type PlacementVerdict struct {
	PlacementID  string  `json:"placement_id"`
	Name         string  `json:"name"`
	EffectiveDPI float64 `json:"effective_dpi"`
	Verdict      string  `json:"verdict"` // ok, warn, reject
}

// DesignResult is the outcome the image worker reports.
type DesignResult struct {
	DesignID     string
	Ready        bool
	Report       DesignReport
	MasterKey    string
	ThumbnailKey string
	PreviewKey   string
}
