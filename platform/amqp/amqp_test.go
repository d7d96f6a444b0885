package amqp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"github.com/sethvargo/go-envconfig"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/errs"
)

func TestRoundTripCarriesHeadersAndTrace(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("roundtrip")
	declare(t, conn, q, "orders.#")

	type received struct {
		d  amqp.Delivery
		sc trace.SpanContext
	}
	got := make(chan received, 4)
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{"orders.#"},
		Handler: func(ctx context.Context, d amqp.Delivery) error {
			got <- received{d, trace.SpanContextFromContext(ctx)}
			return nil
		},
	})

	ctx, parent := otel.Tracer("test").Start(context.Background(), "place order")
	msg := amqp.Message{
		ID:        uuid.NewString(),
		Type:      "orders.order_placed.v1",
		Body:      []byte{0x0a, 0x03, 'o', '-', '1'},
		Headers:   map[string]any{"tenant": "acme", "schema": int32(3)},
		Timestamp: time.Unix(1_700_000_000, 0),
	}
	pub := amqp.NewPublisher(conn)
	if err := pub.Publish(ctx, msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	parent.End()

	var r received
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
	}
	d := r.d
	if d.ID != msg.ID || d.Type != msg.Type || !bytes.Equal(d.Body, msg.Body) {
		t.Errorf("delivery = {%s %s %x}, want {%s %s %x}", d.ID, d.Type, d.Body, msg.ID, msg.Type, msg.Body)
	}
	if d.Headers["tenant"] != "acme" || d.Headers["schema"] != int32(3) {
		t.Errorf("headers = %v, want tenant=acme schema=3", d.Headers)
	}
	if _, ok := d.Headers["traceparent"].(string); !ok {
		t.Errorf("headers = %v, want a traceparent", d.Headers)
	}
	if !d.Timestamp.Equal(msg.Timestamp) || d.Attempt != 1 || d.Redelivered {
		t.Errorf("timestamp %v attempt %d redelivered %v, want %v 1 false", d.Timestamp, d.Attempt, d.Redelivered, msg.Timestamp)
	}
	if r.sc.TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("handler trace id %s, want the publisher's %s", r.sc.TraceID(), parent.SpanContext().TraceID())
	}

	// The consumer span ends after the ack; wait for it.
	var producer, consumer sdktrace.ReadOnlySpan
	waitFor(t, 5*time.Second, "publish and process spans", func() bool {
		producer, consumer = nil, nil
		for _, s := range spans.Ended() {
			if s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
				continue
			}
			switch s.SpanKind() {
			case trace.SpanKindProducer:
				producer = s
			case trace.SpanKindConsumer:
				consumer = s
			}
		}
		return producer != nil && consumer != nil
	})
	if consumer.Parent().SpanID() != producer.SpanContext().SpanID() {
		t.Errorf("consumer span's parent %s, want the producer span %s", consumer.Parent().SpanID(), producer.SpanContext().SpanID())
	}
	if r.sc.SpanID() != consumer.SpanContext().SpanID() {
		t.Errorf("handler ctx span %s, want the consumer span %s", r.sc.SpanID(), consumer.SpanContext().SpanID())
	}
	wantAttrs := map[*sdktrace.ReadOnlySpan]map[attribute.Key]string{
		&producer: {
			"messaging.system": "rabbitmq", "messaging.operation.type": "send", "messaging.operation.name": "publish",
			"messaging.destination.name": env.Config.Exchange, "messaging.message.id": msg.ID,
			"messaging.rabbitmq.destination.routing_key": msg.Type,
		},
		&consumer: {
			"messaging.system": "rabbitmq", "messaging.operation.type": "process",
			"messaging.destination.name": env.Config.Exchange, "messaging.message.id": msg.ID,
			"messaging.destination.subscription.name": q,
		},
	}
	for span, want := range wantAttrs {
		got := map[attribute.Key]string{}
		for _, kv := range (*span).Attributes() {
			got[kv.Key] = kv.Value.String()
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("span %q: %s = %q, want %q", (*span).Name(), k, got[k], v)
			}
		}
	}
	if want := "publish " + env.Config.Exchange; producer.Name() != want {
		t.Errorf("producer span name %q, want %q", producer.Name(), want)
	}
}

