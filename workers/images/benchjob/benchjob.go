// Package benchjob is the image worker's benchmark job, exported for the
// fleet's benchmark harness: one design PNG (4500×5400 by default) turned
// into a print file (fitted and centred on a transparent canvas at the
// placement's size and DPI, PNG with the DPI in pHYs) plus a 256 px
// thumbnail and a 1024 px preview (WebP). Render runs it through the
// worker's own code (inspect, then libvips through govips, decoding once);
// RenderWithVipsCLI makes the same three files with the `vips` command-line
// tool, the reference the budget holds the worker against ("within 1.5× of
// libvips' own CLI doing the same work"). Both write the same formats with
// the same encoder settings.
//
// Use from a harness:
//
//	spec := benchjob.DefaultSpec()
//	src, _ := benchjob.Input(spec)
//	out, err := benchjob.Render(src, spec)                   // the worker
//	cli, err := benchjob.RenderWithVipsCLI(ctx, src, dir, spec) // the reference
//
// and in this module: go test -run '^$' -bench . ./benchjob
package benchjob

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/printfleet/printfleet/workers/images/internal/fixture"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

// Spec sizes the job.
type Spec struct {
	// InputWidth and InputHeight size the generated design (RGBA PNG).
	InputWidth, InputHeight int
	// WidthIn, HeightIn and DPI are the placement: the print canvas is
	// round(WidthIn×DPI) × round(HeightIn×DPI).
	WidthIn, HeightIn float64
	DPI               int
	// ThumbSize and PreviewSize bound the WebP outputs' longer side.
	ThumbSize, PreviewSize int
}

// DefaultSpec is a 4500×5400 design (15×18 in at 300 DPI) printed on a
// 14×16 in area at 300 DPI: the design is scaled to 4000×4800 and centred
// on a 4200×4800 canvas, so the job resizes and embeds, not only copies.
func DefaultSpec() Spec {
	return Spec{InputWidth: 4500, InputHeight: 5400, WidthIn: 14, HeightIn: 16, DPI: 300, ThumbSize: 256, PreviewSize: 1024}
}

// Outputs are the job's three files.
type Outputs struct {
	PrintFile []byte // PNG
	Thumbnail []byte // WebP
	Preview   []byte // WebP
}

// Input generates the design: an RGBA PNG of spec's input size with
// gradients, a grid and soft alpha edges (content that does not compress to
// nothing), deterministic.
func Input(spec Spec) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, fixture.Pattern(spec.InputWidth, spec.InputHeight, true)); err != nil {
		return nil, fmt.Errorf("benchjob input: %w", err)
	}
	return buf.Bytes(), nil
}

// Vips is the libvips configuration Render starts with (once per process):
// the worker's defaults.
var Vips = render.Config{MaxCacheMem: 32 << 20, MaxCacheSize: 64, DiscThreshold: 100 << 20}

// Render runs the job through the worker's code path: inspection (magic
// bytes, header, pixel cap, completeness), one decode, then the print file,
// thumbnail and preview from the decoded image.
func Render(src []byte, spec Spec) (Outputs, error) {
	render.Startup(Vips)
	hdr, err := inspect.Check(src, inspect.DefaultLimits)
	if err != nil {
		return Outputs{}, fmt.Errorf("benchjob: %w", err)
	}
	printSpec, err := render.PrintSpecFor(spec.WidthIn, spec.HeightIn, spec.DPI)
	if err != nil {
		return Outputs{}, fmt.Errorf("benchjob: %w", err)
	}
	im, err := render.Load(src, hdr)
	if err != nil {
		return Outputs{}, fmt.Errorf("benchjob: %w", err)
	}
	defer im.Close()
	var out Outputs
	if out.PrintFile, err = im.PrintFile(printSpec); err != nil {
		return Outputs{}, fmt.Errorf("benchjob: %w", err)
	}
	if out.Thumbnail, err = im.Thumbnail(spec.ThumbSize, render.FormatWebP); err != nil {
		return Outputs{}, fmt.Errorf("benchjob: %w", err)
	}
	if out.Preview, err = im.Thumbnail(spec.PreviewSize, render.FormatWebP); err != nil {
		return Outputs{}, fmt.Errorf("benchjob: %w", err)
	}
	return out, nil
}

