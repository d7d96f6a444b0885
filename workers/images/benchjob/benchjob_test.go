package benchjob_test

import (
	"context"
	"os/exec"
	"testing"

	"github.com/printfleet/printfleet/workers/images/benchjob"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
)

// small keeps the test quick; the benchmarks use DefaultSpec.
var small = benchjob.Spec{InputWidth: 450, InputHeight: 540, WidthIn: 1.4, HeightIn: 1.6, DPI: 300, ThumbSize: 64, PreviewSize: 200}

// The worker and the CLI make the same files: formats, sizes, alpha.
func TestRenderMatchesVipsCLI(t *testing.T) {
	if _, err := exec.LookPath("vips"); err != nil {
		t.Skip("vips CLI not installed")
	}
	src, err := benchjob.Input(small)
	if err != nil {
		t.Fatal(err)
	}
	got, err := benchjob.Render(src, small)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := benchjob.RenderWithVipsCLI(context.Background(), src, t.TempDir(), small)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		got, ref []byte
		w, h     int
		format   inspect.Format
	}{
		{"print file", got.PrintFile, ref.PrintFile, 420, 480, inspect.PNG},
		{"thumbnail", got.Thumbnail, ref.Thumbnail, 53, 64, inspect.WebP},
		{"preview", got.Preview, ref.Preview, 167, 200, inspect.WebP},
	} {
		for who, b := range map[string][]byte{"worker": c.got, "vips CLI": c.ref} {
			h, err := inspect.Check(b, inspect.DefaultLimits)
			if err != nil {
				t.Errorf("%s %s: %v", who, c.name, err)
				continue
			}
			if h.Format != c.format || h.Width != c.w || h.Height != c.h || !h.HasAlpha {
				t.Errorf("%s %s: %s %dx%d alpha %v, want %s %dx%d with alpha", who, c.name, h.Format, h.Width, h.Height, h.HasAlpha, c.format, c.w, c.h)
			}
		}
	}
}

// BenchmarkRenderPrintFile is the worker's job on a 4500×5400 PNG: print
// file on a 14×16 in area at 300 DPI plus a thumbnail and a preview.
func BenchmarkRenderPrintFile(b *testing.B) {
	spec := benchjob.DefaultSpec()
	src, err := benchjob.Input(spec)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := benchjob.Render(src, spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderWithVipsCLI is the same job with the vips CLI: the
// reference the worker is held against.
func BenchmarkRenderWithVipsCLI(b *testing.B) {
	if _, err := exec.LookPath("vips"); err != nil {
		b.Skip("vips CLI not installed")
	}
	spec := benchjob.DefaultSpec()
	src, err := benchjob.Input(spec)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := benchjob.RenderWithVipsCLI(context.Background(), src, dir, spec); err != nil {
			b.Fatal(err)
		}
	}
}
