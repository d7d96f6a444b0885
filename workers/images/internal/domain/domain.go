// Package domain holds the image worker's plain types and the rules they
// keep: which ids may become object keys, where each output lives, the DPI
// a placement prints at, and the validation report of a design. It does no
// I/O and knows neither protobuf nor S3.
package domain

import (
	"errors"
	"fmt"
	"regexp"
)

// The two kinds of failure no retry can fix. Adapters that receive work
// (amqpapi) treat an error wrapping either as final.
var (
	// ErrInvalid: the request breaks an invariant (an id that cannot be
	// part of a key, a placement without a size, a bucket that is not a
	// design source).
	ErrInvalid = errors.New("invalid request")
	// ErrUnusable: an object the job needs is missing, over the byte cap
	// or not a usable image, and nothing the worker does will change that.
	ErrUnusable = errors.New("unusable object")
)

// safeID is what an id must look like to become part of an object key.
var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// CheckID returns an error wrapping ErrInvalid unless v may become a key
// segment: 1-128 letters, digits, '-' or '_', not starting with either.
func CheckID(field, v string) error {
	if !safeID.MatchString(v) {
		return fmt.Errorf("%w: %s %q: want 1-128 letters, digits, '-' or '_'", ErrInvalid, field, v)
	}
	return nil
}

// Placement is a print area: its physical size and DPI thresholds.
type Placement struct {
	ID, Name          string
	WidthIn, HeightIn float64
	MinDPI            int // below: rejected for this placement; 0 means no minimum
	RecommendedDPI    int // below: a warning; 0 means the minimum
}

// PrintDPI is the resolution a print file for p is rendered at: the
// recommended DPI, else the minimum, else fallback.
func (p Placement) PrintDPI(fallback int) int {
	switch {
	case p.RecommendedDPI > 0:
		return p.RecommendedDPI
	case p.MinDPI > 0:
		return p.MinDPI
	}
	return fallback
}
