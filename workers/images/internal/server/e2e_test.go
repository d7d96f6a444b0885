package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/workers/images/internal/blob"
	"github.com/printfleet/printfleet/workers/images/internal/fixture"
	"github.com/printfleet/printfleet/workers/images/internal/inspect"
	"github.com/printfleet/printfleet/workers/images/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var front = &eventsv1.PlacementSpec{PlacementId: "front", Name: "Front", WidthIn: 2, HeightIn: 2, MinDpi: 20, RecommendedDpi: 40}

// The whole worker against the real broker and S3: DesignUploaded →
// DesignProcessed READY, a bomb → REJECTED, OrderPaid → PrintFilesReady
// with the print file at the placement's pixel size.
func TestWorkerEndToEnd(t *testing.T) {
	t.Parallel()
	s3env := testenv.NewS3(t)
	mq := amqptest.New(t)
	conn, err := amqp.Dial(context.Background(), mq.Config, testenv.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })

	opt := testenv.Options()
	opt.DesignsBucket, opt.RendersBucket, opt.ProductImagesBucket = s3env.Designs, s3env.Renders, s3env.Renders
	q := queues{designs: mq.Queue("designs"), renders: mq.Queue("renders")}
	pub := amqp.NewPublisher(conn)
	t.Cleanup(func() { _ = pub.Close() })
	hs := handlers(opt, blob.New(s3env.Client), pub, testenv.Discard)

	// What the worker publishes, as the rest of the fleet would see it.
	out := mq.Queue("out")
	var mu sync.Mutex
	received := map[string][]amqp.Delivery{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = amqp.Consume(ctx, conn, amqp.ConsumerConfig{
			Queue: out, RoutingKeys: []string{eventsv1.KeyDesignProcessed, eventsv1.KeyPrintFilesReady},
			Handler: func(_ context.Context, d amqp.Delivery) error {
				mu.Lock()
				received[d.Type] = append(received[d.Type], d)
				mu.Unlock()
				return nil
			},
		})
	})
	runErr := make(chan error, 1)
	wg.Go(func() { runErr <- consume(ctx, conn, q, opt.Jobs, hs) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := <-runErr; err != nil {
			t.Errorf("consume: %v", err)
		}
	})
	// The worker's queues must exist, bound, before anything is published
	// to them. A consumer declares its queue and then binds it, so a queue
	// that exists may not be bound yet: declare them here as a publisher
	// would (the same declaration, so the consumers' is a no-op).
	for name, key := range map[string]string{q.designs: eventsv1.KeyDesignUploaded, q.renders: eventsv1.KeyOrderPaid} {
		if err := conn.DeclareQueue(context.Background(), name, key); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the worker's and the test's queues", func() bool {
		for _, name := range []string{q.designs, q.renders, out} {
			if _, err := conn.QueueDepth(context.Background(), name); err != nil {
				return false
			}
		}
		return true
	})

	s3env.Put(t, s3env.Designs, "up/good.png", fixture.PNG(200, 160, true))
	s3env.Put(t, s3env.Designs, "up/bomb.png", fixture.PNGBomb(100_000, 100_000))
	good := &eventsv1.DesignUploaded{DesignId: "good", Bucket: s3env.Designs, ObjectKey: "up/good.png", Placements: []*eventsv1.PlacementSpec{front}}
	bomb := &eventsv1.DesignUploaded{DesignId: "bomb", ObjectKey: "up/bomb.png"}
	publish(t, pub, eventsv1.KeyDesignUploaded, good, bomb)

	designs := map[string]*eventsv1.DesignProcessed{}
	waitFor(t, 30*time.Second, "two DesignProcessed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range received[eventsv1.KeyDesignProcessed] {
			ev := testenv.Unmarshal(t, d.Body, &eventsv1.DesignProcessed{})
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
	thumb := s3env.Get(t, s3env.Renders, designs["good"].GetThumbnailKey())
	if h, err := inspect.Check(thumb, inspect.DefaultLimits); err != nil || h.Format != inspect.WebP || h.Width != 32 {
		t.Errorf("thumbnail in S3: %+v %v, want a 32 px wide WebP", h, err)
	}

	paid := &eventsv1.OrderPaid{OrderId: "o-e2e", RenderItems: []*eventsv1.RenderItem{{
		ItemId: "i-1", DesignId: "good", DesignKey: designs["good"].GetMasterKey(),
		Placement: &eventsv1.PlacementSpec{PlacementId: "front", WidthIn: 3, HeightIn: 4, MinDpi: 20, RecommendedDpi: 60},
	}}}
	publish(t, pub, eventsv1.KeyOrderPaid, paid)
	var ready *eventsv1.PrintFilesReady
	waitFor(t, 30*time.Second, "PrintFilesReady", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if ds := received[eventsv1.KeyPrintFilesReady]; len(ds) > 0 {
			ready = testenv.Unmarshal(t, ds[0].Body, &eventsv1.PrintFilesReady{})
		}
		return ready != nil
	})
	if ready.GetOrderId() != "o-e2e" || len(ready.GetFiles()) != 1 {
		t.Fatalf("PrintFilesReady %v", ready)
	}
	f := ready.GetFiles()[0]
	printFile := s3env.Get(t, s3env.Renders, f.GetPrintFileKey())
	h, err := inspect.Check(printFile, inspect.DefaultLimits)
	if err != nil || h.Width != 180 || h.Height != 240 || f.GetWidthPx() != 180 || f.GetHeightPx() != 240 || f.GetDpi() != 60 {
		t.Errorf("print file %+v (%v), event %dx%d at %d DPI; want 180x240 at 60 DPI", h, err, f.GetWidthPx(), f.GetHeightPx(), f.GetDpi())
	}
	if dpi := pngDPI(printFile); dpi != 60 {
		t.Errorf("print file pHYs %d DPI, want 60", dpi)
	}
	if n, _ := conn.QueueDepth(context.Background(), amqp.DLQName(q.designs)); n != 0 {
		t.Errorf("%d messages dead-lettered: rejections must not reach the DLQ", n)
	}
}

func publish(t *testing.T, pub *amqp.Publisher, typ string, evs ...proto.Message) {
	t.Helper()
	var msgs []amqp.Message
	for _, ev := range evs {
		d := testenv.Delivery(t, typ, ev)
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
