package amqpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/amqpapi"
	"github.com/printfleet/printfleet/workers/images/internal/app"
	"github.com/printfleet/printfleet/workers/images/internal/domain"
	"github.com/printfleet/printfleet/workers/images/internal/events"
	"github.com/printfleet/printfleet/workers/images/internal/fixture"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
	"github.com/printfleet/printfleet/workers/images/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	designs = testenv.Designs
	renders = testenv.Renders
)

// newHandlers is the worker's message side on in-memory storage and a
// recording publisher, with the real use cases and event encoding between.
func newHandlers(store *testenv.Blob, pub *testenv.Publisher) *amqpapi.Handlers {
	return amqpapi.New(app.New(testenv.Options(), store, events.NewPublisher(pub), testenv.Discard))
}

const rejectionsTotal = "printfleet_images_rejections_total"

var front = &eventsv1.PlacementSpec{PlacementId: "front", Name: "Front", WidthIn: 2, HeightIn: 2, MinDpi: 20, RecommendedDpi: 40}

func TestDesignVerdicts(t *testing.T) {
	png := fixture.PNG(80, 80, true)
	tests := []struct {
		name       string
		body       []byte // nil: no object
		placements []*eventsv1.PlacementSpec
		verdict    eventsv1.DesignVerdict
		reason     inspect.Reason
		problem    string // in the problems
	}{
		{"ready", png, []*eventsv1.PlacementSpec{front}, eventsv1.DesignVerdict_DESIGN_VERDICT_READY, "", ""},
		{"ready with a DPI warning", fixture.PNG(60, 60, false), []*eventsv1.PlacementSpec{front}, eventsv1.DesignVerdict_DESIGN_VERDICT_READY, "", "below the recommended 40 DPI"},
		{"ready jpeg, rotated", fixture.JPEG(90, 60, 6), nil, eventsv1.DesignVerdict_DESIGN_VERDICT_READY, "", ""},
		{"bomb", fixture.PNGBomb(100_000, 100_000), nil, eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED, inspect.ReasonTooManyPixels, "exceeds"},
		{"wrong magic bytes", []byte("GIF89a\x10\x00\x10\x00\x00\x00\x00;............"), nil, eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED, inspect.ReasonUnsupportedFormat, "not PNG, JPEG or WebP"},
		{"truncated", png[:len(png)/2], nil, eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED, inspect.ReasonTruncated, "PNG"},
		{"over the byte cap", append(append([]byte{}, png...), make([]byte, 1<<20)...), nil, eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED, inspect.ReasonTooLarge, "byte limit"},
		{"missing", nil, nil, eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED, inspect.ReasonMissing, "no object"},
		{"too few DPI everywhere", fixture.PNG(30, 30, false), []*eventsv1.PlacementSpec{front}, eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED, inspect.ReasonLowDPI, "below the minimum 20 DPI"},
		{"corrupt pixel data", corruptPNG(), nil, eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED, inspect.ReasonCorrupt, "could not be decoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, pub := testenv.NewBlob(), &testenv.Publisher{}
			h := newHandlers(store, pub)
			if tt.body != nil {
				_ = store.Put(context.Background(), designs, "up/"+tt.name, tt.body, "")
			}
			var before float64
			if tt.reason != "" {
				before = testenv.Counter(t, rejectionsTotal, "reason", string(tt.reason))
			}
			ev := &eventsv1.DesignUploaded{DesignId: "d-1", ObjectKey: "up/" + tt.name, Placements: tt.placements}
			if err := h.DesignUploaded(context.Background(), testenv.Delivery(t, eventsv1.KeyDesignUploaded, ev)); err != nil {
				t.Fatalf("handle: %v", err)
			}
			msgs := pub.All()
			if len(msgs) != 1 || msgs[0].Type != eventsv1.KeyDesignProcessed {
				t.Fatalf("published %v, want one DesignProcessed", msgs)
			}
			got := testenv.Unmarshal(t, msgs[0].Body, &eventsv1.DesignProcessed{})
			if got.GetVerdict() != tt.verdict || got.GetDesignId() != "d-1" {
				t.Fatalf("verdict %s for %s, want %s (problems %q)", got.GetVerdict(), got.GetDesignId(), tt.verdict, got.GetProblems())
			}
			if tt.problem != "" && !strings.Contains(strings.Join(got.GetProblems(), "|"), tt.problem) {
				t.Errorf("problems %q, want one mentioning %q", got.GetProblems(), tt.problem)
			}
			rep, ok := store.Object(renders, got.GetReportKey())
			if !ok || rep.ContentType != "application/json" {
				t.Fatalf("no JSON report at %q", got.GetReportKey())
			}
			var report domain.Report
			if err := json.Unmarshal(rep.Body, &report); err != nil {
				t.Fatal(err)
			}
			if tt.reason != "" {
				if report.Reason != string(tt.reason) || report.Verdict != domain.VerdictRejected {
					t.Errorf("report verdict %q reason %q, want rejected %s", report.Verdict, report.Reason, tt.reason)
				}
				if d := testenv.Counter(t, rejectionsTotal, "reason", string(tt.reason)) - before; d != 1 {
					t.Errorf("rejections_total{reason=%s} grew by %v, want 1", tt.reason, d)
				}
				if got.GetMasterKey() != "" || len(store.Keys()) != map[bool]int{true: 1, false: 2}[tt.body == nil] {
					t.Errorf("a rejection wrote %v, want only the report", store.Keys())
				}
				return
			}
			for key, ct := range map[string]string{got.GetMasterKey(): "image/png", got.GetThumbnailKey(): "image/webp", got.GetPreviewKey(): "image/webp"} {
				o, ok := store.Object(renders, key)
				if !ok || o.ContentType != ct {
					t.Errorf("output %q: stored=%v content type %q, want %q", key, ok, o.ContentType, ct)
					continue
				}
				if _, err := inspect.Check(o.Body, inspect.DefaultLimits); err != nil {
					t.Errorf("output %q does not pass inspection: %v", key, err)
				}
			}
			if !strings.HasPrefix(got.GetThumbnailKey(), "designs/d-1/") || !strings.HasSuffix(got.GetThumbnailKey(), "/thumb.webp") {
				t.Errorf("thumbnail key %q", got.GetThumbnailKey())
			}
			if report.Outputs == nil || report.Outputs.Master != got.GetMasterKey() {
				t.Errorf("report outputs %+v", report.Outputs)
			}
		})
	}
}

