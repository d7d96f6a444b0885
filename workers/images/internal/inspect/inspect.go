// Package inspect decides whether an uploaded file may be decoded at all. It
// identifies the format from magic bytes, parses the dimensions from the
// PNG IHDR, JPEG SOFn or WebP VP8/VP8L/VP8X header itself, checks that the
// file is structurally complete, and refuses anything over the pixel cap —
// all without decoding a pixel, so a decompression bomb never reaches the
// image library. It also judges a design's effective DPI against print areas.
// It is pure: no I/O, no cgo.
package inspect

import (
	"errors"
	"fmt"
)

// Format is a supported image format.
type Format string

// Supported formats, named as the DesignProcessed event reports them.
const (
	PNG  Format = "png"
	JPEG Format = "jpeg"
	WebP Format = "webp"
)

// ContentType is the format's media type.
func (f Format) ContentType() string {
	switch f {
	case PNG:
		return "image/png"
	case JPEG:
		return "image/jpeg"
	case WebP:
		return "image/webp"
	}
	return "application/octet-stream"
}

// Reason is why a file was rejected; it is a metric label, so the set is
// closed and small.
type Reason string

// Rejection reasons.
const (
	ReasonMissing           Reason = "missing"            // no object at the key
	ReasonTooLarge          Reason = "too_large"          // over the byte cap
	ReasonUnsupportedFormat Reason = "unsupported_format" // magic bytes are not PNG, JPEG or WebP, or a variant we refuse
	ReasonTruncated         Reason = "truncated"          // the file ends before its structure does
	ReasonMalformed         Reason = "malformed"          // the header contradicts itself
	ReasonTooManyPixels     Reason = "too_many_pixels"    // over the pixel cap (decompression bomb guard)
	ReasonLowDPI            Reason = "low_dpi"            // below the minimum DPI on every placement
	ReasonCorrupt           Reason = "corrupt"            // passed inspection but the decoder refused it
)

// Problem is a rejection: the file is bad, retrying will not help.
type Problem struct {
	Reason Reason
	Detail string
}

func (p *Problem) Error() string { return string(p.Reason) + ": " + p.Detail }

func problem(r Reason, format string, args ...any) *Problem {
	return &Problem{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// AsProblem returns the *Problem in err's chain, if any.
func AsProblem(err error) (*Problem, bool) {
	var p *Problem
	ok := errors.As(err, &p)
	return p, ok
}

// Header is what inspection learns without decoding.
type Header struct {
	Format Format
	// Width and Height are the stored dimensions, before EXIF orientation.
	Width, Height int
	// Orientation is the EXIF orientation, 1 (none) to 8.
	Orientation int
	HasAlpha    bool
	// Components is the number of colour channels the file declares (JPEG
	// 1/3/4, PNG 1–4), informational.
	Components int
}

// Oriented returns the dimensions after EXIF orientation is applied:
// orientations 5–8 swap width and height.
func (h Header) Oriented() (w, ht int) {
	if h.Orientation >= 5 && h.Orientation <= 8 {
		return h.Height, h.Width
	}
	return h.Width, h.Height
}

// Pixels is Width×Height.
func (h Header) Pixels() int64 { return int64(h.Width) * int64(h.Height) }

// Limits bound what may be decoded.
type Limits struct {
	MaxWidth, MaxHeight int   // per side, stored or oriented
	MaxPixels           int64 // width × height
}

// DefaultLimits caps a side at 12,000 px and the area at 150 MP.
var DefaultLimits = Limits{MaxWidth: 12_000, MaxHeight: 12_000, MaxPixels: 150_000_000}

// Allow checks h against the limits.
func (l Limits) Allow(h Header) error {
	if h.Width <= 0 || h.Height <= 0 {
		return problem(ReasonMalformed, "%s header declares %dx%d", h.Format, h.Width, h.Height)
	}
	long, short := max(h.Width, h.Height), min(h.Width, h.Height)
	maxLong, maxShort := max(l.MaxWidth, l.MaxHeight), min(l.MaxWidth, l.MaxHeight)
	if long > maxLong || short > maxShort {
		return problem(ReasonTooManyPixels, "%dx%d exceeds the %dx%d limit", h.Width, h.Height, l.MaxWidth, l.MaxHeight)
	}
	if l.MaxPixels > 0 && h.Pixels() > l.MaxPixels {
		return problem(ReasonTooManyPixels, "%dx%d is %.1f MP, over the %.1f MP limit",
			h.Width, h.Height, float64(h.Pixels())/1e6, float64(l.MaxPixels)/1e6)
	}
	return nil
}

// Sniff identifies the format from the first bytes.
func Sniff(b []byte) (Format, error) {
	switch {
	case len(b) >= 8 && string(b[:8]) == pngSignature:
		return PNG, nil
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return JPEG, nil
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP, nil
	}
	if len(b) < 12 {
		return "", problem(ReasonUnsupportedFormat, "%d bytes is too short to identify", len(b))
	}
	return "", problem(ReasonUnsupportedFormat, "magic bytes % x are not PNG, JPEG or WebP", b[:min(len(b), 8)])
}

// ReadHeader parses the header of a PNG, JPEG or WebP file. b may be only
// the file's beginning: a header cut short is reported as truncated. It
// neither checks limits nor that the rest of the file is there; Check does.
func ReadHeader(b []byte) (Header, error) {
	f, err := Sniff(b)
	if err != nil {
		return Header{}, err
	}
	var h Header
	switch f {
	case PNG:
		h, err = readPNG(b)
	case JPEG:
		h, _, err = readJPEG(b)
	case WebP:
		h, err = readWebP(b)
	}
	if err != nil {
		return Header{}, err
	}
	h.Format = f
	if h.Orientation < 1 || h.Orientation > 8 {
		h.Orientation = 1
	}
	return h, nil
}

// Check is the gate in front of the decoder: b is the whole file. It reads
// the header, applies the limits, and verifies the file is complete (PNG
// chunks through IEND, JPEG through EOI, WebP RIFF size within the data).
func Check(b []byte, l Limits) (Header, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return Header{}, err
	}
	if err := l.Allow(h); err != nil {
		return Header{}, err
	}
	switch h.Format {
	case PNG:
		err = completePNG(b)
	case JPEG:
		err = completeJPEG(b)
	case WebP:
		err = completeWebP(b)
	}
	if err != nil {
		return Header{}, err
	}
	return h, nil
}

func be16(b []byte) int { return int(b[0])<<8 | int(b[1]) }
func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func le16(b []byte) int { return int(b[0]) | int(b[1])<<8 }
func le24(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
