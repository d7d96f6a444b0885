package render

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"sort"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/printfleet/printfleet/workers/images/internal/inspect"
)

// MockupSpec places a design on a product image.
type MockupSpec struct {
	// Size is the mockup's longer side in pixels.
	Size int
	// AreaAspect is the print area's width/height (e.g. 15/18 for a 15×18 in
	// front print); the design is fitted inside an area of that shape.
	AreaAspect float64
	Format     Format
}

// The print area on the product image, as fractions of the product image:
// centred horizontally, its top at areaTop, at most areaMaxW wide and
// areaMaxH tall. These match the generated silhouette's chest.
const (
	areaTop  = 0.24
	areaMaxW = 0.38
	areaMaxH = 0.50
)

// Mockup composites the image (the design) over product, the product's
// photo decoded with Load, or over a generated plain silhouette when
// product is nil. The result is flattened onto white.
func (im *Image) Mockup(product *Image, spec MockupSpec) ([]byte, error) {
	if spec.Size <= 0 {
		return nil, fmt.Errorf("mockup: size %d", spec.Size)
	}
	if !(spec.AreaAspect > 0) || math.IsInf(spec.AreaAspect, 0) {
		spec.AreaAspect = 1
	}
	if product == nil {
		sil, err := silhouette()
		if err != nil {
			return nil, err
		}
		defer sil.Close()
		product = sil
	}
	base, err := product.copyRef()
	if err != nil {
		return nil, err
	}
	defer base.Close()
	if err := base.ThumbnailWithSize(spec.Size, spec.Size, vips.InterestingNone, vips.SizeBoth); err != nil {
		return nil, fmt.Errorf("mockup: fit product: %w", err)
	}
	if base.HasAlpha() {
		if err := base.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
			return nil, fmt.Errorf("mockup: flatten product: %w", err)
		}
	}
	bw, bh := float64(base.Width()), float64(base.Height())
	areaW, areaH := bw*areaMaxW, bw*areaMaxW/spec.AreaAspect
	if areaH > bh*areaMaxH {
		areaH = bh * areaMaxH
		areaW = areaH * spec.AreaAspect
	}
	d, err := im.copyRef()
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if err := d.ThumbnailWithSize(max(1, int(areaW)), max(1, int(areaH)), vips.InterestingNone, vips.SizeBoth); err != nil {
		return nil, fmt.Errorf("mockup: fit design: %w", err)
	}
	x := int(math.Round(bw/2)) - d.Width()/2
	y := int(math.Round(bh*areaTop + (areaH-float64(d.Height()))/2))
	if err := base.Composite(d, vips.BlendModeOver, x, y); err != nil {
		return nil, fmt.Errorf("mockup: composite: %w", err)
	}
	if base.HasAlpha() { // composite adds one
		if err := base.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
			return nil, fmt.Errorf("mockup: flatten: %w", err)
		}
	}
	return encode(base, spec.Format)
}

var (
	silhouetteOnce sync.Once
	silhouettePNG  []byte
	silhouetteErr  error
)

// silhouette is a plain T-shirt shape on a light background, drawn once in
// Go and decoded with libvips for each mockup (the ImageRef is not shared
// across goroutines).
func silhouette() (*Image, error) {
	b, err := SilhouettePNG()
	if err != nil {
		return nil, fmt.Errorf("silhouette: %w", err)
	}
	hdr, err := inspect.Check(b, inspect.DefaultLimits)
	if err != nil {
		return nil, fmt.Errorf("silhouette: %w", err)
	}
	return Load(b, hdr)
}

// SilhouettePNG returns the generated product silhouette (for previews and
// tests).
func SilhouettePNG() ([]byte, error) {
	silhouetteOnce.Do(func() {
		silhouettePNG, silhouetteErr = drawSilhouette(1024)
	})
	return silhouettePNG, silhouetteErr
}

// shirt is a T-shirt outline on a 1000×1000 grid.
var shirt = [][2]float64{
	{305, 110}, {400, 85}, {440, 120}, {500, 140}, {560, 120}, {600, 85}, {695, 110},
	{880, 250}, {805, 385}, {730, 330}, {730, 930}, {270, 930}, {270, 330},
	{195, 385}, {120, 250},
}

// drawSilhouette fills the outline with an even-odd scanline fill.
func drawSilhouette(size int) ([]byte, error) {
	bg := color.NRGBA{R: 0xF3, G: 0xF3, B: 0xF1, A: 0xFF}
	fg := color.NRGBA{R: 0x9A, G: 0xA5, B: 0xB1, A: 0xFF} // heather grey
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	s := float64(size) / 1000
	for y := range size {
		fy := (float64(y) + 0.5) / s
		var xs []float64
		for i := range shirt {
			a, b := shirt[i], shirt[(i+1)%len(shirt)]
			if (a[1] <= fy) != (b[1] <= fy) {
				xs = append(xs, (a[0]+(fy-a[1])*(b[0]-a[0])/(b[1]-a[1]))*s)
			}
		}
		sort.Float64s(xs)
		row := img.Pix[y*img.Stride : (y+1)*img.Stride]
		for x := range size {
			c := bg
			fx := float64(x) + 0.5
			inside := false
			for _, v := range xs {
				if v <= fx {
					inside = !inside
				}
			}
			if inside {
				c = fg
			}
			row[x*4], row[x*4+1], row[x*4+2], row[x*4+3] = c.R, c.G, c.B, c.A
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
