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
// timeline entry), then the outbox row (the relay is woken in-process after
// the commit, with no SQL).

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
		"total", "empty", "payment_method", "empty", "empty", "quote_id", "address", "version", "created_at", "created_at", "trace_parent"}},
	{"insert items", sqlstmt.InsertItems, []string{"order_id", "item_ids", "positions", "variant_ids", "product_ids", "skus", "titles",
		"quantities", "empties", "empties", "unit_prices", "line_totals", "empties", "nulls", "empties", "empties"}},
	{"insert timeline entry", sqlstmt.InsertTimelineEntry, []string{"event_id", "order_id", "event_type", "zero", "status", "event_message", "attributes", "created_at"}},
}

// outboxStatements bind, in order, what outbox.Queue adds for one event.
var outboxStatements = []orderStatement{
	{name: "insert outbox row", args: []string{"outbox_id", "outbox_type", "payload", "headers", "origin"}},
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
	if err := outbox.Queue(context.Background(), b, outbox.Event{Type: eventsv1.KeyOrderPlaced, Payload: &eventsv1.OrderPlaced{}}); err != nil {
		return nil, err
	}
	if len(b.QueuedQueries) != len(outboxStatements) {
		return nil, fmt.Errorf("platform/outbox queues %d statements for one event, the bench binds %d", len(b.QueuedQueries), len(outboxStatements))
	}
	for i, q := range b.QueuedQueries {
		st := outboxStatements[i]
		st.sql = q.SQL
		batch = append(batch, st)
	}
	return batch, nil
}
