package inspect_test

import (
	"bufio"
	"bytes"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/workers/images/internal/fixture"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
)

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want inspect.Format
	}{
		{"png", fixture.PNG(4, 4, true), inspect.PNG},
		{"jpeg", fixture.JPEG(4, 4, 1), inspect.JPEG},
		{"webp", fixture.WebPVP8L(4, 4, false), inspect.WebP},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), ""},
		{"bmp", append([]byte("BM"), make([]byte, 60)...), ""},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>`), ""},
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), ""},
		{"riff but avi", []byte("RIFF\x10\x00\x00\x00AVI LIST\x00\x00"), ""},
		{"png signature cut", []byte("\x89PNG\r\n"), ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inspect.Sniff(tt.in)
			if got != tt.want {
				t.Fatalf("Sniff = %q, want %q", got, tt.want)
			}
			if tt.want == "" {
				wantReason(t, err, inspect.ReasonUnsupportedFormat)
			} else if err != nil {
				t.Fatalf("Sniff: %v", err)
			}
		})
	}
}

// The hand-written parsers agree with the standard library's decoders on
// real encoded files.
func TestReadHeaderAgreesWithStdlib(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{
		"png rgba":         fixture.PNG(37, 19, true),
		"png rgb":          fixture.PNG(19, 37, false),
		"png gray":         fixture.GrayPNG(64, 3),
		"jpeg ycbcr":       fixture.JPEG(33, 17, 1),
		"jpeg gray":        fixture.GrayJPEG(8, 300),
		"jpeg with exif":   fixture.JPEG(40, 20, 6),
		"png 1px":          fixture.PNG(1, 1, true),
		"jpeg odd":         fixture.JPEG(1, 999, 1),
		"jpeg square exif": fixture.JPEG(16, 16, 3),
	}
	for name, b := range files {
		t.Run(name, func(t *testing.T) {
			cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("stdlib DecodeConfig: %v", err)
			}
			h, err := inspect.Check(b, inspect.DefaultLimits)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if h.Width != cfg.Width || h.Height != cfg.Height {
				t.Errorf("Check = %dx%d, stdlib says %dx%d", h.Width, h.Height, cfg.Width, cfg.Height)
			}
		})
	}
}

func TestReadHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          []byte
		format      inspect.Format
		w, h        int // stored
		ow, oh      int // oriented
		orientation int
		alpha       bool
	}{
		{"png rgba", fixture.PNG(30, 20, true), inspect.PNG, 30, 20, 30, 20, 1, true},
		{"png rgb", fixture.PNG(30, 20, false), inspect.PNG, 30, 20, 30, 20, 1, false},
		{"png with tRNS has alpha", fixture.WithPNGChunk(fixture.PNG(5, 6, false), fixture.Chunk("tRNS", []byte{0, 0, 0, 0, 0, 0})), inspect.PNG, 5, 6, 5, 6, 1, true},
		{"png eXIf rotate 90", fixture.WithPNGChunk(fixture.PNG(30, 20, false), fixture.Chunk("eXIf", fixture.TIFFOrientation(6))), inspect.PNG, 30, 20, 20, 30, 6, false},
		{"jpeg", fixture.JPEG(30, 20, 1), inspect.JPEG, 30, 20, 30, 20, 1, false},
		{"jpeg exif 6 swaps", fixture.JPEG(30, 20, 6), inspect.JPEG, 30, 20, 20, 30, 6, false},
		{"jpeg exif 8 swaps", fixture.JPEG(30, 20, 8), inspect.JPEG, 30, 20, 20, 30, 8, false},
		{"jpeg exif 3 keeps", fixture.JPEG(30, 20, 3), inspect.JPEG, 30, 20, 30, 20, 3, false},
		{"webp lossless", fixture.WebPVP8L(300, 200, true), inspect.WebP, 300, 200, 300, 200, 1, true},
		{"webp lossy", fixture.WebPVP8(640, 480), inspect.WebP, 640, 480, 640, 480, 1, false},
		{"webp extended", fixture.WebPVP8X(123, 45, 123, 45, 1, true), inspect.WebP, 123, 45, 123, 45, 1, true},
		{"webp extended exif", fixture.WebPVP8X(123, 45, 123, 45, 5, false), inspect.WebP, 123, 45, 45, 123, 5, false},
		{"webp max side", fixture.WebPVP8L(16384, 1, false), inspect.WebP, 16384, 1, 16384, 1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := inspect.ReadHeader(tt.in)
			if err != nil {
				t.Fatalf("ReadHeader: %v", err)
			}
			ow, oh := h.Oriented()
			if h.Format != tt.format || h.Width != tt.w || h.Height != tt.h || ow != tt.ow || oh != tt.oh ||
				h.Orientation != tt.orientation || h.HasAlpha != tt.alpha {
				t.Errorf("got %s %dx%d oriented %dx%d orientation %d alpha %v, want %s %dx%d oriented %dx%d orientation %d alpha %v",
					h.Format, h.Width, h.Height, ow, oh, h.Orientation, h.HasAlpha,
					tt.format, tt.w, tt.h, tt.ow, tt.oh, tt.orientation, tt.alpha)
			}
		})
	}
}

// Every hostile or broken file is refused by Check, which never decodes.
func TestCheckRejects(t *testing.T) {
	t.Parallel()
	png := fixture.PNG(64, 64, true)
	jpg := fixture.JPEG(64, 64, 1)
	webp := fixture.WebPVP8L(64, 64, false)
	badCRC := append([]byte{}, png...)
	badCRC[20] ^= 0xFF // inside IHDR width
	tests := []struct {
		name string
		in   []byte
		want inspect.Reason
	}{
		{"png bomb 100000x100000", fixture.PNGBomb(100_000, 100_000), inspect.ReasonTooManyPixels},
		{"png bomb 2^31-1 wide", fixture.PNGBomb(1<<31-1, 1), inspect.ReasonTooManyPixels},
		{"png 12001 wide", fixture.PNGBomb(12_001, 10), inspect.ReasonTooManyPixels},
		{"png 12000x12500 (150 MP) over the side cap", fixture.PNGBomb(12_000, 12_500), inspect.ReasonTooManyPixels},
		{"valid 20000x20000 1-bit bomb", fixture.FullPNGBomb(20_000, 20_000), inspect.ReasonTooManyPixels},
		{"png width zero", fixture.PNGBomb(0, 10), inspect.ReasonMalformed},
		{"png IHDR checksum", badCRC, inspect.ReasonMalformed},
		{"png truncated in IHDR", png[:20], inspect.ReasonTruncated},
		{"png truncated in IDAT", png[:len(png)/2], inspect.ReasonTruncated},
		{"png without IEND", png[:len(png)-12], inspect.ReasonTruncated},
		{"png bad colour type", append(append([]byte("\x89PNG\r\n\x1a\n"), fixture.IHDR(4, 4, 8, 5)...), fixture.Chunk("IEND", nil)...), inspect.ReasonMalformed},
		{"png no IDAT", append(append([]byte("\x89PNG\r\n\x1a\n"), fixture.IHDR(4, 4, 8, 6)...), fixture.Chunk("IEND", nil)...), inspect.ReasonMalformed},
		{"apng", fixture.WithPNGChunk(png, fixture.Chunk("acTL", make([]byte, 8))), inspect.ReasonUnsupportedFormat},
		{"jpeg 65535x65535", fixture.JPEGHeader(65_535, 65_535), inspect.ReasonTooManyPixels},
		{"jpeg 13000x100", fixture.JPEGHeader(13_000, 100), inspect.ReasonTooManyPixels},
		{"jpeg height zero (DNL)", fixture.JPEGHeader(100, 0), inspect.ReasonMalformed},
		{"jpeg truncated in scan", jpg[:len(jpg)-200], inspect.ReasonTruncated},
		{"jpeg truncated in headers", jpg[:30], inspect.ReasonTruncated},
		{"jpeg soi only", []byte{0xFF, 0xD8, 0xFF}, inspect.ReasonTruncated},
		{"jpeg garbage after soi", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0, 0, 0x12, 0x34, 0x56}, inspect.ReasonMalformed},
		{"webp 16384x16384", fixture.WebPVP8L(16_384, 16_384, true), inspect.ReasonTooManyPixels},
		{"webp lossy 16383x16383", fixture.WebPVP8(16_383, 16_383), inspect.ReasonTooManyPixels},
		{"webp small canvas hides big frame", fixture.WebPVP8X(16, 16, 16_000, 16_000, 1, false), inspect.ReasonMalformed},
		{"webp huge canvas, small frame", fixture.WebPVP8X(16_000_000, 16_000_000, 16, 16, 1, false), inspect.ReasonMalformed},
		{"webp extended 16384x16384", fixture.WebPVP8X(16_384, 16_384, 16_384, 16_384, 1, true), inspect.ReasonTooManyPixels},
		{"webp truncated", webp[:len(webp)-3], inspect.ReasonTruncated},
		{"webp truncated header", webp[:14], inspect.ReasonTruncated},
		{"gif", []byte("GIF89a\x10\x27\x10\x27\x00\x00\x00;"), inspect.ReasonUnsupportedFormat},
		{"text", []byte("hello, this is not an image at all"), inspect.ReasonUnsupportedFormat},
		{"tiff", []byte("II*\x00\x08\x00\x00\x00\x00\x00\x00\x00"), inspect.ReasonUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := inspect.Check(tt.in, inspect.DefaultLimits)
			wantReason(t, err, tt.want)
			if h != (inspect.Header{}) {
				t.Errorf("Check returned header %+v with its error", h)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	lim := inspect.Limits{MaxWidth: 12_000, MaxHeight: 12_000, MaxPixels: 100_000_000}
	tests := []struct {
		w, h int
		ok   bool
	}{
		{12_000, 8_333, true},  // 99.996 MP
		{12_000, 8_334, false}, // 100.008 MP
		{8_334, 12_000, false},
		{12_000, 1, true},
		{12_001, 1, false},
		{1, 12_001, false},
		{1, 1, true},
		{0, 1, false},
	}
	for _, tt := range tests {
		err := lim.Allow(inspect.Header{Format: inspect.PNG, Width: tt.w, Height: tt.h})
		if (err == nil) != tt.ok {
			t.Errorf("Allow(%dx%d) = %v, want ok=%v", tt.w, tt.h, err, tt.ok)
		}
	}
}

// A PNG whose IHDR claims 100,000×100,000 RGBA (40 GB decoded) is refused
// while the process's resident memory grows by far less than 50 MB: the
// decision is made from the header alone.
func TestBombRejectedWithoutMemoryGrowth(t *testing.T) {
	bomb := fixture.PNGBomb(100_000, 100_000)
	full := fixture.FullPNGBomb(20_000, 20_000)
	runtime.GC()
	before := rssKB(t)
	for range 50 {
		for _, b := range [][]byte{bomb, full} {
			if _, err := inspect.Check(b, inspect.DefaultLimits); err == nil {
				t.Fatal("bomb accepted")
			}
		}
	}
	after := rssKB(t)
	t.Logf("RSS %d kB -> %d kB (%+d kB); bomb %d bytes, full bomb %d bytes", before, after, after-before, len(bomb), len(full))
	if grow := after - before; grow > 50*1024 {
		t.Errorf("RSS grew by %d kB inspecting a bomb, want < 50 MB", grow)
	}
}

// rssKB reads VmRSS from /proc/self/status.
func rssKB(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func wantReason(t *testing.T, err error, want inspect.Reason) {
	t.Helper()
	p, ok := inspect.AsProblem(err)
	if !ok {
		t.Fatalf("err = %v, want a %s problem", err, want)
	}
	if p.Reason != want {
		t.Fatalf("reason = %s (%s), want %s", p.Reason, p.Detail, want)
	}
}