func TestPublishReportsUnroutable(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("routed")
	declare(t, conn, q, "catalog.stock_reserved.v1")

	routed := messages(2, "catalog.stock_reserved.v1")
	lost := amqp.Message{ID: uuid.NewString(), Type: "catalog.nobody_listens.v1", Body: []byte("x")}
	batch := []amqp.Message{routed[0], lost, routed[1]}

	err := amqp.NewPublisher(conn).Publish(context.Background(), batch...)
	var pe *amqp.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("Publish = %v, want a *PublishError", err)
	}
	if len(pe.Failed) != 1 || pe.Failed[0].ID != lost.ID || pe.Total != 3 {
		t.Fatalf("failed = %v (of %d), want only %s", pe.Failed, pe.Total, lost.ID)
	}
	if !errors.Is(err, amqp.ErrUnroutable) {
		t.Errorf("Publish = %v, want ErrUnroutable", err)
	}
	if !strings.Contains(err.Error(), lost.ID) {
		t.Errorf("error %q does not name the message", err)
	}
	waitFor(t, 5*time.Second, "both routed messages in the queue", func() bool { return depth(t, conn, q) == 2 })
}

func TestPublishHonoursContext(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("ctx")
	declare(t, conn, q, "orders.#")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msgs := messages(3, "orders.order_placed.v1")
	err := amqp.NewPublisher(conn).Publish(ctx, msgs...)
	var pe *amqp.PublishError
	if !errors.As(err, &pe) || len(pe.Failed) != 3 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled ctx = %v, want all 3 failed with context.Canceled", err)
	}
	if !strings.Contains(err.Error(), msgs[0].ID) {
		t.Errorf("error %q does not name the messages", err)
	}
	if err := amqp.NewPublisher(conn).Publish(context.Background(), amqp.Message{ID: "no-type"}); err == nil {
		t.Error("Publish of a message without a type succeeded")
	}
}

