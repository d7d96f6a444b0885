package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// MaxObjectKey is the longest object key an upload may name.
const MaxObjectKey = 1024

// DesignUpload asks for one uploaded design to be validated and normalised.
type DesignUpload struct {
	DesignID string
	// Bucket holds the upload; empty means the worker's designs bucket.
	Bucket    string
	ObjectKey string
	// Placements are every print area the design may go on, for the DPI
	// verdicts.
	Placements []Placement
}

// Validate returns an error wrapping ErrInvalid unless the design id may
// become a key segment and the object key is 1 to MaxObjectKey bytes.
func (u DesignUpload) Validate() error {
	if err := CheckID("design_id", u.DesignID); err != nil {
		return err
	}
	if u.ObjectKey == "" || len(u.ObjectKey) > MaxObjectKey {
		return fmt.Errorf("%w: design %s: object_key of %d bytes", ErrInvalid, u.DesignID, len(u.ObjectKey))
	}
	return nil
}

// DesignKeys are where a design's outputs live in the renders bucket:
// designs/<design_id>/<first 16 hex digits of the source's SHA-256>/...
// The same bytes always land on the same keys.
type DesignKeys struct {
	Master, Thumbnail, Preview, Report string
}

// KeysForDesign returns the output keys of designID with source bytes src.
func KeysForDesign(designID string, src []byte) DesignKeys {
	sum := sha256.Sum256(src)
	base := "designs/" + designID + "/" + hex.EncodeToString(sum[:8]) + "/"
	return DesignKeys{
		Master:    base + "master.png",
		Thumbnail: base + "thumb.webp",
		Preview:   base + "preview.webp",
		Report:    base + "report.json",
	}
}

// DesignResult is the outcome of validating one design: its report, and
// where the report was written. A ready design's outputs are named in
// Report.Outputs.
type DesignResult struct {
	Report    Report
	ReportKey string
}

// Ready reports whether the design was accepted.
func (r DesignResult) Ready() bool { return r.Report.Verdict == VerdictReady }
