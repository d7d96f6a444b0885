package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// commitCounter counts what an order's way costs PostgreSQL: round trips
// (postgres.Counter: a query or a batch is one) and commits as the server's
// xact_commit counts them: every COMMIT, and every query or batch sent
// outside an explicit transaction (an implicit transaction of its own),
// read-only or not, that succeeded.
type commitCounter struct {
	postgres.Counter
	mu      sync.Mutex
	commits int
	inTx    map[*pgx.Conn]bool
	batch   map[*pgx.Conn]bool // the batch running on the conn began outside a transaction
}

func (c *commitCounter) statement(conn *pgx.Conn, sql string) {
	switch strings.ToLower(strings.TrimSpace(sql)) {
	case "begin":
		c.inTx[conn] = true
	case "commit":
		c.inTx[conn] = false
		c.commits++
	case "rollback":
		c.inTx[conn] = false
	}
}

func (c *commitCounter) TraceQueryStart(ctx context.Context, conn *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inTx == nil {
		c.inTx, c.batch = map[*pgx.Conn]bool{}, map[*pgx.Conn]bool{}
	}
	if !c.inTx[conn] && !strings.EqualFold(strings.TrimSpace(d.SQL), "begin") {
		c.commits++ // an implicit transaction (counted at start; failures are not expected here)
	}
	c.statement(conn, d.SQL)
	return c.Counter.TraceQueryStart(ctx, conn, d)
}

func (c *commitCounter) TraceBatchStart(ctx context.Context, conn *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inTx == nil {
		c.inTx, c.batch = map[*pgx.Conn]bool{}, map[*pgx.Conn]bool{}
	}
	c.batch[conn] = !c.inTx[conn]
	return c.Counter.TraceBatchStart(ctx, conn, d)
}

func (c *commitCounter) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batch[conn] && strings.EqualFold(strings.TrimSpace(d.SQL), "begin") {
		c.batch[conn] = false // an explicit transaction: its COMMIT counts
	}
	c.statement(conn, d.SQL)
}

func (c *commitCounter) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, d pgx.TraceBatchEndData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batch[conn] && d.Err == nil {
		c.commits++
	}
	c.batch[conn] = false
}

// take returns the round trips and commits since the last take.
func (c *commitCounter) take(prevTrips *int64, prevCommits *int) (trips int64, commits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	trips, commits = c.Count()-*prevTrips, c.commits-*prevCommits
	*prevTrips, *prevCommits = c.Count(), c.commits
	return trips, commits
}

// What a blank order (no store, no coupon, no design) costs the orders
// database on its way to production: placing it is one round trip and one
// commit (the idempotency key, the order, its items, the timeline entry and
// the outbox row in one implicit transaction); the worker's reaction to the
// reservation reads the order, charges it and then moves it PENDING →
// CONFIRMED → PAID → IN_PRODUCTION in one transaction of two round trips
// (BEGIN + inbox claim + the order FOR UPDATE; the writes + COMMIT), with
// no outbox row, as nothing consumes one. Before this, the same way took 4
// round trips and 2 commits to place and 15 round trips and 3 commits in
// the worker (two transactions on the reservation, one on the print files).
func TestABlankOrdersWayCountsItsRoundTripsAndCommits(t *testing.T) {
	t.Parallel()
	cnt := &commitCounter{}
	pool, store := testenv.DB(t, postgres.WithTracer(cnt))
	var (
		trips   int64
		commits int
	)
	cnt.take(&trips, &commits)

	o := newOrder(t, store)
	if rt, c := cnt.take(&trips, &commits); rt != 1 || c != 1 {
		t.Errorf("create: %d round trips and %d commits, want 1 and 1", rt, c)
	}

	payments := &testenv.Payments{}
	w := testenv.NewWorker(t, store, payments)
	msg := uuid.NewString()
	if err := w.StockReserved(context.Background(), msg, o.ID()); err != nil {
		t.Fatal(err)
	}
	if rt, c := cnt.take(&trips, &commits); rt != 3 || c != 2 {
		t.Errorf("stock reserved: %d round trips and %d commits, want 3 (read, then two batches) and 2 (the read's and the transaction's)", rt, c)
	}
	got, err := store.GetOrder(context.Background(), o.ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status() != domain.StatusInProduction || got.PaymentID() == "" || got.Version() != 2 {
		t.Fatalf("after the reservation: %v, payment %q, version %d; want IN_PRODUCTION, paid, version 2", got.Status(), got.PaymentID(), got.Version())
	}
	if n := testenv.Count(t, pool, "outbox", ""); n != 1 {
		t.Errorf("%d outbox rows, want 1 (OrderPlaced only: nothing consumes the rest for a blank order)", n)
	}
	if n := testenv.Count(t, pool, "order_events", "order_id = $1", o.ID()); n != 4 {
		t.Errorf("%d timeline entries, want 4 (placed, confirmed, payment captured, in production)", n)
	}

	// A redelivery finds the order past PENDING (no charge) and the inbox
	// claim taken: nothing is done twice.
	if err := w.StockReserved(context.Background(), msg, o.ID()); err != nil {
		t.Fatal(err)
	}
	if n := testenv.Count(t, pool, "order_events", "order_id = $1", o.ID()); n != 4 || payments.Charges[o.ID()] != 1 {
		t.Errorf("redelivery: %d timeline entries and %d charges, want 4 and 1", n, payments.Charges[o.ID()])
	}
}
