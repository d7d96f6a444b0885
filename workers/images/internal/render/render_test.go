package render_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"github.com/printfleet/printfleet/workers/images/internal/fixture"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
	"github.com/printfleet/printfleet/workers/images/internal/render"
)

func TestMain(m *testing.M) {
	render.Startup(render.Config{ConcurrencyLevel: 1, MaxCacheMem: 16 << 20, MaxCacheSize: 16})
	os.Exit(m.Run())
}

func load(t *testing.T, b []byte) *render.Image {
	t.Helper()
	hdr, err := inspect.Check(b, inspect.DefaultLimits)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	im, err := render.Load(b, hdr)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(im.Close)
	return im
}

func png16(w, h int) []byte {
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA64(x, y, color.NRGBA64{R: uint16(x * 3000), G: uint16(y * 3000), B: 0x8000, A: 0xFFFF})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// webpFrom encodes a PNG as WebP with libvips, to feed the WebP loader and
// cross-check inspect's WebP parser on a real encoder's output.
func webpFrom(t *testing.T, src []byte, lossless bool) []byte {
	t.Helper()
	ref, err := vips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	p := vips.NewWebpExportParams()
	p.Lossless = lossless
	b, _, err := ref.ExportWebp(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cmykJPEG converts a PNG to a CMYK JPEG (no embedded profile) with libvips.
func cmykJPEG(t *testing.T, src []byte) []byte {
	t.Helper()
	ref, err := vips.NewImageFromBuffer(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if err := ref.ToColorSpace(vips.InterpretationCMYK); err != nil {
		t.Fatal(err)
	}
	p := vips.NewJpegExportParams()
	p.StripMetadata = true
	b, _, err := ref.ExportJpeg(p)
	if err != nil {
		t.Fatal(err)
	}
	if hdr, err := inspect.ReadHeader(b); err != nil || hdr.Components != 4 {
		t.Fatalf("fixture is not a 4-component JPEG: %+v %v", hdr, err)
	}
	return b
}

func greyAlphaPNG(w, h int) []byte {
	var buf bytes.Buffer
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		v := uint8(i)
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = v, v, v, uint8(i/4)
	}
	// Go writes NRGBA as colour type 6; rewrite it as grey+alpha (type 4)
	// through libvips to exercise the two-band path.
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	ref, err := vips.NewImageFromBuffer(buf.Bytes())
	if err != nil {
		panic(err)
	}
	defer ref.Close()
	if err := ref.ToColorSpace(vips.InterpretationBW); err != nil {
		panic(err)
	}
	b, _, err := ref.ExportPng(vips.NewPngExportParams())
	if err != nil {
		panic(err)
	}
	if b[25] != 4 {
		panic("not a grey+alpha PNG")
	}
	return b
}

func TestLoadNormalises(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    []byte
		w, h  int
		alpha bool
	}{
		{"png rgba keeps alpha", fixture.PNG(40, 20, true), 40, 20, true},
		{"png rgb", fixture.PNG(40, 20, false), 40, 20, false},
		{"png grey becomes sRGB", fixture.GrayPNG(16, 8), 16, 8, false},
		{"png 16-bit becomes 8-bit", png16(12, 10), 12, 10, false},
		{"png tRNS gains alpha", fixture.WithPNGChunk(fixture.PNG(5, 6, false), fixture.Chunk("tRNS", []byte{0, 0, 0, 0, 0, 0})), 5, 6, true},
		{"jpeg", fixture.JPEG(40, 20, 1), 40, 20, false},
		{"jpeg grey", fixture.GrayJPEG(16, 8), 16, 8, false},
		{"jpeg exif 6 rotates", fixture.JPEG(40, 20, 6), 20, 40, false},
		{"jpeg exif 8 rotates", fixture.JPEG(40, 20, 8), 20, 40, false},
		{"png eXIf 6 rotates", fixture.WithPNGChunk(fixture.PNG(40, 20, false), fixture.Chunk("eXIf", fixture.TIFFOrientation(6))), 20, 40, false},
		{"jpeg cmyk becomes sRGB", cmykJPEG(t, fixture.PNG(40, 20, false)), 40, 20, false},
		{"png grey+alpha", greyAlphaPNG(10, 12), 10, 12, true},
		{"webp lossless alpha", webpFrom(t, fixture.PNG(40, 20, true), true), 40, 20, true},
		{"webp lossy", webpFrom(t, fixture.PNG(40, 20, false), false), 40, 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr, err := inspect.Check(tt.in, inspect.DefaultLimits)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if ow, oh := hdr.Oriented(); ow != tt.w || oh != tt.h || hdr.HasAlpha != tt.alpha {
				t.Errorf("header oriented %dx%d alpha %v, want %dx%d alpha %v", ow, oh, hdr.HasAlpha, tt.w, tt.h, tt.alpha)
			}
			im, err := render.Load(tt.in, hdr)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			defer im.Close()
			if im.Width() != tt.w || im.Height() != tt.h || im.HasAlpha() != tt.alpha {
				t.Errorf("decoded %dx%d alpha %v, want %dx%d alpha %v", im.Width(), im.Height(), im.HasAlpha(), tt.w, tt.h, tt.alpha)
			}
			master, err := im.PNG()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(master))
			if err != nil {
				t.Fatal(err)
			}
			wantModel := color.RGBAModel
			if tt.alpha {
				wantModel = color.NRGBAModel
			}
			if cfg.Width != tt.w || cfg.Height != tt.h || cfg.ColorModel != wantModel {
				t.Errorf("master %dx%d %T, want %dx%d 8-bit %s", cfg.Width, cfg.Height, cfg.ColorModel, tt.w, tt.h, map[bool]string{true: "RGBA", false: "RGB"}[tt.alpha])
			}
			for _, c := range pngChunks(t, master) {
				switch c {
				case "eXIf", "iCCP", "tEXt", "zTXt", "iTXt":
					t.Errorf("master keeps metadata chunk %s", c)
				}
			}
		})
	}
}

