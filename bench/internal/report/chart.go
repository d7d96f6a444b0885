package report

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Chart geometry.
const (
	chartW, chartH = 1100, 700
	plotL, plotR   = 80, 820 // plot area x range; the legend is to the right
	plotT, plotB   = 50, 640
)

var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xff, 0x7f, 0x0e, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0x00, 0x00, 0x00, 0xff}, {0x66, 0x99, 0x00, 0xff},
}

// logAxis maps [lo, hi] (decades) onto pixels [p0, p1] logarithmically.
type logAxis struct {
	lo, hi float64 // powers of ten
	p0, p1 int
}

func (a logAxis) px(v float64) int {
	f := (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	return a.p0 + int(math.Round(f*float64(a.p1-a.p0)))
}

// decadeRange is the smallest [10^a, 10^b] holding every value (> 0).
func decadeRange(vs []float64, defLo, defHi float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if v > 0 {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		return defLo, defHi
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	if lo == hi {
		hi *= 10
	}
	return lo, hi
}

// Guide is a horizontal line across the chart at a latency (a budget).
type Guide struct {
	Label string
	At    time.Duration
}

// Chart draws p99 (filled squares, joined per scenario) and p50 (hollow
// circles) latency against throughput, both axes logarithmic, for every
// row with a latency and a throughput in operations per second (not the
// render jobs, whose seconds would squash the rest), dashed guides at the
// budgets' latencies, and a legend of scenario groups.
func Chart(w io.Writer, title string, rows []Row, guides ...Guide) error {
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})

	var xs, ys []float64
	var plotted []Row
	for _, r := range rows {
		if r.Skipped == "" && r.Throughput > 0 && r.P99 > 0 && r.Unit != "jobs/s" {
			plotted = append(plotted, r)
			xs = append(xs, r.Throughput)
			ys = append(ys, ms(r.P99), ms(r.P50))
		}
	}
	xlo, xhi := decadeRange(xs, 1, 1e5)
	ylo, yhi := decadeRange(ys, 0.1, 1000)
	ax := logAxis{xlo, xhi, plotL, plotR}
	ay := logAxis{ylo, yhi, plotB, plotT}

	grid := color.RGBA{0xe0, 0xe0, 0xe0, 0xff}
	ink := color.RGBA{0x20, 0x20, 0x20, 0xff}
	for d := xlo; d <= xhi*1.0001; d *= 10 {
		x := ax.px(d)
		vline(img, x, plotT, plotB, grid)
		label(img, x-len(axisNum(d))*7/2, plotB+18, axisNum(d), ink)
	}
	for d := ylo; d <= yhi*1.0001; d *= 10 {
		y := ay.px(d)
		hline(img, plotL, plotR, y, grid)
		s := axisNum(d)
		label(img, plotL-8-len(s)*7, y+4, s, ink)
	}
	for _, g := range guides {
		v := ms(g.At)
		if v < ylo || v > yhi {
			continue
		}
		y := ay.px(v)
		for x := plotL; x < plotR; x += 8 {
			hline(img, x, min(x+4, plotR), y, color.RGBA{0x99, 0x99, 0x99, 0xff})
		}
		label(img, plotR-len(g.Label)*7-4, y-4, g.Label, color.RGBA{0x66, 0x66, 0x66, 0xff})
	}
	rect(img, plotL, plotT, plotR, plotB, ink)
	label(img, plotL, 18, title, ink)
	label(img, (plotL+plotR)/2-180, chartH-22, "throughput (successful operations per second, log scale)", ink)
	label(img, 8, plotT-10, "latency, ms (log scale)", ink)

	groups := map[string]color.RGBA{}
	var order []string
	for _, r := range plotted {
		g := group(r)
		if _, ok := groups[g]; !ok {
			groups[g] = palette[len(order)%len(palette)]
			order = append(order, g)
		}
	}
	// Join each group's p99 points in throughput order.
	last := map[string]image.Point{}
	for _, r := range sortedByThroughput(plotted) {
		c := groups[group(r)]
		p := image.Pt(ax.px(r.Throughput), ay.px(ms(r.P99)))
		if q, ok := last[group(r)]; ok {
			line(img, q, p, c)
		}
		last[group(r)] = p
	}
	for _, r := range plotted {
		c := groups[group(r)]
		x := ax.px(r.Throughput)
		square(img, x, ay.px(ms(r.P99)), 4, c)
		circle(img, x, ay.px(ms(r.P50)), 4, c)
	}
	// Legend.
	ly := plotT + 6
	label(img, plotR+20, ly, "square: p99  ring: p50", ink)
	for _, g := range order {
		ly += 20
		square(img, plotR+26, ly-4, 4, groups[g])
		label(img, plotR+38, ly, g, ink)
	}
	return png.Encode(w, img)
}

// WriteChart writes Chart to path.
func WriteChart(path, title string, rows []Row, guides ...Guide) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Chart(f, title, rows, guides...); err != nil {
		f.Close()
		return fmt.Errorf("chart: %w", err)
	}
	return f.Close()
}

func group(r Row) string {
	if r.Group != "" {
		return r.Group
	}
	return r.Scenario
}

func sortedByThroughput(rows []Row) []Row {
	out := append([]Row(nil), rows...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Throughput < out[j-1].Throughput; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func axisNum(v float64) string {
	switch {
	case v >= 1000:
		return thousands(int64(v))
	case v >= 1:
		return fmt.Sprintf("%g", v)
	default:
		return fmt.Sprintf("%g", v)
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

func rect(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	hline(img, x0, x1, y0, c)
	hline(img, x0, x1, y1, c)
	vline(img, x0, y0, y1, c)
	vline(img, x1, y0, y1, c)
}

func square(img *image.RGBA, cx, cy, r int, c color.RGBA) {
	fill(img, image.Rect(cx-r, cy-r, cx+r+1, cy+r+1), c)
}

func circle(img *image.RGBA, cx, cy, r int, c color.RGBA) {
	for a := 0.0; a < 2*math.Pi; a += 0.05 {
		img.SetRGBA(cx+int(math.Round(float64(r+1)*math.Cos(a))), cy+int(math.Round(float64(r+1)*math.Sin(a))), c)
	}
}

// line is Bresenham's, two pixels thick.
func line(img *image.RGBA, p, q image.Point, c color.RGBA) {
	dx, dy := abs(q.X-p.X), -abs(q.Y-p.Y)
	sx, sy := sign(q.X-p.X), sign(q.Y-p.Y)
	err := dx + dy
	for x, y := p.X, p.Y; ; {
		img.SetRGBA(x, y, c)
		img.SetRGBA(x, y+1, c)
		if x == q.X && y == q.Y {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x += sx
		}
		if e2 <= dx {
			err += dx
			y += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

func label(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
