// Package render is the libvips side of the image worker (through govips):
// it decodes a file that inspect has already let through, normalises it
// (EXIF orientation applied, sRGB, alpha kept, metadata stripped) and makes
// the outputs — a master PNG, thumbnails, a print file at a physical size
// and DPI, and a mockup on a product image. Outputs are deterministic: the
// same input and options give the same bytes.
package render

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/printfleet/printfleet/workers/images/internal/inspect"
)

// Config bounds libvips' memory and threads. It is process-wide: the first
// Startup wins.
type Config struct {
	// ConcurrencyLevel is libvips' worker threads per pipeline; 0 means
	// runtime.NumCPU().
	ConcurrencyLevel int `env:"CONCURRENCY, default=0"`
	// MaxCacheMem and MaxCacheSize bound the operation cache (bytes,
	// operations). The worker never repeats an operation, so a small cache
	// costs nothing and keeps memory flat.
	MaxCacheMem  int `env:"MAX_CACHE_MEM, default=33554432"`
	MaxCacheSize int `env:"MAX_CACHE_SIZE, default=64"`
	// DiscThreshold: decoded images larger than this many bytes are held
	// in a temporary file instead of memory (libvips' VIPS_DISC_THRESHOLD),
	// which bounds memory per job for images near the pixel cap.
	DiscThreshold int64 `env:"DISC_THRESHOLD, default=104857600"`
}

var startOnce sync.Once

// Startup starts libvips once per process with cfg's limits, blocks the
// loaders libvips marks untrusted, and routes libvips logging to warnings
// only.
func Startup(cfg Config) {
	startOnce.Do(func() {
		if cfg.DiscThreshold > 0 {
			_ = os.Setenv("VIPS_DISC_THRESHOLD", strconv.FormatInt(cfg.DiscThreshold, 10))
		}
		// Only PNG, JPEG and WebP ever reach libvips (inspect gates them);
		// this also refuses the exotic loaders if something slipped.
		_ = os.Setenv("VIPS_BLOCK_UNTRUSTED", "1")
		vips.LoggingSettings(func(string, vips.LogLevel, string) {}, vips.LogLevelError)
		level := cfg.ConcurrencyLevel
		if level <= 0 {
			level = runtime.NumCPU()
		}
		vips.Startup(&vips.Config{
			ConcurrencyLevel: level,
			MaxCacheMem:      cfg.MaxCacheMem,
			MaxCacheSize:     cfg.MaxCacheSize,
			MaxCacheFiles:    0,
		})
	})
}

// DecodeError means libvips could not decode a file that passed
// inspection: the file is bad, not the worker.
type DecodeError struct{ Err error }