func TestThumbnails(t *testing.T) {
	t.Parallel()
	im := load(t, fixture.PNG(600, 300, true))
	tests := []struct {
		size   int
		f      render.Format
		w, h   int
		format inspect.Format
		alpha  bool
	}{
		{256, render.FormatWebP, 256, 128, inspect.WebP, true},
		{100, render.FormatJPEG, 100, 50, inspect.JPEG, false},
		{1024, render.FormatWebP, 600, 300, inspect.WebP, true}, // never enlarged
	}
	for _, tt := range tests {
		b, err := im.Thumbnail(tt.size, tt.f)
		if err != nil {
			t.Fatalf("Thumbnail(%d, %s): %v", tt.size, tt.f, err)
		}
		hdr, err := inspect.Check(b, inspect.DefaultLimits)
		if err != nil {
			t.Fatalf("Check thumbnail: %v", err)
		}
		if hdr.Format != tt.format || hdr.Width != tt.w || hdr.Height != tt.h || hdr.HasAlpha != tt.alpha {
			t.Errorf("Thumbnail(%d, %s) = %+v, want %s %dx%d alpha %v", tt.size, tt.f, hdr, tt.format, tt.w, tt.h, tt.alpha)
		}
	}
	// The loaded image is untouched by deriving outputs from it.
	if im.Width() != 600 || im.Height() != 300 {
		t.Errorf("image is %dx%d after thumbnails", im.Width(), im.Height())
	}
}

func TestOutputsAreDeterministic(t *testing.T) {
	t.Parallel()
	src := fixture.JPEG(120, 80, 6)
	run := func() [][]byte {
		im := load(t, src)
		master, err := im.PNG()
		if err != nil {
			t.Fatal(err)
		}
		thumb, err := im.Thumbnail(64, render.FormatWebP)
		if err != nil {
			t.Fatal(err)
		}
		print, err := im.PrintFile(render.PrintSpec{WidthPx: 150, HeightPx: 150, DPI: 100})
		if err != nil {
			t.Fatal(err)
		}
		mock, err := im.Mockup(nil, render.MockupSpec{Size: 128, AreaAspect: 1, Format: render.FormatJPEG})
		if err != nil {
			t.Fatal(err)
		}
		return [][]byte{master, thumb, print, mock}
	}
	a, b := run(), run()
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("output %d differs between two runs on the same input", i)
		}
	}
}

func TestPrintFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		src    []byte
		wIn    float64
		hIn    float64
		dpi    int
		w, h   int
		design image.Rectangle // where the design lands
	}{
		// 60×30 design on a 4×3 in area at 50 DPI: 200×150 canvas, the
		// design scaled ×3.33 to 200×100, centred vertically.
		{"wide design, upscaled", fixture.PNG(60, 30, false), 4, 3, 50, 200, 150, image.Rect(0, 25, 200, 125)},
		// 300×300 design on a 2×4 in area at 60 DPI: 120×240, design 120×120.
		{"square design, downscaled", fixture.PNG(300, 300, true), 2, 4, 60, 120, 240, image.Rect(0, 60, 120, 180)},
		{"exact fit", fixture.PNG(90, 120, false), 3, 4, 30, 90, 120, image.Rect(0, 0, 90, 120)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := load(t, tt.src)
			spec, err := render.PrintSpecFor(tt.wIn, tt.hIn, tt.dpi)
			if err != nil {
				t.Fatal(err)
			}
			b, err := im.PrintFile(spec)
			if err != nil {
				t.Fatal(err)
			}
			if dpi := pngDPI(t, b); dpi != tt.dpi {
				t.Errorf("pHYs says %d DPI, want %d", dpi, tt.dpi)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Size(); got.X != tt.w || got.Y != tt.h {
				t.Fatalf("print file %v, want %dx%d", got, tt.w, tt.h)
			}
			if _, ok := img.(*image.NRGBA); !ok {
				t.Fatalf("print file is %T, want 8-bit RGBA", img)
			}
			alphaAt := func(x, y int) uint8 { return img.(*image.NRGBA).NRGBAAt(x, y).A }
			c := tt.design.Min.Add(tt.design.Size().Div(2))
			if a := alphaAt(c.X, c.Y); a == 0 {
				t.Errorf("design centre %v is transparent", c)
			}
			if tt.design.Min.Y > 0 {
				if a := alphaAt(tt.w/2, tt.design.Min.Y/2); a != 0 {
					t.Errorf("margin above the design has alpha %d, want transparent", a)
				}
				if a := alphaAt(tt.w/2, (tt.design.Max.Y+tt.h)/2); a != 0 {
					t.Errorf("margin below the design has alpha %d, want transparent", a)
				}
			}
		})
	}
}

