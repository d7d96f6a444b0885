package baseline

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/outbox"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/sqlstmt"
)

// The order-create transaction runs the orders store's own SQL: the text
// comes from services/orders/sqlstmt, which the store runs (a store test
// checks that its create path sends exactly those statements), and from
// platform/outbox, whose Queue is asked for the statements it adds for one
// event. Nothing here copies a statement; this file only binds pgbench
// variables to each statement's $n parameters.
//
// The store's one round trip, which the pgbench script mirrors: one
// pipelined batch outside an explicit transaction (one implicit
// transaction): sqlstmt.CreateOrderBatch (the idempotency key with its
// response, the order, its items in one INSERT … SELECT FROM unnest, the
// timeline entry), then the outbox rows: OrderPlaced's, and the order.created
// notice's, an INSERT … SELECT … WHERE EXISTS on webhook_subscribers
// (sqlstmt.SubscriberGate) that writes nothing for the bench users, who have
// no webhook subscription, but runs its index lookup as the store's does for
// every seller without one (the relay is woken in-process after the commit,
// with no SQL).

// orderStatement is one statement of the transaction with the pgbench
// variable bound to each of its $n parameters.
type orderStatement struct {
	name string
	sql  string
	args []string
}

// storeStatements bind every statement sqlstmt exports.
var storeStatements = []orderStatement{
	{"insert idempotency key", sqlstmt.InsertIdempotencyKey, []string{"user_id", "idem_key", "req_hash", "response", "order_id", "ttl_ms"}},
	{"insert order", sqlstmt.InsertOrder, []string{"order_id", "user_id", "status", "currency", "subtotal", "shipping", "discount",
		"total", "empty", "payment_method", "empty", "empty", "quote_id", "address", "version", "created_at", "created_at", "trace_parent",
		"empty", "empty", "zero", "zero", "empty"}},
	{"insert items", sqlstmt.InsertItems, []string{"order_id", "item_ids", "positions", "variant_ids", "product_ids", "skus", "titles",
		"quantities", "empties", "empties", "unit_prices", "line_totals", "empties", "nulls", "empties", "empties"}},
	{"insert timeline entry", sqlstmt.InsertTimelineEntry, []string{"event_id", "order_id", "event_type", "zero", "status", "event_message", "attributes", "created_at"}},
}

// outboxStatements bind, in order, what outbox.Queue adds for a new
// order's events (newOrderEvents).
var outboxStatements = []orderStatement{
	{name: "insert outbox row", args: []string{"outbox_id", "outbox_type", "payload", "headers", "origin"}},
	{name: "insert order notice (gated)", args: []string{"notice_id", "notice_type", "notice_payload", "headers", "origin", "user_id"}},
}

// newOrderEvents are the events the store writes with a new order, as
// outbox.Queue sees them: OrderPlaced, then the order.created notice gated
// on the owner's subscription.
func newOrderEvents() []outbox.Event {
	return []outbox.Event{
		{Type: eventsv1.KeyOrderPlaced, Payload: &eventsv1.OrderPlaced{}},
		{Type: eventsv1.KeyOrderNotice, Payload: &eventsv1.OrderNotice{}, Gate: sqlstmt.SubscriberGate("")},
	}
}

func storeStatement(sql string) (orderStatement, error) {
	for _, st := range storeStatements {
		if st.sql == sql {
			return st, nil
		}
	}
	return orderStatement{}, fmt.Errorf("the orders store's create path has a statement the bench binds no variables to:\n%s", sql)
}

// createOrderStatements are the store's one batch, in its order. It fails
// when the store's or the outbox's create path has a statement the bench
// does not bind, so that the baseline never runs less than the store does.
func createOrderStatements() (batch []orderStatement, err error) {
	for _, sql := range sqlstmt.CreateOrderBatch() {
		st, err := storeStatement(sql)
		if err != nil {
			return nil, err
		}
		batch = append(batch, st)
	}
	b := &pgx.Batch{}
	if err := outbox.Queue(context.Background(), b, newOrderEvents()...); err != nil {
		return nil, err
	}
	if len(b.QueuedQueries) != len(outboxStatements) {
		return nil, fmt.Errorf("platform/outbox queues %d statements for a new order's events, the bench binds %d", len(b.QueuedQueries), len(outboxStatements))
	}
	for i, q := range b.QueuedQueries {
		st := outboxStatements[i]
		st.sql = q.SQL
		batch = append(batch, st)
	}
	return batch, nil
}