func (e *DecodeError) Error() string { return "decode: " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// IsDecodeError reports whether err is a *DecodeError.
func IsDecodeError(err error) bool {
	var d *DecodeError
	return errors.As(err, &d)
}

// Image is a decoded, normalised image: oriented, 8-bit sRGB (with alpha
// when the source has it), no ICC profile or other metadata.
type Image struct {
	ref *vips.ImageRef
}

// Load decodes src, which must be the file inspect.Check returned hdr for:
// libvips' own idea of the size must match the header's, or the file is
// refused before any pixel is decoded. All pixels are then decoded once, so
// a corrupt file fails here (as a *DecodeError) and not halfway through an
// export.
func Load(src []byte, hdr inspect.Header) (*Image, error) {
	params := vips.NewImportParams()
	params.FailOnError.Set(true)
	ref, err := vips.LoadImageFromBuffer(src, params)
	if err != nil {
		return nil, &DecodeError{err}
	}
	im := &Image{ref: ref}
	if w, h := ref.Width(), ref.Height(); w != hdr.Width || h != hdr.Height {
		im.Close()
		return nil, &DecodeError{fmt.Errorf("decoder sees %dx%d, the header says %dx%d", w, h, hdr.Width, hdr.Height)}
	}
	if _, err := ref.Average(); err != nil { // decode every pixel now
		im.Close()
		return nil, &DecodeError{err}
	}
	if err := im.normalise(); err != nil {
		im.Close()
		return nil, &DecodeError{err}
	}
	// Every output is derived top to bottom (resize, embed, encode). The
	// hint lets libvips' shrink and reduce keep a line cache, as they do
	// when reading a file sequentially; without it a downscale of a decoded
	// image recomputes overlapping input lines and costs about four times
	// the CPU. The pixels are decoded already, so the hint constrains
	// nothing else.
	ref.SetString("vips-sequential", "1")
	return im, nil
}

// Close releases the image.
func (im *Image) Close() {
	if im != nil && im.ref != nil {
		im.ref.Close()
		im.ref = nil
	}
}

// Width is the oriented width.
func (im *Image) Width() int { return im.ref.Width() }

// Height is the oriented height.
func (im *Image) Height() int { return im.ref.Height() }

// HasAlpha reports whether the image has an alpha band.
func (im *Image) HasAlpha() bool { return im.ref.HasAlpha() }

func (im *Image) normalise() error {
	r := im.ref
	if err := r.AutoRotate(); err != nil {
		return fmt.Errorf("autorotate: %w", err)
	}
	if r.HasICCProfile() {
		if err := r.TransformICCProfile(vips.SRGBIEC6196621ICCProfilePath); err != nil {
			// A broken embedded profile: fall back to the colourspace's
			// standard conversion rather than refuse the design.
			if err := r.RemoveICCProfile(); err != nil {
				return fmt.Errorf("remove icc profile: %w", err)
			}
		}
	}
	if r.Interpretation() != vips.InterpretationSRGB || r.BandFormat() != vips.BandFormatUchar {
		if err := r.ToColorSpace(vips.InterpretationSRGB); err != nil {
			return fmt.Errorf("to sRGB: %w", err)
		}
	}
	if r.BandFormat() != vips.BandFormatUchar {
		if err := r.Cast(vips.BandFormatUchar); err != nil {
			return fmt.Errorf("cast to 8 bit: %w", err)
		}
	}
	// The pixels are sRGB now; the profile (if any) says so redundantly
	// and would make every later resize convert again.
	if r.HasICCProfile() {
		if err := r.RemoveICCProfile(); err != nil {
			return fmt.Errorf("remove icc profile: %w", err)
		}
	}
	return nil
}

// copyRef is a cheap lazy copy to derive an output from without touching im.
func (im *Image) copyRef() (*vips.ImageRef, error) {
	c, err := im.ref.Copy()
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return c, nil
}

// PNG is the master: the normalised image as a PNG without metadata.
func (im *Image) PNG() ([]byte, error) {
	return exportPNG(im.ref)
}

// Format is a thumbnail or preview encoding.
type Format string

// Thumbnail formats.
const (
	FormatWebP Format = "webp"
	FormatJPEG Format = "jpeg"
)

// ContentType is the format's media type.
func (f Format) ContentType() string {
	if f == FormatJPEG {
		return "image/jpeg"
	}
	return "image/webp"
}

// Thumbnail fits the image inside maxSide×maxSide (never enlarging it) and
// encodes it: WebP keeps alpha, JPEG flattens onto white.
func (im *Image) Thumbnail(maxSide int, f Format) ([]byte, error) {
	if maxSide <= 0 {
		return nil, fmt.Errorf("thumbnail: size %d", maxSide)
	}
	t, err := im.copyRef()
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if err := t.ThumbnailWithSize(maxSide, maxSide, vips.InterestingNone, vips.SizeDown); err != nil {
		return nil, fmt.Errorf("thumbnail %d: %w", maxSide, err)
	}
	return encode(t, f)
}

func encode(r *vips.ImageRef, f Format) ([]byte, error) {
	switch f {
	case FormatJPEG:
		if r.HasAlpha() {
			if err := r.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
				return nil, fmt.Errorf("flatten: %w", err)
			}
		}
		p := vips.NewJpegExportParams()
		p.StripMetadata = true
		p.Quality = 85
		p.OptimizeCoding = true
		b, _, err := r.ExportJpeg(p)
		if err != nil {
			return nil, fmt.Errorf("jpeg export: %w", err)
		}
		return b, nil
	case FormatWebP:
		p := vips.NewWebpExportParams()
		p.StripMetadata = true
		p.Quality = 82
		p.ReductionEffort = 4
		b, _, err := r.ExportWebp(p)
		if err != nil {
			return nil, fmt.Errorf("webp export: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("encode: unknown format %q", f)
}

// PNGCompression is the zlib level of every PNG written (libvips' default).
const PNGCompression = 6

func exportPNG(r *vips.ImageRef) ([]byte, error) {
	p := vips.NewPngExportParams()
	p.StripMetadata = true // resolution (pHYs) is still written
	p.Compression = PNGCompression
	p.Filter = vips.PngFilterNone
	b, _, err := r.ExportPng(p)
	if err != nil {
		return nil, fmt.Errorf("png export: %w", err)
	}
	return b, nil
}