// The rotated JPEG reports its oriented size; placements get verdicts.
func TestDesignProcessedFields(t *testing.T) {
	t.Parallel()
	store, pub := testenv.NewBlob(), &testenv.Publisher{}
	h := newHandlers(store, pub)
	_ = store.Put(context.Background(), designs, "a.jpg", fixture.JPEG(90, 60, 6), "")
	back := &eventsv1.PlacementSpec{PlacementId: "back", Name: "Back", WidthIn: 3, HeightIn: 3, MinDpi: 25, RecommendedDpi: 30}
	ev := &eventsv1.DesignUploaded{DesignId: "d-2", ObjectKey: "a.jpg", Placements: []*eventsv1.PlacementSpec{front, back}}
	if err := h.DesignUploaded(context.Background(), testenv.Delivery(t, eventsv1.KeyDesignUploaded, ev)); err != nil {
		t.Fatal(err)
	}
	got := testenv.Unmarshal(t, pub.All()[0].Body, &eventsv1.DesignProcessed{})
	if got.GetFormat() != "jpeg" || got.GetWidthPx() != 60 || got.GetHeightPx() != 90 || got.GetHasAlpha() {
		t.Errorf("format %s %dx%d alpha %v, want jpeg 60x90 (oriented) no alpha", got.GetFormat(), got.GetWidthPx(), got.GetHeightPx(), got.GetHasAlpha())
	}
	want := map[string]struct {
		dpi     float64
		verdict string
	}{"front": {30, "warn"}, "back": {20, "reject"}}
	if len(got.GetPlacements()) != 2 {
		t.Fatalf("placements %v", got.GetPlacements())
	}
	for _, p := range got.GetPlacements() {
		if w := want[p.GetPlacementId()]; p.GetEffectiveDpi() != w.dpi || p.GetVerdict() != w.verdict {
			t.Errorf("%s: %.1f DPI %s, want %.1f %s", p.GetPlacementId(), p.GetEffectiveDpi(), p.GetVerdict(), w.dpi, w.verdict)
		}
	}
	if got.GetVerdict() != eventsv1.DesignVerdict_DESIGN_VERDICT_READY {
		t.Errorf("verdict %s, want READY: printable on the front", got.GetVerdict())
	}
}

