// Package sqlstmt holds the SQL text of the orders store's create-order
// path: the idempotency-key claim (its own round trip) and the statements of
// the create transaction's batch. The store (internal/store/postgres) runs
// exactly these constants. They live outside internal/ so that the bench, a
// module of its own, runs the same text in its pgbench baseline instead of a
// copy; a store test checks that the create path sends these statements and
// no others.
package sqlstmt

// ClaimIdempotencyKey takes a new key, an expired one, or one whose holder's
// lease ran out, returning true; no row means the key is held or done.
// $1 user id, $2 key, $3 request hash, $4 lease and $5 time to live in
// milliseconds.
const ClaimIdempotencyKey = `
			INSERT INTO idempotency_keys AS k (user_id, key, request_hash, state, locked_until, expires_at)
			VALUES ($1, $2, $3, 0, now() + $4 * interval '1 millisecond', now() + $5 * interval '1 millisecond')
			ON CONFLICT (user_id, key) DO UPDATE
			SET request_hash = EXCLUDED.request_hash, state = 0, response = NULL, order_id = NULL,
			    locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at, created_at = now()
			WHERE k.expires_at < now()
			   OR (k.state = 0 AND k.locked_until < now() AND k.request_hash = EXCLUDED.request_hash)
			RETURNING true`

// CompleteIdempotencyKey stores the first response with the key, if the
// caller still holds it (one row affected). $1 user id, $2 key, $3 request
// hash, $4 response, $5 order id.
const CompleteIdempotencyKey = `
		UPDATE idempotency_keys SET state = 1, response = $4, order_id = $5, locked_until = now()
		WHERE user_id = $1 AND key = $2 AND request_hash = $3 AND state = 0`

// InsertOrder writes the order row: $1…$18 are the columns in the order
// listed.
const InsertOrder = `
		INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, discount_minor,
			total_minor, coupon_code, payment_method, store_id, external_order_id, quote_id,
			shipping_address, version, created_at, updated_at, trace_parent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

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

// CreateOrderBatch is the create transaction's batch as the store queues it
// for an order with one timeline entry (every new order has exactly one):
// these statements, then platform/outbox's (outbox.Queue: one insert per
// event).
func CreateOrderBatch() []string {
	return []string{CompleteIdempotencyKey, InsertOrder, InsertItems, InsertTimelineEntry}
}
