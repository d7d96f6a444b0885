package render

import (
	"fmt"
	"math"

	"github.com/davidbyttow/govips/v2/vips"
)

// PrintSpec is a print file's canvas: a placement's physical size at a DPI.
type PrintSpec struct {
	WidthPx, HeightPx int
	DPI               int
}

// PrintSpecFor sizes the canvas of a widthIn×heightIn placement at dpi.
func PrintSpecFor(widthIn, heightIn float64, dpi int) (PrintSpec, error) {
	if !(widthIn > 0 && heightIn > 0 && dpi > 0) || math.IsInf(widthIn+heightIn, 0) {
		return PrintSpec{}, fmt.Errorf("print spec: %gx%g in at %d DPI", widthIn, heightIn, dpi)
	}
	return PrintSpec{
		WidthPx:  int(math.Round(widthIn * float64(dpi))),
		HeightPx: int(math.Round(heightIn * float64(dpi))),
		DPI:      dpi,
	}, nil
}

// PrintFile fits the image inside the canvas (scaling up or down, keeping
// its aspect ratio), centres it on a transparent canvas of exactly
// spec.WidthPx×spec.HeightPx, and encodes a PNG whose pHYs chunk carries
// spec.DPI.
func (im *Image) PrintFile(spec PrintSpec) ([]byte, error) {
	if spec.WidthPx <= 0 || spec.HeightPx <= 0 || spec.DPI <= 0 {
		return nil, fmt.Errorf("print file: canvas %dx%d at %d DPI", spec.WidthPx, spec.HeightPx, spec.DPI)
	}
	r, err := im.copyRef()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if !r.HasAlpha() {
		if err := r.AddAlpha(); err != nil {
			return nil, fmt.Errorf("print file: add alpha: %w", err)
		}
	}
	if r.Width() != spec.WidthPx || r.Height() != spec.HeightPx {
		if err := r.ThumbnailWithSize(spec.WidthPx, spec.HeightPx, vips.InterestingNone, vips.SizeBoth); err != nil {
			return nil, fmt.Errorf("print file: fit: %w", err)
		}
	}
	if w, h := r.Width(), r.Height(); w > spec.WidthPx || h > spec.HeightPx { // rounding
		if err := r.ExtractArea(0, 0, min(w, spec.WidthPx), min(h, spec.HeightPx)); err != nil {
			return nil, fmt.Errorf("print file: crop: %w", err)
		}
	}
	if w, h := r.Width(), r.Height(); w != spec.WidthPx || h != spec.HeightPx {
		left, top := (spec.WidthPx-w)/2, (spec.HeightPx-h)/2
		if err := r.EmbedBackgroundRGBA(left, top, spec.WidthPx, spec.HeightPx, &vips.ColorRGBA{}); err != nil {
			return nil, fmt.Errorf("print file: centre: %w", err)
		}
	}
	// libvips keeps resolution in pixels per millimetre.
	ppmm := float64(spec.DPI) / 25.4
	out, err := r.CopyChangingResolution(ppmm, ppmm)
	if err != nil {
		return nil, fmt.Errorf("print file: set resolution: %w", err)
	}
	defer out.Close()
	return exportPNG(out)
}
