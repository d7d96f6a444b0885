package baseline

// The order-create transaction's SQL, copied from the orders store
// (services/orders/internal/store/postgres: ClaimIdempotencyKey and
// CreateOrder) and platform/outbox (Queue). The store keeps its SQL inline
// in an internal package, so it cannot be imported; TestOrderSQLMatchesStore
// parses those source files and fails when any statement here differs from
// the store's text by a single byte, or when the store gains or loses a
// statement on this path.
//
// The store's round trips, which the pgbench script mirrors:
//  1. ClaimIdempotencyKey: the claim INSERT, on its own (autocommit).
//  2. BEGIN.
//  3. One pipelined batch: complete the idempotency record, the order, its
//     items (one INSERT … SELECT FROM unnest), the timeline entry, the
//     outbox row, and the relay wake-up.
//  4. COMMIT.

const sqlClaimIdempotencyKey = `
			INSERT INTO idempotency_keys AS k (user_id, key, request_hash, state, locked_until, expires_at)
			VALUES ($1, $2, $3, 0, now() + $4 * interval '1 millisecond', now() + $5 * interval '1 millisecond')
			ON CONFLICT (user_id, key) DO UPDATE
			SET request_hash = EXCLUDED.request_hash, state = 0, response = NULL, order_id = NULL,
			    locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at, created_at = now()
			WHERE k.expires_at < now()
			   OR (k.state = 0 AND k.locked_until < now() AND k.request_hash = EXCLUDED.request_hash)
			RETURNING true`

const sqlCompleteIdempotencyKey = `
		UPDATE idempotency_keys SET state = 1, response = $4, order_id = $5, locked_until = now()
		WHERE user_id = $1 AND key = $2 AND request_hash = $3 AND state = 0`

const sqlInsertOrder = `
		INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, discount_minor,
			total_minor, coupon_code, payment_method, store_id, external_order_id, quote_id,
			shipping_address, version, created_at, updated_at, trace_parent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

const sqlInsertItems = `
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

const sqlInsertTimeline = `
			INSERT INTO order_events (id, order_id, type, from_status, to_status, message, attributes, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// From platform/outbox: insertSQL, then the relay wake-up Queue adds after
// the inserts (pg_notify on notifyChannel, folded to its text here).
const sqlInsertOutbox = `INSERT INTO outbox (id, type, payload, headers) VALUES ($1, $2, $3, $4)`

const sqlNotifyOutbox = `SELECT pg_notify('printfleet_outbox', '')`

// orderStatement is one statement of the transaction with the pgbench
// variable bound to each of its $n parameters.
type orderStatement struct {
	name string
	sql  string
	args []string
}

// createOrderClaim is round trip 1; createOrderBatch is round trip 3.
var (
	createOrderClaim = orderStatement{"claim idempotency key", sqlClaimIdempotencyKey,
		[]string{"user_id", "idem_key", "req_hash", "lease_ms", "ttl_ms"}}
	createOrderBatch = []orderStatement{
		{"complete idempotency key", sqlCompleteIdempotencyKey, []string{"user_id", "idem_key", "req_hash", "response", "order_id"}},
		{"insert order", sqlInsertOrder, []string{"order_id", "user_id", "status", "currency", "subtotal", "shipping", "discount",
			"total", "empty", "payment_method", "empty", "empty", "quote_id", "address", "version", "created_at", "created_at", "trace_parent"}},
		{"insert items", sqlInsertItems, []string{"order_id", "item_ids", "positions", "variant_ids", "product_ids", "skus", "titles",
			"quantities", "empties", "empties", "unit_prices", "line_totals", "empties", "nulls", "empties", "empties"}},
		{"insert timeline entry", sqlInsertTimeline, []string{"event_id", "order_id", "event_type", "zero", "status", "event_message", "attributes", "created_at"}},
		{"insert outbox row", sqlInsertOutbox, []string{"outbox_id", "outbox_type", "payload", "headers"}},
		{"wake the relay", sqlNotifyOutbox, nil},
	}
)
