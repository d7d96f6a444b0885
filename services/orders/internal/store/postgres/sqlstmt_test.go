package postgres_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
	"github.com/printfleet/printfleet/services/orders/sqlstmt"
)

// sqlRecorder is a pgx tracer that records the text of every statement a
// pool sends, batched or not, in order.
type sqlRecorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *sqlRecorder) add(sql string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sql = append(r.sql, sql)
}

func (r *sqlRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sql
	r.sql = nil
	return out
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL)
	return ctx
}

func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *sqlRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (r *sqlRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL)
}

func (r *sqlRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// outboxStatements are what outbox.Queue adds to a batch for a new order's
// events: OrderPlaced, then the order.created notice, gated on the owner's
// webhook subscription.
func outboxStatements(t *testing.T) []string {
	t.Helper()
	b := &pgx.Batch{}
	if err := outbox.Queue(context.Background(), b,
		outbox.Event{Type: eventsv1.KeyOrderPlaced, Payload: &eventsv1.OrderPlaced{}},
		outbox.Event{Type: eventsv1.KeyOrderNotice, Payload: &eventsv1.OrderNotice{}, Gate: sqlstmt.SubscriberGate("u")}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range b.QueuedQueries {
		out = append(out, q.SQL)
	}
	return out
}

// Placing an order sends exactly the statements sqlstmt exports, which the
// bench's pgbench baseline runs: one batch (sqlstmt.CreateOrderBatch and
// the outbox's), outside an explicit transaction, and nothing else. A
// statement added to or dropped from the path fails here, so the baseline
// cannot silently measure less than the store does.
func TestCreateOrderSendsTheExportedSQL(t *testing.T) {
	t.Parallel()
	rec := &sqlRecorder{}
	_, store := testenv.DB(t, postgres.WithTracer(rec))
	rec.take()
	newOrder(t, store)
	got := rec.take()

	want := append(sqlstmt.CreateOrderBatch(), outboxStatements(t)...)
	if !slices.Equal(got, want) {
		t.Fatalf("the create path sent\n%s\nwant\n%s", strings.Join(got, ";\n---\n"), strings.Join(want, ";\n---\n"))
	}
}