func TestMockupIsAComposite(t *testing.T) {
	t.Parallel()
	// A solid red square design makes the composite easy to see.
	var red bytes.Buffer
	if err := png.Encode(&red, fixture.Solid(50, 50, color.NRGBA{R: 255, A: 255})); err != nil {
		t.Fatal(err)
	}
	design := load(t, red.Bytes())
	var photo bytes.Buffer
	if err := png.Encode(&photo, fixture.Solid(400, 500, color.NRGBA{R: 20, G: 120, B: 40, A: 255})); err != nil {
		t.Fatal(err)
	}
	product := load(t, photo.Bytes())

	tests := []struct {
		name    string
		product *render.Image
		w, h    int
		bg      color.RGBA // the product's colour away from the print area
	}{
		{"generated silhouette", nil, 256, 256, color.RGBA{0xF3, 0xF3, 0xF1, 0xFF}},
		{"product photo", product, 205, 256, color.RGBA{20, 120, 40, 0xFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := design.Mockup(tt.product, render.MockupSpec{Size: 256, AreaAspect: 1, Format: render.FormatJPEG})
			if err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if s := img.Bounds().Size(); s.X != tt.w || s.Y != tt.h {
				t.Fatalf("mockup %v, want %dx%d", s, tt.w, tt.h)
			}
			// The centre of the print area shows the design (red); a corner
			// shows the product.
			cx, cy := tt.w/2, int(float64(tt.h)*0.24)+int(float64(tt.w)*0.38)/2
			if !near(img.At(cx, cy), color.RGBA{255, 0, 0, 255}) {
				t.Errorf("print area centre is %v, want the red design", img.At(cx, cy))
			}
			if !near(img.At(2, 2), tt.bg) {
				t.Errorf("corner is %v, want the product %v", img.At(2, 2), tt.bg)
			}
		})
	}
}

func TestLoadRefusesCorruptData(t *testing.T) {
	t.Parallel()
	good := fixture.PNG(64, 64, false)
	// Garble the compressed pixel data but keep every chunk's CRC right, so
	// only the decoder can tell.
	corrupt := append([]byte{}, good...)
	idat := bytes.Index(corrupt, []byte("IDAT"))
	n := int(binary.BigEndian.Uint32(corrupt[idat-4:]))
	for i := idat + 4 + 2; i < idat+4+n-4; i++ {
		corrupt[i] = byte(i * 31)
	}
	crc := fixture.Chunk("IDAT", corrupt[idat+4:idat+4+n])
	copy(corrupt[idat-4:], crc)

	hdr, err := inspect.Check(corrupt, inspect.DefaultLimits)
	if err != nil {
		t.Fatalf("Check: %v (the structure is intact; only decoding can tell)", err)
	}
	if _, err := render.Load(corrupt, hdr); !render.IsDecodeError(err) {
		t.Errorf("Load(corrupt) = %v, want a DecodeError", err)
	}

	// A header that disagrees with the decoder is refused before decoding.
	hdr, _ = inspect.Check(good, inspect.DefaultLimits)
	hdr.Width = 32
	if _, err := render.Load(good, hdr); !render.IsDecodeError(err) {
		t.Errorf("Load with a mismatched header = %v, want a DecodeError", err)
	}
}

func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) bool { x := int(a>>8) - int(b); return x > -24 && x < 24 }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func pngChunks(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for off := 8; off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		out = append(out, string(b[off+4:off+8]))
		off += 12 + n
	}
	return out
}

// pngDPI reads the pHYs chunk (pixels per metre) as dots per inch.
func pngDPI(t *testing.T, b []byte) int {
	t.Helper()
	i := bytes.Index(b, []byte("pHYs"))
	if i < 0 {
		t.Fatal("no pHYs chunk")
	}
	ppm := binary.BigEndian.Uint32(b[i+4:])
	if b[i+12] != 1 {
		t.Fatalf("pHYs unit %d, want metres", b[i+12])
	}
	return int(float64(ppm)*0.0254 + 0.5)
}