// RenderWithVipsCLI makes the same three files with the `vips` CLI (found
// on PATH), working in dir (intermediates and outputs are left there):
//
//	vips thumbnail in.png fit.v W --height H --size both        # fit into the canvas
//	vips embed fit.v canvas.v X Y W H --extend background --background "0 0 0 0"
//	vips copy canvas.v print.png[compression=6,filter=none,strip] --xres R --yres R
//	vips thumbnail in.png thumb.webp[Q=82,effort=4,strip] 256 --size down
//	vips thumbnail in.png preview.webp[Q=82,effort=4,strip] 1024 --size down
//
// Each command decodes its input again, as a script would; the worker
// decodes once. src is written to dir/in.png first (not timed separately).
func RenderWithVipsCLI(ctx context.Context, src []byte, dir string, spec Spec) (Outputs, error) {
	hdr, err := inspect.Check(src, inspect.DefaultLimits)
	if err != nil {
		return Outputs{}, fmt.Errorf("benchjob cli: %w", err)
	}
	ps, err := render.PrintSpecFor(spec.WidthIn, spec.HeightIn, spec.DPI)
	if err != nil {
		return Outputs{}, fmt.Errorf("benchjob cli: %w", err)
	}
	in := filepath.Join(dir, "in.png")
	if err := os.WriteFile(in, src, 0o600); err != nil {
		return Outputs{}, fmt.Errorf("benchjob cli: %w", err)
	}
	// Where `vips thumbnail --size both` puts the design: the same fit the
	// worker computes, so the embed offsets match.
	fw, fh := fit(hdr.Width, hdr.Height, ps.WidthPx, ps.HeightPx)
	itoa := strconv.Itoa
	ppmm := strconv.FormatFloat(float64(ps.DPI)/25.4, 'f', -1, 64)
	p := func(name string) string { return filepath.Join(dir, name) }
	steps := [][]string{
		{"thumbnail", in, p("fit.v"), itoa(ps.WidthPx), "--height", itoa(ps.HeightPx), "--size", "both"},
		{"embed", p("fit.v"), p("canvas.v"), itoa((ps.WidthPx - fw) / 2), itoa((ps.HeightPx - fh) / 2), itoa(ps.WidthPx), itoa(ps.HeightPx),
			"--extend", "background", "--background", "0 0 0 0"},
		{"copy", p("canvas.v"), p("print.png") + "[compression=" + itoa(render.PNGCompression) + ",filter=none,strip]", "--xres", ppmm, "--yres", ppmm},
		{"thumbnail", in, p("thumb.webp") + "[Q=82,effort=4,strip]", itoa(spec.ThumbSize), "--size", "down"},
		{"thumbnail", in, p("preview.webp") + "[Q=82,effort=4,strip]", itoa(spec.PreviewSize), "--size", "down"},
	}
	// Render sets VIPS_BLOCK_UNTRUSTED in this process, which would block
	// the CLI's loading of its own .v intermediates.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VIPS_BLOCK_UNTRUSTED=") {
			env = append(env, kv)
		}
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, "vips", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return Outputs{}, fmt.Errorf("benchjob cli: vips %s: %w: %s", args[0], err, out)
		}
	}
	var out Outputs
	for _, f := range []struct {
		dst  *[]byte
		name string
	}{{&out.PrintFile, "print.png"}, {&out.Thumbnail, "thumb.webp"}, {&out.Preview, "preview.webp"}} {
		if *f.dst, err = os.ReadFile(p(f.name)); err != nil {
			return Outputs{}, fmt.Errorf("benchjob cli: %w", err)
		}
	}
	return out, nil
}

// fit is the size of a w×h image scaled to fit inside bw×bh, rounded as
// libvips' thumbnail rounds it.
func fit(w, h, bw, bh int) (int, int) {
	hs, vs := float64(bw)/float64(w), float64(bh)/float64(h)
	if hs < vs {
		return bw, max(1, int(float64(h)*hs+0.5))
	}
	return max(1, int(float64(w)*vs+0.5)), bh
}
