package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/inbox"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
)

const eventType = "test.thing_happened.v1"

type fixture struct {
	pool *pgxpool.Pool
	conn *amqp.Conn
	pub  *amqp.Publisher
	env  *amqptest.Env
	log  *slog.Logger
}

func setup(t *testing.T) *fixture {
	t.Helper()
	pool, _ := pgtest.NewDB(t, outbox.Migrations)
	env := amqptest.New(t)
	ctx := context.Background()
	conn, err := amqp.Dial(ctx, env.Config, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	pub := amqp.NewPublisher(conn)
	return &fixture{pool: pool, conn: conn, pub: pub, env: env, log: slog.Default()}
}

// write commits n events, batchSize per transaction, and returns their ids.
func (f *fixture) write(t *testing.T, ctx context.Context, n, perTx int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i += perTx {
		err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error {
			var evs []outbox.Event
			for j := i; j < min(i+perTx, n); j++ {
				evs = append(evs, outbox.Event{Type: eventType, Payload: wrapperspb.String(fmt.Sprint(j))})
			}
			return outbox.Add(ctx, tx, evs...)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rows, _ := f.pool.Query(ctx, `SELECT id::text FROM outbox ORDER BY seq`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// consume counts deliveries per message id, and the effects an inbox-guarded
// consumer applies per id.
func (f *fixture) consume(t *testing.T, ctx context.Context) (deliveries, effects *sync.Map) {
	deliveries, effects = &sync.Map{}, &sync.Map{}
	q := f.env.Queue("consumer")
	if err := f.conn.DeclareQueue(ctx, q, eventType); err != nil {
		t.Fatal(err)
	}
	handler := inbox.Handler(f.pool, "test-consumer", func(ctx context.Context, tx pgx.Tx, d amqp.Delivery) error {
		v, _ := effects.LoadOrStore(d.ID, new(atomic.Int32))
		v.(*atomic.Int32).Add(1) // the inbox must make this run once per id
		return nil
	})
	go func() {
		_ = amqp.Consume(ctx, f.conn, amqp.ConsumerConfig{Queue: q, RoutingKeys: []string{eventType}, Prefetch: 64, Handler: func(ctx context.Context, d amqp.Delivery) error {
			v, _ := deliveries.LoadOrStore(d.ID, new(atomic.Int32))
			v.(*atomic.Int32).Add(1)
			return handler(ctx, d)
		}})
	}()
	return deliveries, effects
}

func unpublished(t *testing.T, pool *pgxpool.Pool) int {
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func count(m *sync.Map) int {
	n := 0
	m.Range(func(_, _ any) bool { n++; return true })
	return n
}

func TestConcurrentRelaysPublishEveryRow(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	deliveries, effects := f.consume(t, ctx)
	ids := f.write(t, ctx, 900, 9)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = outbox.NewRelay(f.pool, f.pub, f.log, outbox.RelayConfig{Service: "test", BatchSize: 50, Poll: 50 * time.Millisecond}).Run(ctx)
		}()
	}
	waitFor(t, 60*time.Second, "all rows published", func() bool { return unpublished(t, f.pool) == 0 })
	waitFor(t, 60*time.Second, "all messages consumed", func() bool { return count(effects) == len(ids) })
	cancel()
	wg.Wait()
	for _, id := range ids {
		if _, ok := deliveries.Load(id); !ok {
			t.Fatalf("row %s was never delivered", id)
		}
		v, _ := effects.Load(id)
		if n := v.(*atomic.Int32).Load(); n != 1 {
			t.Fatalf("row %s applied %d times", id, n)
		}
	}
}

func TestRelayKilledAtRandomPointsLosesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, effects := f.consume(t, ctx)
	var ids []string
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		ids = f.write(t, ctx, 1500, 5)
	}()
	// Start and kill relays at random points while rows are being written.
	for i := 0; i < 40; i++ {
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = outbox.NewRelay(f.pool, f.pub, f.log, outbox.RelayConfig{Service: "test", BatchSize: 1 + rand.IntN(64), Poll: 10 * time.Millisecond}).Run(rctx)
		}()
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
		rcancel()
		<-done
		if i%10 == 0 {
			amqptest.ForceClose(t, f.env.Config.Name) // the broker drops us mid-batch too
		}
	}
	writer.Wait()
	final, fcancel := context.WithCancel(ctx)
	go func() { _ = outbox.NewRelay(f.pool, f.pub, f.log, outbox.RelayConfig{Service: "test"}).Run(final) }()
	waitFor(t, 60*time.Second, "all rows published", func() bool { return unpublished(t, f.pool) == 0 })
	waitFor(t, 60*time.Second, "all messages consumed", func() bool { return count(effects) == len(ids) })
	fcancel()
	for _, id := range ids {
		v, ok := effects.Load(id)
		if !ok || v.(*atomic.Int32).Load() != 1 {
			t.Fatalf("row %s: applied %v times, want exactly 1", id, v)
		}
	}
}

func TestRelayContinuesTheWritersTrace(t *testing.T) {
	// Not parallel: installs the global tracer provider.
	f := setup(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := f.env.Queue("traced")
	if err := f.conn.DeclareQueue(ctx, q, eventType); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		_ = amqp.Consume(ctx, f.conn, amqp.ConsumerConfig{Queue: q, RoutingKeys: []string{eventType}, Prefetch: 1, Handler: func(ctx context.Context, d amqp.Delivery) error {
			got <- traceIDOf(ctx)
			return nil
		}})
	}()
	wctx, span := tp.Tracer("test").Start(ctx, "create order")
	if err := postgres.InTx(wctx, f.pool, func(tx pgx.Tx) error {
		return outbox.Add(wctx, tx, outbox.Event{Type: eventType, Payload: wrapperspb.String("x")})
	}); err != nil {
		t.Fatal(err)
	}
	span.End()
	go func() { _ = outbox.NewRelay(f.pool, f.pub, f.log, outbox.RelayConfig{Service: "test"}).Run(ctx) }()
	select {
	case id := <-got:
		if want := span.SpanContext().TraceID().String(); id != want {
			t.Fatalf("consumer trace %s, want the writer's %s", id, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery")
	}
}

func traceIDOf(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	tp := c.Get("traceparent")
	if len(tp) < 35 {
		return ""
	}
	return tp[3:35]
}

// countingPublisher counts Publish calls (one per batch when rows carry no
// trace context) and can be told to fail.
type countingPublisher struct {
	next  outbox.Publisher
	calls atomic.Int32
	msgs  atomic.Int32
	fail  atomic.Bool
}

func (p *countingPublisher) Publish(ctx context.Context, msgs ...amqp.Message) error {
	p.calls.Add(1)
	if p.fail.Load() {
		return fmt.Errorf("broker unavailable (test)")
	}
	p.msgs.Add(int32(len(msgs)))
	return p.next.Publish(ctx, msgs...)
}

// commit writes one event in its own transaction and returns its id.
func (f *fixture) commit(t *testing.T, ctx context.Context) string {
	t.Helper()
	var id string
	err := postgres.InTx(ctx, f.pool, func(tx pgx.Tx) error {
		if err := outbox.Add(ctx, tx, outbox.Event{Type: eventType, Payload: wrapperspb.String("x")}); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT id::text FROM outbox ORDER BY seq DESC LIMIT 1`).Scan(&id)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func isPublished(t *testing.T, pool *pgxpool.Pool, id string) bool {
	var published bool
	if err := pool.QueryRow(context.Background(), `SELECT published_at IS NOT NULL FROM outbox WHERE id = $1`, id).Scan(&published); err != nil {
		t.Fatal(err)
	}
	return published
}

// A woken relay publishes at once: with an hour between polls, only the
// wake can have published the second row.
func TestWokenRelayPublishesWithoutThePoll(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, effects := f.consume(t, ctx)
	first := f.commit(t, ctx)
	relay := outbox.NewRelay(f.pool, f.pub, f.log, outbox.RelayConfig{Service: "test", Poll: time.Hour})
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	// The start-up pass takes what was there before the relay ran.
	waitFor(t, 30*time.Second, "the start-up pass", func() bool { return isPublished(t, f.pool, first) })
	second := f.commit(t, ctx)
	relay.Wake()
	waitFor(t, 30*time.Second, "the woken relay to publish", func() bool { return isPublished(t, f.pool, second) })
	waitFor(t, 30*time.Second, "both consumed", func() bool { return count(effects) == 2 })
	cancel()
	<-done
}

// Commits that finish together are published together: 64 concurrent
// commits, each waking the relay, take far fewer than 64 batches.
func TestRelayBatchesConcurrentCommits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, effects := f.consume(t, ctx)
	pub := &countingPublisher{next: f.pub}
	relay := outbox.NewRelay(f.pool, pub, f.log, outbox.RelayConfig{Service: "test", Poll: time.Hour, Window: 50 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	const n = 64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f.commit(t, ctx)
			relay.Wake()
		}()
	}
	close(start)
	wg.Wait()
	waitFor(t, 30*time.Second, "all rows published", func() bool { return unpublished(t, f.pool) == 0 })
	waitFor(t, 30*time.Second, "all consumed", func() bool { return count(effects) == n })
	cancel()
	<-done
	if got := pub.msgs.Load(); got != n {
		t.Fatalf("published %d messages, want %d", got, n)
	}
	if calls := pub.calls.Load(); calls > n/4 {
		t.Fatalf("%d commits took %d publish batches; want them batched (≤ %d)", n, calls, n/4)
	}
}

// A row whose writer died before publishing it (another process's origin)
// is left alone by wakes and published by the safety-net poll.
func TestSafetyPollPublishesARowLeftByADeadWriter(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, effects := f.consume(t, ctx)
	// A fresh row of another process: a wake must not take it. It is
	// another process's before the relay starts (a relay that started first
	// could take it as its own between the commit and the change of origin).
	id := f.commit(t, ctx)
	if _, err := f.pool.Exec(ctx, `UPDATE outbox SET origin = 'another-process' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	relay := outbox.NewRelay(f.pool, f.pub, f.log, outbox.RelayConfig{Service: "test", Poll: time.Hour})
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(rctx) }()
	own := f.commit(t, ctx)
	relay.Wake()
	waitFor(t, 30*time.Second, "the woken relay to publish its own row", func() bool { return isPublished(t, f.pool, own) })
	if isPublished(t, f.pool, id) {
		t.Fatal("a wake published another process's fresh row")
	}
	rcancel()
	<-done

	// The writer died: its row ages past the grace period; a polling relay
	// that is never woken publishes it.
	if _, err := f.pool.Exec(context.Background(), `UPDATE outbox SET created_at = now() - interval '1 minute' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	defer pcancel()
	poller := outbox.NewRelay(f.pool, f.pub, f.log, outbox.RelayConfig{Service: "test", Poll: 20 * time.Millisecond, Grace: time.Second})
	pdone := make(chan struct{})
	go func() { defer close(pdone); _ = poller.Run(pctx) }()
	waitFor(t, 30*time.Second, "the poll to publish the dead writer's row", func() bool { return isPublished(t, f.pool, id) })
	waitFor(t, 30*time.Second, "both consumed", func() bool { return count(effects) == 2 })
	pcancel()
	<-pdone
}

// Two relays on one database, both woken by every commit, never publish a
// row twice: each message reaches the broker exactly once.
func TestTwoWokenRelaysNeverPublishARowTwice(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	deliveries, effects := f.consume(t, ctx)
	var relays []*outbox.Relay
	var wg sync.WaitGroup
	for range 2 {
		r := outbox.NewRelay(f.pool, f.pub, f.log, outbox.RelayConfig{Service: "test", Poll: 5 * time.Millisecond, BatchSize: 7})
		relays = append(relays, r)
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	const n = 400
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range n / 4 {
				f.commit(t, ctx)
				relays[w%2].Wake()
				relays[(w+1)%2].Wake()
			}
		}()
	}
	writers.Wait()
	waitFor(t, 60*time.Second, "all rows published", func() bool { return unpublished(t, f.pool) == 0 })
	waitFor(t, 60*time.Second, "all consumed", func() bool { return count(effects) == n })
	time.Sleep(200 * time.Millisecond) // let a duplicate, if any, arrive
	cancel()
	wg.Wait()
	deliveries.Range(func(id, v any) bool {
		if k := v.(*atomic.Int32).Load(); k != 1 {
			t.Errorf("message %s delivered %d times", id, k)
		}
		return true
	})
}

// A failed publish leaves the rows unpublished, and they go out once the
// broker is back.
func TestPublishFailureLeavesRowsForRetry(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, effects := f.consume(t, ctx)
	pub := &countingPublisher{next: f.pub}
	pub.fail.Store(true)
	relay := outbox.NewRelay(f.pool, pub, f.log, outbox.RelayConfig{Service: "test", Poll: 20 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	ids := []string{f.commit(t, ctx), f.commit(t, ctx)}
	relay.Wake()
	waitFor(t, 30*time.Second, "publish attempts", func() bool { return pub.calls.Load() >= 3 })
	if n := unpublished(t, f.pool); n != len(ids) {
		t.Fatalf("%d rows unpublished after failed publishes, want %d", n, len(ids))
	}
	pub.fail.Store(false)
	waitFor(t, 30*time.Second, "the retry to publish", func() bool { return unpublished(t, f.pool) == 0 })
	waitFor(t, 30*time.Second, "all consumed", func() bool { return count(effects) == len(ids) })
	cancel()
	<-done
}
