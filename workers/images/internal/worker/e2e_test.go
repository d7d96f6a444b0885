package worker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/fixture"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
)

func TestS3StoreAgainstRealServer(t *testing.T) {
	t.Parallel()
	env := newS3Env(t)
	st := NewS3Store(env.client)
	ctx := context.Background()
	body := fixture.PNG(20, 20, true)
	if err := st.Put(ctx, env.renders, "a/b.png", body, "image/png"); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, env.renders, "a/b.png", int64(len(body)))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(body))
	}
	if ct := env.stat(t, env.renders, "a/b.png").ContentType; ct != "image/png" {
		t.Errorf("content type %q", ct)
	}
	if _, err := st.Get(ctx, env.renders, "a/b.png", int64(len(body))-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Get over the cap = %v, want ErrTooLarge", err)
	}
	if _, err := st.Get(ctx, env.renders, "a/none.png", 1<<20); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing key = %v, want ErrNotFound", err)
	}
	if _, err := st.Get(ctx, "t-no-such-bucket-"+uuid.NewString()[:8], "k", 1<<20); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get from a missing bucket = %v, want an infrastructure error (retried), not ErrNotFound", err)
	}
}

// Outputs land in the real S3 server with the right content types, and the
// same input processed again (a redelivery) leaves the same keys and ETags.
func TestOutputsInS3AreIdempotent(t *testing.T) {
	t.Parallel()
	env := newS3Env(t)
	opt := testOptions()
	opt.DesignsBucket, opt.RendersBucket = env.designs, env.renders
	w := New(opt, NewS3Store(env.client), &memPub{}, discard)
	env.put(t, env.designs, "u/art.png", fixture.PNG(120, 90, true))
	ev := &eventsv1.DesignUploaded{DesignId: "d-s3", ObjectKey: "u/art.png", Placements: []*eventsv1.PlacementSpec{front}}

	run := func() (*eventsv1.DesignProcessed, *eventsv1.PrintFile, map[string]string) {
		out, err := w.ProcessDesign(context.Background(), env.designs, ev)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := w.RenderItem(context.Background(), "o-s3", &eventsv1.RenderItem{
			ItemId: "i-1", DesignKey: out.GetMasterKey(),
			Placement: &eventsv1.PlacementSpec{WidthIn: 1.5, HeightIn: 2, RecommendedDpi: 50},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			out.GetMasterKey(): "image/png", out.GetThumbnailKey(): "image/webp", out.GetPreviewKey(): "image/webp",
			out.GetReportKey(): "application/json", pf.GetPrintFileKey(): "image/png", pf.GetMockupKey(): "image/jpeg",
		}
		etags := map[string]string{}
		for key, ct := range want {
			info := env.stat(t, env.renders, key)
			if info.ContentType != ct || info.Size == 0 {
				t.Errorf("%s: content type %q, %d bytes; want %q", key, info.ContentType, info.Size, ct)
			}
			etags[key] = info.ETag
		}
		return out, pf, etags
	}
	out1, pf1, tags1 := run()
	out2, pf2, tags2 := run()
	if out1.GetMasterKey() != out2.GetMasterKey() || pf1.GetPrintFileKey() != pf2.GetPrintFileKey() {
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
	if pf1.GetWidthPx() != 75 || pf1.GetHeightPx() != 100 {
		t.Errorf("print file %dx%d, want 75x100", pf1.GetWidthPx(), pf1.GetHeightPx())
	}
}

// The whole worker against the real broker and S3: DesignUploaded →
// DesignProcessed READY, a bomb → REJECTED, OrderPaid → PrintFilesReady
// with the print file at the placement's pixel size.
func TestWorkerEndToEnd(t *testing.T) {
	t.Parallel()
	s3env := newS3Env(t)
	mq := amqptest.New(t)
	conn, err := amqp.Dial(context.Background(), mq.Config, discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	opt := testOptions()
	opt.DesignsBucket, opt.RendersBucket, opt.ProductImagesBucket = s3env.designs, s3env.renders, s3env.renders
	opt.DesignsQueue, opt.RendersQueue = mq.Queue("designs"), mq.Queue("renders")
	pub := amqp.NewPublisher(conn)
	t.Cleanup(func() { _ = pub.Close() })
	w := New(opt, NewS3Store(s3env.client), pub, discard)

	// What the worker publishes, as the rest of the fleet would see it.
	out := mq.Queue("out")
	var mu sync.Mutex
	received := map[string][]amqp.Delivery{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = amqp.Consume(ctx, conn, amqp.ConsumerConfig{
			Queue: out, RoutingKeys: []string{TypeDesignProcessed, TypePrintFilesReady},
			Handler: func(_ context.Context, d amqp.Delivery) error {
				mu.Lock()
				received[d.Type] = append(received[d.Type], d)
				mu.Unlock()
				return nil
			},
		})
	})
	runErr := make(chan error, 1)
	wg.Go(func() { runErr <- w.Run(ctx, conn) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// The worker's queues must exist before anything is published to them.
	waitFor(t, 10*time.Second, "the worker's and the test's queues", func() bool {
		for _, q := range []string{opt.DesignsQueue, opt.RendersQueue, out} {
			if _, err := conn.QueueDepth(context.Background(), q); err != nil {
				return false
			}
		}
		return true
	})

	s3env.put(t, s3env.designs, "up/good.png", fixture.PNG(200, 160, true))
	s3env.put(t, s3env.designs, "up/bomb.png", fixture.PNGBomb(100_000, 100_000))
	good := &eventsv1.DesignUploaded{DesignId: "good", Bucket: s3env.designs, ObjectKey: "up/good.png", Placements: []*eventsv1.PlacementSpec{front}}
	bomb := &eventsv1.DesignUploaded{DesignId: "bomb", ObjectKey: "up/bomb.png"}
	publish(t, pub, TypeDesignUploaded, good, bomb)

	designs := map[string]*eventsv1.DesignProcessed{}
	waitFor(t, 30*time.Second, "two DesignProcessed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range received[TypeDesignProcessed] {
			ev := unmarshal(t, d.Body, &eventsv1.DesignProcessed{})
			designs[ev.GetDesignId()] = ev
		}
		return len(designs) == 2
	})
	if g := designs["good"]; g.GetVerdict() != eventsv1.DesignVerdict_DESIGN_VERDICT_READY || g.GetWidthPx() != 200 || !g.GetHasAlpha() {
		t.Fatalf("good design: %v", g)
	}
	if b := designs["bomb"]; b.GetVerdict() != eventsv1.DesignVerdict_DESIGN_VERDICT_REJECTED || len(b.GetProblems()) == 0 || b.GetMasterKey() != "" {
		t.Errorf("bomb: %v, want REJECTED with problems and no outputs", b)
	}
	thumb := s3env.get(t, s3env.renders, designs["good"].GetThumbnailKey())
	if h, err := inspect.Check(thumb, inspect.DefaultLimits); err != nil || h.Format != inspect.WebP || h.Width != 32 {
		t.Errorf("thumbnail in S3: %+v %v, want a 32 px wide WebP", h, err)
	}

	paid := &eventsv1.OrderPaid{OrderId: "o-e2e", RenderItems: []*eventsv1.RenderItem{{
		ItemId: "i-1", DesignId: "good", DesignKey: designs["good"].GetMasterKey(),
		Placement: &eventsv1.PlacementSpec{PlacementId: "front", WidthIn: 3, HeightIn: 4, MinDpi: 20, RecommendedDpi: 60},
	}}}
	publish(t, pub, TypeOrderPaid, paid)
	var ready *eventsv1.PrintFilesReady
	waitFor(t, 30*time.Second, "PrintFilesReady", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if ds := received[TypePrintFilesReady]; len(ds) > 0 {
			ready = unmarshal(t, ds[0].Body, &eventsv1.PrintFilesReady{})
		}
		return ready != nil
	})
	if ready.GetOrderId() != "o-e2e" || len(ready.GetFiles()) != 1 {
		t.Fatalf("PrintFilesReady %v", ready)
	}
	f := ready.GetFiles()[0]
	printFile := s3env.get(t, s3env.renders, f.GetPrintFileKey())
	h, err := inspect.Check(printFile, inspect.DefaultLimits)
	if err != nil || h.Width != 180 || h.Height != 240 || f.GetWidthPx() != 180 || f.GetHeightPx() != 240 || f.GetDpi() != 60 {
		t.Errorf("print file %+v (%v), event %dx%d at %d DPI; want 180x240 at 60 DPI", h, err, f.GetWidthPx(), f.GetHeightPx(), f.GetDpi())
	}
	if dpi := pngDPI(printFile); dpi != 60 {
		t.Errorf("print file pHYs %d DPI, want 60", dpi)
	}
	if n, _ := conn.QueueDepth(context.Background(), amqp.DLQName(opt.DesignsQueue)); n != 0 {
		t.Errorf("%d messages dead-lettered: rejections must not reach the DLQ", n)
	}
}

func publish(t *testing.T, pub *amqp.Publisher, typ string, evs ...proto.Message) {
	t.Helper()
	var msgs []amqp.Message
	for _, ev := range evs {
		d := delivery(t, typ, ev)
		msgs = append(msgs, amqp.Message{ID: d.ID, Type: typ, Body: d.Body})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pngDPI reads the pHYs chunk as dots per inch (0 when absent).
func pngDPI(b []byte) int {
	i := bytes.Index(b, []byte("pHYs"))
	if i < 0 || i+13 > len(b) || b[i+12] != 1 {
		return 0
	}
	return int(float64(binary.BigEndian.Uint32(b[i+4:]))*0.0254 + 0.5)
}