func TestFailingHandlerDeadLettersAfterLimitWhileOthersFlow(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	env.Config.DeliveryLimit = 2
	env.Config.RetryMin, env.Config.RetryMax = 300*time.Millisecond, 600*time.Millisecond
	conn := dial(t, env.Config)
	q := env.Queue("failing")
	const key = "images.design_uploaded.v1"
	declare(t, conn, q, key)

	bad := amqp.Message{ID: uuid.NewString(), Type: key, Body: []byte("poison")}
	good := messages(20, key)
	rec := newRecorder()
	var goodDone atomic.Int64   // unix nanos when the last good message was handled
	var firstRetry atomic.Int64 // unix nanos of the poison message's second attempt
	var handled atomic.Int64
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{key}, Prefetch: 8,
		Handler: func(_ context.Context, d amqp.Delivery) error {
			rec.add(d)
			if d.ID == bad.ID {
				if d.Attempt == 2 {
					firstRetry.Store(time.Now().UnixNano())
				}
				return errors.New("cannot render design")
			}
			if handled.Add(1) == int64(len(good)) {
				goodDone.Store(time.Now().UnixNano())
			}
			return nil
		},
	})
	publishAll(context.Background(), t, amqp.NewPublisher(conn), append([]amqp.Message{bad}, good...))

	waitFor(t, 15*time.Second, "the poison message in the DLQ", func() bool { return depth(t, conn, amqp.DLQName(q)) == 1 })
	if !rec.has(good) {
		t.Fatalf("good messages not all handled: %d seen", rec.count())
	}
	attempts := rec.get(bad.ID)
	var nums []int
	for _, d := range attempts {
		nums = append(nums, d.Attempt)
	}
	if fmt.Sprint(nums) != "[1 2 3]" {
		t.Errorf("poison attempts = %v, want [1 2 3] (delivery limit 2)", nums)
	}
	if last := attempts[len(attempts)-1]; !last.Redelivered {
		t.Errorf("last attempt not flagged redelivered")
	}
	if goodDone.Load() == 0 || goodDone.Load() > firstRetry.Load() {
		// The poison message's first retry comes >= 150 ms after it failed;
		// the good ones must not have waited for it.
		t.Errorf("good messages finished after the poison message's first retry: they waited for it")
	}
	if n := depth(t, conn, q); n != 0 {
		t.Errorf("queue depth %d, want 0", n)
	}
	assertDLQHolds(t, q, bad.ID)

	for outcome, want := range map[string]float64{"ack": 20, "retry": 2, "dead_letter": 1} {
		if got := metric(t, "printfleet_amqp_consumer_handled_total", map[string]string{"queue": q, "outcome": outcome}); got != want {
			t.Errorf("handled_total{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
	if got := metric(t, "printfleet_amqp_consumer_redeliveries_total", map[string]string{"queue": q}); got != 2 {
		t.Errorf("redeliveries_total = %v, want 2", got)
	}
}

// assertDLQHolds reads the dead letter back with a plain client.
func assertDLQHolds(t *testing.T, queue, id string) {
	t.Helper()
	conn, err := amqp091.Dial(amqptest.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := ch.Get(amqp.DLQName(queue), false)
	if err != nil || !ok {
		t.Fatalf("get from DLQ: ok=%v err=%v", ok, err)
	}
	if d.MessageId != id {
		t.Errorf("DLQ holds %s, want %s", d.MessageId, id)
	}
	_ = d.Nack(false, true)
}

func TestPermanentErrorDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("permanent")
	const key = "orders.order_cancelled.v1"
	declare(t, conn, q, key)

	rec := newRecorder()
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{key},
		Handler: func(_ context.Context, d amqp.Delivery) error {
			rec.add(d)
			return fmt.Errorf("decode: %w", amqp.Permanent(errors.New("unknown field")))
		},
	})
	msg := messages(1, key)[0]
	publishAll(context.Background(), t, amqp.NewPublisher(conn), []amqp.Message{msg})

	waitFor(t, 10*time.Second, "the message in the DLQ", func() bool { return depth(t, conn, amqp.DLQName(q)) == 1 })
	if n := len(rec.get(msg.ID)); n != 1 {
		t.Errorf("handled %d times, want 1", n)
	}

	// The DLQ depth as a service exports it; an unreadable queue is left out.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(amqp.NewDepthCollector(conn, amqp.DLQName(q), env.Queue("never-declared")))
	want := fmt.Sprintf(`
# HELP printfleet_amqp_queue_depth Messages ready for delivery in the queue, read at scrape time.
# TYPE printfleet_amqp_queue_depth gauge
printfleet_amqp_queue_depth{queue=%q} 1
`, amqp.DLQName(q))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Consume exports its own queue's and DLQ's depth on the default registry.
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "printfleet_amqp_queue_depth" {
			for _, m := range mf.GetMetric() {
				exported[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if exported[amqp.DLQName(q)] != 1 {
		t.Errorf("default registry exports %v, want %s = 1", exported, amqp.DLQName(q))
	}
	assertDLQHolds(t, q, msg.ID)
}

func TestPanickingHandlerIsRetried(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("panic")
	const key = "pricing.price_changed.v1"
	declare(t, conn, q, key)

	rec := newRecorder()
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{key},
		Handler: func(_ context.Context, d amqp.Delivery) error {
			rec.add(d)
			if d.Attempt == 1 {
				panic("nil map")
			}
			return nil
		},
	})
	msg := messages(1, key)[0]
	publishAll(context.Background(), t, amqp.NewPublisher(conn), []amqp.Message{msg})

	waitFor(t, 10*time.Second, "the retry", func() bool { return len(rec.get(msg.ID)) == 2 })
	waitFor(t, 5*time.Second, "the ack", func() bool {
		return metric(t, "printfleet_amqp_consumer_handled_total", map[string]string{"queue": q, "outcome": "ack"}) == 1
	})
	if n := depth(t, conn, amqp.DLQName(q)); n != 0 {
		t.Errorf("DLQ depth %d, want 0", n)
	}
}

func TestRecoversAfterBrokerClosesConnection(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("recovery")
	const key = "orders.order_paid.v1"
	declare(t, conn, q, key)

	rec := newRecorder()
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{key}, Prefetch: 8, Concurrency: 1,
		Handler: func(_ context.Context, d amqp.Delivery) error {
			time.Sleep(10 * time.Millisecond) // keep a backlog while the connection drops
			rec.add(d)
			return nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := amqp.NewPublisher(conn)
	before := messages(200, key)
	publishAll(ctx, t, pub, before)

	amqptest.ForceClose(t, env.Config.Name)
	t.Logf("connection closed with %d of %d handled", rec.count(), len(before))

	after := messages(50, key)
	publishAll(ctx, t, pub, after) // waits for the connection to come back
	waitFor(t, 20*time.Second, "every message before and after the close", func() bool {
		return rec.has(before) && rec.has(after)
	})
	if err := conn.Ready(ctx); err != nil {
		t.Errorf("Ready after recovery: %v", err)
	}
	if n := metric(t, "printfleet_amqp_reconnects_total", map[string]string{"connection": env.Config.Name}); n < 1 {
		t.Errorf("reconnects_total = %v, want >= 1", n)
	}
}

func TestConcurrentPublishAllConfirmed(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("concurrent")
	const key = "catalog.product_updated.v1"
	declare(t, conn, q, key)

	pub := amqp.NewPublisher(conn)
	const goroutines, batches, batchSize = 16, 5, 20
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*batches)
	for range goroutines {
		wg.Go(func() {
			for range batches {
				if err := pub.Publish(ctx, messages(batchSize, key)...); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Publish: %v", err)
	}
	const want = goroutines * batches * batchSize
	waitFor(t, 10*time.Second, fmt.Sprintf("%d messages in the queue", want), func() bool { return depth(t, conn, q) == want })
}

func TestCancelDrainsInFlightHandlers(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("drain")
	const key = "workers.print_file_ready.v1"
	declare(t, conn, q, key)
	publishAll(context.Background(), t, amqp.NewPublisher(conn), messages(10, key))

	release := make(chan struct{})
	var started, finished atomic.Int32
	var ctxErrs atomic.Int32
	stop := startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{key}, Prefetch: 4, Concurrency: 2,
		Handler: func(ctx context.Context, d amqp.Delivery) error {
			started.Add(1)
			<-release
			if ctx.Err() != nil {
				ctxErrs.Add(1)
			}
			finished.Add(1)
			return nil
		},
	})
	waitFor(t, 10*time.Second, "two handlers running", func() bool { return started.Load() == 2 })

	returned := make(chan error, 1)
	go func() { returned <- stop() }()
	select {
	case err := <-returned:
		t.Fatalf("Consume returned (%v) while handlers were still running", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-returned; err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if s, f := started.Load(), finished.Load(); s != 2 || f != 2 {
		t.Errorf("started %d finished %d, want 2 and 2: no new handler may start after cancel", s, f)
	}
	if n := ctxErrs.Load(); n != 0 {
		t.Errorf("%d handlers saw a cancelled ctx", n)
	}
	// The two handled messages were acked; the rest (prefetched or not) are back.
	waitFor(t, 5*time.Second, "8 messages back in the queue", func() bool { return depth(t, conn, q) == 8 })
}

func TestDialFailsWithinContextNamingTheBroker(t *testing.T) {
	t.Parallel()
	cfg := amqp.Config{URL: "amqp://guest:s3cret@127.0.0.1:1/printfleet", ReconnectMin: 50 * time.Millisecond, ReconnectMax: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := amqp.Dial(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("Dial succeeded against a closed port")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Dial took %s, want about the ctx's 500ms", el)
	}
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "s3cret") {
		t.Errorf("error %q should name the broker and hide the password", msg)
	}
}

func TestClosedConnRefusesWork(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	ctx := context.Background()
	if err := conn.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if _, err := conn.QueueDepth(ctx, env.Queue("missing")); err == nil {
		t.Error("QueueDepth of a missing queue succeeded")
	}
	if err := conn.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checks := map[string]error{
		"Ready":        conn.Ready(ctx),
		"Publish":      amqp.NewPublisher(conn).Publish(ctx, messages(1, "x.y.v1")...),
		"DeclareQueue": conn.DeclareQueue(ctx, env.Queue("late")),
		"Consume":      amqp.Consume(ctx, conn, amqp.ConsumerConfig{Queue: env.Queue("late2"), Handler: func(context.Context, amqp.Delivery) error { return nil }}),
	}
	for name, err := range checks {
		if !errors.Is(err, amqp.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestConfigFromEnvironmentMasksPassword(t *testing.T) {
	t.Parallel()
	var cfg amqp.Config
	err := envconfig.ProcessWith(context.Background(), &envconfig.Config{
		Target:   &cfg,
		Lookuper: envconfig.MapLookuper(map[string]string{"URL": "amqp://svc:hunter2@rabbit:5672/printfleet", "PREFETCH": "64"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := amqp.Config{
		URL: "amqp://svc:hunter2@rabbit:5672/printfleet", Exchange: "printfleet.events", DeadLetterExchange: "printfleet.dlx",
		Prefetch: 64, DeliveryLimit: 5, RetryMin: 200 * time.Millisecond, RetryMax: 10 * time.Second,
		ReconnectMin: 200 * time.Millisecond, ReconnectMax: 15 * time.Second, Heartbeat: 10 * time.Second,
	}
	if cfg != want {
		t.Errorf("config = %+v\nwant     %+v", cfg, want)
	}

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "amqp", cfg)
	js, err := json.Marshal(struct{ AMQP amqp.Config }{cfg})
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"String": cfg.String(), "%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"JSON": string(js), "slog": logged.String(), "RedactedURL": cfg.RedactedURL(),
	} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "rabbit:5672") {
			t.Errorf("%s = %s: want the host and no password", name, out)
		}
	}
}

// rawChannel is a plain client channel for doing to the broker what an
// operator might.
func rawChannel(t *testing.T) *amqp091.Channel {
	t.Helper()
	conn, err := amqp091.Dial(amqptest.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestReconnectRedeclaresLostTopology(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("redeclare")
	const key = "stores.store_connected.v1"
	declare(t, conn, q, key)

	// The broker forgets everything (say, a node rebuilt without its data),
	// then drops the connection.
	ch := rawChannel(t)
	if _, err := ch.QueueDelete(q, false, false, false); err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDelete(env.Config.Exchange, false, false); err != nil {
		t.Fatal(err)
	}
	amqptest.ForceClose(t, env.Config.Name)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	publishAll(ctx, t, amqp.NewPublisher(conn), messages(1, key)) // fails the test if unroutable
	if n := depth(t, conn, q); n != 1 {
		t.Errorf("queue depth %d after reconnect, want 1", n)
	}
}

func TestConsumerResumesWhenItsQueueIsDeleted(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t)
	conn := dial(t, env.Config)
	q := env.Queue("deleted")
	const key = "orders.order_shipped.v1"
	declare(t, conn, q, key)

	rec := newRecorder()
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{key},
		Handler: func(_ context.Context, d amqp.Delivery) error { rec.add(d); return nil },
	})
	first := messages(1, key)
	publishAll(context.Background(), t, amqp.NewPublisher(conn), first)
	waitFor(t, 5*time.Second, "the first message", func() bool { return rec.has(first) })

	// Deleting the queue cancels the consumer; it must declare the queue
	// again and go on.
	if _, err := rawChannel(t).QueueDelete(q, false, false, false); err != nil {
		t.Fatal(err)
	}
	pub := amqp.NewPublisher(conn)
	second := messages(1, key)
	waitFor(t, 10*time.Second, "the queue to be declared again and the message routed", func() bool {
		return pub.Publish(context.Background(), second...) == nil
	})
	waitFor(t, 5*time.Second, "the message after the queue came back", func() bool { return rec.has(second) })
}

// A dependency outage longer than the delivery limit allows must not
// dead-letter good messages: the consumer holds them and calls again without
// spending deliveries, then acks once the dependency is back.
func TestUnavailableDependencyHoldsInsteadOfDeadLettering(t *testing.T) {
	t.Parallel()
	env := amqptest.New(t) // delivery limit 3
	conn := dial(t, env.Config)
	q := env.Queue("outage")
	const key = "orders.order_paid.v1"
	declare(t, conn, q, key)

	rec := newRecorder()
	var calls atomic.Int32
	startConsumer(t, conn, amqp.ConsumerConfig{
		Queue: q, RoutingKeys: []string{key},
		Handler: func(_ context.Context, d amqp.Delivery) error {
			if calls.Add(1) <= 8 { // well past the delivery limit
				return fmt.Errorf("begin: %w", errs.E(errs.Unavailable, "database unavailable"))
			}
			rec.add(d)
			return nil
		},
	})
	msg := messages(1, key)[0]
	publishAll(context.Background(), t, amqp.NewPublisher(conn), []amqp.Message{msg})
	waitFor(t, 20*time.Second, "the message handled after the outage", func() bool { return len(rec.get(msg.ID)) == 1 })
	if got := rec.get(msg.ID)[0]; got.Attempt != 1 || got.Redelivered {
		t.Errorf("held message came back as attempt %d (redelivered %v), want the first delivery", got.Attempt, got.Redelivered)
	}
	if n := depth(t, conn, amqp.DLQName(q)); n != 0 {
		t.Fatalf("%d messages dead-lettered during the outage", n)
	}
}