func TestInfrastructureFailuresAreRetried(t *testing.T) {
	t.Parallel()
	png := fixture.PNG(40, 40, false)
	tests := []struct {
		name  string
		setup func(*testenv.Blob, *testenv.Publisher)
	}{
		{"S3 get fails", func(s *testenv.Blob, _ *testenv.Publisher) { s.FailGets(testenv.ErrBoom) }},
		{"S3 put fails", func(s *testenv.Blob, _ *testenv.Publisher) { s.FailPuts(testenv.ErrBoom) }},
		{"broker refuses", func(_ *testenv.Blob, p *testenv.Publisher) { p.Fail(testenv.ErrBoom) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, pub := testenv.NewBlob(), &testenv.Publisher{}
			_ = store.Put(context.Background(), designs, "x.png", png, "")
			tt.setup(store, pub)
			h := newHandlers(store, pub)
			err := h.DesignUploaded(context.Background(), testenv.Delivery(t, eventsv1.KeyDesignUploaded, &eventsv1.DesignUploaded{DesignId: "d", ObjectKey: "x.png"}))
			if !errors.Is(err, testenv.ErrBoom) || amqp.IsPermanent(err) {
				t.Errorf("err = %v, want the retryable cause", err)
			}
			if n := len(pub.All()); n != 0 {
				t.Errorf("published %d events after a failure", n)
			}
		})
	}
}

func TestMalformedEventsGoToTheDLQ(t *testing.T) {
	t.Parallel()
	h := newHandlers(testenv.NewBlob(), &testenv.Publisher{})
	tests := map[string]amqp.Delivery{
		"not protobuf":    {ID: "1", Body: []byte{0xFF, 0xFF, 0xFF}},
		"path in the id":  testenv.Delivery(t, eventsv1.KeyDesignUploaded, &eventsv1.DesignUploaded{DesignId: "../etc", ObjectKey: "k"}),
		"no key":          testenv.Delivery(t, eventsv1.KeyDesignUploaded, &eventsv1.DesignUploaded{DesignId: "d"}),
		"foreign bucket":  testenv.Delivery(t, eventsv1.KeyDesignUploaded, &eventsv1.DesignUploaded{DesignId: "d", Bucket: "someone-elses", ObjectKey: "k"}),
		"empty design id": testenv.Delivery(t, eventsv1.KeyDesignUploaded, &eventsv1.DesignUploaded{ObjectKey: "k"}),
	}
	for name, d := range tests {
		if err := h.DesignUploaded(context.Background(), d); !amqp.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
	}
	bad := testenv.Delivery(t, eventsv1.KeyOrderPaid, &eventsv1.OrderPaid{OrderId: "o/1"})
	if err := h.OrderPaid(context.Background(), bad); !amqp.IsPermanent(err) {
		t.Errorf("order id with a slash: err = %v, want permanent", err)
	}
}

