package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/inbox"
	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	pgstore "github.com/printfleet/printfleet/services/orders/internal/store/postgres"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// TestRelayKilledAtRandomPointsAcrossOrders places 5,000 orders while outbox
// relays are started and killed at random points: by cancelling them, and by
// terminating their database session mid-batch (after the broker confirmed,
// before the rows were marked). Afterwards no row is unpublished and an
// inbox-guarded consumer applied every OrderPlaced exactly once.
func TestRelayKilledAtRandomPointsAcrossOrders(t *testing.T) {
	t.Parallel()
	const orders = 5000
	pool, url := pgtest.NewDB(t, pgstore.Migrations)
	store := pgstore.New(pool, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := pool.Exec(ctx, `CREATE TABLE test_effects (message_id text PRIMARY KEY, applied int NOT NULL)`); err != nil {
		t.Fatal(err)
	}

	env := amqptest.New(t)
	conn, err := amqp.Dial(ctx, env.Config, testenv.Log())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pub := amqp.NewPublisher(conn)
	q := env.Queue("effects")
	if err := conn.DeclareQueue(ctx, q, eventsv1.KeyOrderPlaced); err != nil {
		t.Fatal(err)
	}
	var deliveries atomic.Int64
	effect := inbox.Handler(pool, "test-effects", func(ctx context.Context, tx pgx.Tx, d amqp.Delivery) error {
		_, err := tx.Exec(ctx, `INSERT INTO test_effects VALUES ($1, 1)
			ON CONFLICT (message_id) DO UPDATE SET applied = test_effects.applied + 1`, d.ID)
		return err
	})
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		_ = amqp.Consume(ctx, conn, amqp.ConsumerConfig{Queue: q, RoutingKeys: []string{eventsv1.KeyOrderPlaced}, Prefetch: 64,
			Handler: func(ctx context.Context, d amqp.Delivery) error { deliveries.Add(1); return effect(ctx, d) }})
	}()

	// Writers: 5,000 orders, each in its own transaction with its event.
	f := testenv.NewFixture("alice")
	var written sync.WaitGroup
	var next atomic.Int64
	for range 6 {
		written.Add(1)
		go func() {
			defer written.Done()
			for next.Add(1) <= orders {
				if err := placeOne(ctx, store, f); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { written.Wait(); close(writersDone) }()

	// Relays: two at a time, each on its own pool so that its session can be
	// killed, each killed after a random while.
	kills := 0
	for round := 0; ; round++ {
		var wg sync.WaitGroup
		for r := range 2 {
			name := fmt.Sprintf("relay-%d-%d", round, r)
			rp := relayPool(t, url, name)
			rctx, rcancel := context.WithCancel(ctx)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = outbox.NewRelay(rp, pub, testenv.Log(), outbox.RelayConfig{Service: "kill-test", BatchSize: 1 + rand.IntN(200), Poll: 5 * time.Millisecond}).Run(rctx)
				rp.Close()
			}()
			go func() {
				time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
				if rand.IntN(2) == 0 {
					_, _ = pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, name)
				}
				rcancel()
			}()
		}
		wg.Wait()
		kills += 2
		select {
		case <-writersDone:
		default:
			continue
		}
		break
	}
	if t.Failed() {
		return
	}
	final, stopFinal := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		_ = outbox.NewRelay(pool, pub, testenv.Log(), outbox.RelayConfig{Service: "kill-test", Poll: 10 * time.Millisecond}).Run(final)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for testenv.Count(t, pool, "test_effects", "") < orders || testenv.Count(t, pool, "outbox", "published_at IS NULL") > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: %d effects, %d unpublished", testenv.Count(t, pool, "test_effects", ""), testenv.Count(t, pool, "outbox", "published_at IS NULL"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopFinal()
	<-relayDone
	time.Sleep(200 * time.Millisecond) // let in-flight duplicates land before counting
	cancel()
	<-consumerDone
	if n := testenv.Count(t, pool, "orders", ""); n != orders {
		t.Fatalf("%d orders, want %d", n, orders)
	}
	if n := testenv.Count(t, pool, "outbox", "published_at IS NULL"); n != 0 {
		t.Fatalf("%d outbox rows unpublished", n)
	}
	if n := testenv.Count(t, pool, "test_effects", "applied <> 1"); n != 0 {
		t.Fatalf("%d events applied more than once", n)
	}
	if n := testenv.Count(t, pool, "test_effects", "message_id IN (SELECT id::text FROM outbox WHERE type = $1)", eventsv1.KeyOrderPlaced); n != orders {
		t.Fatalf("%d OrderPlaced events applied, want %d", n, orders)
	}
	t.Logf("%d relays killed; %d deliveries for %d events (%d duplicates absorbed by the inbox)",
		kills, deliveries.Load(), orders, deliveries.Load()-orders)
}

func relayPool(t *testing.T, url, name string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	cfg.MaxConns = 3
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// placeOne writes one order as CreateOrder does.
func placeOne(ctx context.Context, store *pgstore.Store, f *testenv.Fixture) error {
	svc := app.NewService(app.Deps{Store: store, Catalog: f.Catalog, Pricing: f.Pricing, Log: testenv.Log()})
	in := app.CreateOrderInput{
		Items:    []app.RequestedItem{{VariantID: f.VariantB, Quantity: 1}},
		Address:  testAddress(),
		Currency: "USD", PaymentMethod: 1,
	}
	_, err := svc.CreateOrder(ctx, alice, uuid.NewString(), []byte("h"), in, func(o *orderT) ([]byte, error) { return []byte(o.ID()), nil })
	return err
}
