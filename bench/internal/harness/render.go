package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/printfleet/printfleet/bench/internal/hist"
	"github.com/printfleet/printfleet/bench/internal/report"
	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/s3"
	"github.com/printfleet/printfleet/workers/images/benchjob"
)

// renderBucket is where both sides put their files, as the worker does
// (printfleet-renders on the local S3), under a prefix of this run that is
// deleted afterwards.
const renderBucket = "printfleet-renders"

// render times the design job — a 4500×5400 PNG to a print file, a
// thumbnail and a preview, all three written to S3 — through the images
// worker's own code (benchjob.Render) and through the vips CLI
// (benchjob.RenderWithVipsCLI), alternating, after one untimed warm-up of
// each. Both sides upload the same way the worker's store does (single
// PUT with Content-MD5).
func (b *bench) render(ctx context.Context) {
	b.o.logf("render: worker vs vips CLI, %d jobs each", b.o.RenderRuns)
	skip := func(why string) {
		b.add(report.Row{Scenario: scVipsCLI, Baseline: true, Skipped: why})
		b.add(report.Row{Scenario: scRender, Skipped: why})
	}
	if _, err := exec.LookPath("vips"); err != nil {
		skip("vips CLI not installed")
		return
	}
	s3c, err := s3.New(s3.Config{Endpoint: "http://127.0.0.1:7070", AccessKey: "printfleet",
		SecretKey: config.Secret("printfleet-dev-secret"), Region: "us-east-1"})
	if err == nil {
		err = s3.EnsureBuckets(ctx, s3c, "us-east-1", renderBucket)
	}
	if err != nil {
		skip("S3: " + err.Error())
		return
	}
	spec := benchjob.DefaultSpec()
	src, err := benchjob.Input(spec)
	if err != nil {
		skip(err.Error())
		return
	}
	prefix := fmt.Sprintf("bench/%d/", time.Now().UnixNano())
	defer b.cleanS3(context.WithoutCancel(ctx), s3c, prefix)
	put := func(ctx context.Context, side string, i int, out benchjob.Outputs) error {
		for _, f := range []struct {
			name, ctype string
			body        []byte
		}{{"print.png", "image/png", out.PrintFile}, {"thumb.webp", "image/webp", out.Thumbnail}, {"preview.webp", "image/webp", out.Preview}} {
			key := fmt.Sprintf("%s%s/%d/%s", prefix, side, i, f.name)
			if _, err := s3c.PutObject(ctx, renderBucket, key, bytes.NewReader(f.body), int64(len(f.body)),
				minio.PutObjectOptions{ContentType: f.ctype, DisableMultipart: true, SendContentMd5: true}); err != nil {
				return fmt.Errorf("put %s: %w", key, err)
			}
		}
		return nil
	}
	cliDir, err := os.MkdirTemp(b.work, "vips-cli-")
	if err != nil {
		skip(err.Error())
		return
	}
	defer os.RemoveAll(cliDir)
	cli := func(i int) error {
		dir := filepath.Join(cliDir, fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		out, err := benchjob.RenderWithVipsCLI(ctx, src, dir, spec)
		if err != nil {
			return err
		}
		return put(ctx, "cli", i, out)
	}
	worker := func(i int) error {
		out, err := benchjob.Render(src, spec)
		if err != nil {
			return err
		}
		return put(ctx, "worker", i, out)
	}
	// Warm-up: libvips start-up in this process, the page cache for the CLI.
	if err := worker(-1); err != nil {
		skip("worker job: " + err.Error())
		return
	}
	if err := cli(-1); err != nil {
		skip("vips CLI job: " + err.Error())
		return
	}
	var hw, hc hist.Histogram
	var tw, tc time.Duration
	type side struct {
		job   func(int) error
		h     *hist.Histogram
		total *time.Duration
	}
	cliSide, workerSide := side{cli, &hc, &tc}, side{worker, &hw, &tw}
	for i := range b.o.RenderRuns {
		order := []side{cliSide, workerSide}
		if i%2 == 1 {
			order = []side{workerSide, cliSide}
		}
		for _, s := range order {
			t0 := time.Now()
			if err := s.job(i); err != nil {
				skip(err.Error())
				return
			}
			el := time.Since(t0)
			s.h.Record(el)
			*s.total += el
		}
	}
	row := func(name, group string, baselineRow bool, h *hist.Histogram, t time.Duration) report.Row {
		return report.Row{Scenario: name, Mode: fmt.Sprintf("%d jobs", h.Count()), Group: group, Baseline: baselineRow,
			Throughput: float64(h.Count()) / t.Seconds(), Unit: "jobs/s", Count: int64(h.Count()),
			P50: h.Quantile(0.5), P95: h.Quantile(0.95), P99: h.Quantile(0.99), Max: h.Max(),
			Note: "4500x5400 RGBA PNG -> print file (14x16 in @300 DPI, PNG) + 256 px and 1024 px WebP, all PUT to S3"}
	}
	c := b.add(row(scVipsCLI, "limit: vips CLI", true, &hc, tc))
	cp := *c
	b.renderCLI = &cp
	w := row(scRender, "design render", false, &hw, tw)
	w.Limit, w.LimitValue = "vips CLI", cp.Throughput
	if cp.Throughput > 0 {
		w.Ratio = w.Throughput / cp.Throughput
	}
	wr := b.add(w)
	wp := *wr
	b.renderW = &wp
}

func (b *bench) cleanS3(ctx context.Context, c *minio.Client, prefix string) {
	objs := c.ListObjects(ctx, renderBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	for o := range objs {
		if o.Err == nil {
			_ = c.RemoveObject(ctx, renderBucket, o.Key, minio.RemoveObjectOptions{})
		}
	}
}