// A redelivery republishes the same message id (for downstream inboxes) and
// rewrites identical objects.
func TestRedeliveryIsIdempotent(t *testing.T) {
	t.Parallel()
	store, pub := testenv.NewBlob(), &testenv.Publisher{}
	h := newHandlers(store, pub)
	_ = store.Put(context.Background(), designs, "x.png", fixture.PNG(50, 40, true), "")
	d := testenv.Delivery(t, eventsv1.KeyDesignUploaded, &eventsv1.DesignUploaded{DesignId: "d", ObjectKey: "x.png"})
	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, k := range store.Keys() {
			o, _ := store.Object(strings.SplitN(k, "/", 2)[0], strings.SplitN(k, "/", 2)[1])
			out[k] = string(o.Body)
		}
		return out
	}
	if err := h.DesignUploaded(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	first := snapshot()
	d.Redelivered, d.Attempt = true, 2
	if err := h.DesignUploaded(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	second := snapshot()
	if len(first) != 5 || len(second) != len(first) {
		t.Fatalf("objects %d then %d, want 5 (upload + 4 outputs) both times", len(first), len(second))
	}
	for k, v := range first {
		if second[k] != v {
			t.Errorf("%s changed on redelivery", k)
		}
	}
	msgs := pub.All()
	if len(msgs) != 2 || msgs[0].ID != msgs[1].ID || string(msgs[0].Body) != string(msgs[1].Body) {
		t.Errorf("redelivery published %d messages, ids %q: want the same id and body twice", len(msgs), []string{msgs[0].ID, msgs[len(msgs)-1].ID})
	}
}

func TestOrderPaidRendersPrintFiles(t *testing.T) {
	t.Parallel()
	store, pub := testenv.NewBlob(), &testenv.Publisher{}
	h := newHandlers(store, pub)
	_ = store.Put(context.Background(), renders, "designs/d/abc/master.png", fixture.PNG(80, 40, true), "image/png")
	_ = store.Put(context.Background(), renders, "products/tee.png", fixture.PNG(120, 150, false), "image/png")
	pl := &eventsv1.PlacementSpec{PlacementId: "front", WidthIn: 2.5, HeightIn: 3, MinDpi: 20, RecommendedDpi: 40}
	ev := &eventsv1.OrderPaid{OrderId: "o-1", RenderItems: []*eventsv1.RenderItem{
		{ItemId: "i-1", DesignId: "d", DesignKey: "designs/d/abc/master.png", Placement: pl, ProductImageKey: "products/tee.png"},
		{ItemId: "i-2", DesignId: "d", DesignKey: "designs/d/abc/master.png", Placement: pl, ProductImageKey: "products/missing.png"},
		{ItemId: "i-3"}, // a blank item: nothing to print
	}}
	if err := h.OrderPaid(context.Background(), testenv.Delivery(t, eventsv1.KeyOrderPaid, ev)); err != nil {
		t.Fatal(err)
	}
	msgs := pub.All()
	if len(msgs) != 1 || msgs[0].Type != eventsv1.KeyPrintFilesReady {
		t.Fatalf("published %v", msgs)
	}
	got := testenv.Unmarshal(t, msgs[0].Body, &eventsv1.PrintFilesReady{})
	if got.GetOrderId() != "o-1" || len(got.GetFiles()) != 2 {
		t.Fatalf("PrintFilesReady %v, want 2 files for o-1", got)
	}
	for _, f := range got.GetFiles() {
		if f.GetWidthPx() != 100 || f.GetHeightPx() != 120 || f.GetDpi() != 40 {
			t.Errorf("%s: %dx%d at %d DPI, want 100x120 at 40", f.GetItemId(), f.GetWidthPx(), f.GetHeightPx(), f.GetDpi())
		}
		pf, ok := store.Object(renders, f.GetPrintFileKey())
		if !ok || pf.ContentType != "image/png" {
			t.Fatalf("print file %q missing", f.GetPrintFileKey())
		}
		hdr, err := inspect.Check(pf.Body, inspect.DefaultLimits)
		if err != nil || hdr.Width != 100 || hdr.Height != 120 || !hdr.HasAlpha {
			t.Errorf("print file %+v (%v), want 100x120 with alpha", hdr, err)
		}
		mk, ok := store.Object(renders, f.GetMockupKey())
		if !ok || mk.ContentType != "image/jpeg" {
			t.Fatalf("mockup %q missing", f.GetMockupKey())
		}
		if hdr, err := inspect.Check(mk.Body, inspect.DefaultLimits); err != nil || hdr.Format != inspect.JPEG {
			t.Errorf("mockup %+v (%v)", hdr, err)
		}
	}
	if got.GetFiles()[0].GetPrintFileKey() != "orders/o-1/i-1/print.png" {
		t.Errorf("print file key %q", got.GetFiles()[0].GetPrintFileKey())
	}

	// A missing design master cannot be fixed by retrying.
	ev.RenderItems[0].DesignKey = "designs/gone/master.png"
	if err := h.OrderPaid(context.Background(), testenv.Delivery(t, eventsv1.KeyOrderPaid, ev)); !amqp.IsPermanent(err) {
		t.Errorf("missing master: err = %v, want permanent", err)
	}
}

// corruptPNG has a valid structure (chunk lengths and CRCs) but garbage
// compressed data, so only the decoder can tell.
func corruptPNG() []byte {
	good := fixture.PNG(64, 64, false)
	i := strings.Index(string(good), "IDAT")
	n := int(good[i-4])<<24 | int(good[i-3])<<16 | int(good[i-2])<<8 | int(good[i-1])
	data := append([]byte{}, good[i+4:i+4+n]...)
	for j := 2; j < len(data)-4; j++ {
		data[j] = byte(j * 31)
	}
	out := append([]byte{}, good[:i-4]...)
	out = append(out, fixture.Chunk("IDAT", data)...)
	return append(out, good[i+4+n+4:]...)
}
