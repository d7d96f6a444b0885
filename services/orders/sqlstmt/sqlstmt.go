// Package sqlstmt holds the SQL text of the orders store's create-order
// path: the statements of the create's one batch (one round trip, one
// implicit transaction), the idempotency key first. The store (internal/store/postgres) runs
// exactly these constants. They live outside internal/ so that the bench, a
// module of its own, runs the same text in its pgbench baseline instead of a
// copy; a store test checks that the create path sends these statements and
// no others.
package sqlstmt

import "github.com/printfleet/printfleet/platform/outbox"

// InsertIdempotencyKey takes the key for the request and stores its
// response, first in the create's batch: a unique violation on the key's
// primary key aborts the whole batch, and the store then reads what the key
// holds. $1 user id, $2 key, $3 request hash, $4 response, $5 order id, $6
// time to live in milliseconds.
const InsertIdempotencyKey = `
		INSERT INTO idempotency_keys (user_id, key, request_hash, state, response, order_id, locked_until, expires_at)
		VALUES ($1, $2, $3, 1, $4, $5, now(), now() + $6 * interval '1 millisecond')`

// InsertOrder writes the order row: $1…$23 are the columns in the order
// listed. The delivery estimate ($20, JSON) and a draft's expiry ($23) are
// text, the empty string for none (NULL).
const InsertOrder = `
		INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, discount_minor,
			total_minor, coupon_code, payment_method, store_id, external_order_id, quote_id,
			shipping_address, version, created_at, updated_at, trace_parent,
			shipping_method, delivery_estimate, tax_minor, tax_included, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
			$19, NULLIF($20::text, '')::jsonb, $21, $22, NULLIF($23::text, '')::timestamptz)`

// InsertItems writes all of an order's items in one statement from
// parallel arrays: $1 the order id, $2…$16 one array per column.
const InsertItems = `
		INSERT INTO order_items (id, order_id, position, variant_id, product_id, sku, title, quantity,
			design_id, placement_id, unit_price_minor, line_total_minor, design_key, placement, print_file_key,
			external_item_id)
		SELECT u.id, $1, u.position, u.variant_id, u.product_id, u.sku, u.title, u.quantity, u.design_id,
			u.placement_id, u.unit_price, u.line_total, u.design_key, u.placement::jsonb, u.print_file_key,
			u.external_item_id
		FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[],
			$9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::text[], $14::text[], $15::text[],
			$16::text[])
			AS u(id, position, variant_id, product_id, sku, title, quantity, design_id, placement_id,
			     unit_price, line_total, design_key, placement, print_file_key, external_item_id)`

// InsertTimelineEntry writes one timeline entry: $1…$8 are the columns in
// the order listed.
const InsertTimelineEntry = `
			INSERT INTO order_events (id, order_id, type, from_status, to_status, message, attributes, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// CreateOrderBatch is the create's batch as the store queues it for an
// order with one timeline entry (every new order has exactly one): these
// statements, then platform/outbox's (outbox.Queue: one insert per event):
// OrderPlaced's, then the order.created notice's, gated by SubscriberGate.
// The batch is sent outside an explicit transaction, so PostgreSQL runs it as
// one implicit transaction: one round trip, one commit.
func CreateOrderBatch() []string {
	return []string{InsertIdempotencyKey, InsertOrder, InsertItems, InsertTimelineEntry}
}

// SubscriberGate is the condition of an order notice (platform/outbox's
// Event.Gate): the owner is in webhook_subscribers. outbox.Queue turns it
// into an INSERT … SELECT … WHERE EXISTS on that table, which rides the
// change's batch; for an owner who is not subscribed it writes nothing.
func SubscriberGate(userID string) *outbox.Gate {
	return &outbox.Gate{Table: "webhook_subscribers", Column: "user_id", Value: userID}
}
