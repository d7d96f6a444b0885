package app_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/printfleet/printfleet/workers/images/internal/app"
	"github.com/printfleet/printfleet/workers/images/internal/blob"
	"github.com/printfleet/printfleet/workers/images/internal/domain"
	"github.com/printfleet/printfleet/workers/images/internal/events"
	"github.com/printfleet/printfleet/workers/images/internal/fixture"
	"github.com/printfleet/printfleet/workers/images/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var front = domain.Placement{ID: "front", Name: "Front", WidthIn: 2, HeightIn: 2, MinDPI: 20, RecommendedDPI: 40}

func newApp(opt app.Options, b app.Blob) *app.App {
	return app.New(opt, b, events.NewPublisher(&testenv.Publisher{}), testenv.Discard)
}

// The worker's whole design path on a 100,000×100,000 bomb: rejected, and
// resident memory grows by less than 50 MB.
func TestBombThroughWorkerKeepsRSSFlat(t *testing.T) {
	store := testenv.NewBlob()
	a := newApp(testenv.Options(), store)
	_ = store.Put(context.Background(), testenv.Designs, "bomb.png", fixture.PNGBomb(100_000, 100_000), "")
	in := domain.DesignUpload{DesignID: "bomb", Bucket: testenv.Designs, ObjectKey: "bomb.png"}
	runtime.GC()
	before := testenv.RSSKB(t)
	out, err := a.ProcessDesign(context.Background(), in)
	after := testenv.RSSKB(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RSS %d kB -> %d kB (%+d kB)", before, after, after-before)
	if out.Report.Verdict != domain.VerdictRejected {
		t.Fatalf("bomb verdict %s", out.Report.Verdict)
	}
	if grow := after - before; grow > 50*1024 {
		t.Errorf("RSS grew by %d kB, want < 50 MB", grow)
	}
}

// Outputs land in the real S3 server with the right content types, and the
// same input processed again (a redelivery) leaves the same keys and ETags.
func TestOutputsInS3AreIdempotent(t *testing.T) {
	t.Parallel()
	env := testenv.NewS3(t)
	opt := testenv.Options()
	opt.DesignsBucket, opt.RendersBucket = env.Designs, env.Renders
	a := newApp(opt, blob.New(env.Client))
	env.Put(t, env.Designs, "u/art.png", fixture.PNG(120, 90, true))
	in := domain.DesignUpload{DesignID: "d-s3", Bucket: env.Designs, ObjectKey: "u/art.png", Placements: []domain.Placement{front}}

	run := func() (domain.DesignResult, domain.PrintFile, map[string]string) {
		out, err := a.ProcessDesign(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if !out.Ready() || out.Report.Outputs == nil {
			t.Fatalf("design %s (%q), want ready with outputs", out.Report.Verdict, out.Report.Problems)
		}
		pf, err := a.RenderItem(context.Background(), "o-s3", domain.RenderItem{
			ItemID: "i-1", DesignKey: out.Report.Outputs.Master,
			Placement: &domain.Placement{WidthIn: 1.5, HeightIn: 2, RecommendedDPI: 50},
		})
		if err != nil {
			t.Fatal(err)
		}
		o := out.Report.Outputs
		want := map[string]string{
			o.Master: "image/png", o.Thumbnail: "image/webp", o.Preview: "image/webp",
			out.ReportKey: "application/json", pf.PrintFileKey: "image/png", pf.MockupKey: "image/jpeg",
		}
		etags := map[string]string{}
		for key, ct := range want {
			info := env.Stat(t, env.Renders, key)
			if info.ContentType != ct || info.Size == 0 {
				t.Errorf("%s: content type %q, %d bytes; want %q", key, info.ContentType, info.Size, ct)
			}
			etags[key] = info.ETag
		}
		return out, pf, etags
	}
	out1, pf1, tags1 := run()
	out2, pf2, tags2 := run()
	if out1.Report.Outputs.Master != out2.Report.Outputs.Master || pf1.PrintFileKey != pf2.PrintFileKey {
		t.Errorf("keys changed between deliveries")
	}
	if len(tags1) != 6 {
		t.Errorf("%d distinct outputs, want 6", len(tags1))
	}
	for k, v := range tags1 {
		if tags2[k] != v {
			t.Errorf("%s: ETag %s then %s", k, v, tags2[k])
		}
	}
	if pf1.WidthPx != 75 || pf1.HeightPx != 100 {
		t.Errorf("print file %dx%d, want 75x100", pf1.WidthPx, pf1.HeightPx)
	}
}
