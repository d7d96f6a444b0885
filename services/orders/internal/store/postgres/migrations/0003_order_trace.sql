-- The W3C traceparent of the request that placed the order: events written by
-- later requests about the order (a shipment, a cancellation) continue the
-- order's trace, so that one trace follows the order to the marketplace push.
ALTER TABLE orders ADD COLUMN trace_parent text NOT NULL DEFAULT '';
