-- The order an event is about (order notices; NULL for any other event), so
-- that the operator console lists every delivery about one order across
-- subscriptions (ListOrderDeliveries) on an index instead of reading
-- bodies.
ALTER TABLE events ADD COLUMN order_id uuid;

-- Events stored before this migration name their order only in the body
-- (data.order.id of the rendered notice): fill the column from it, so that
-- their deliveries are listed too. Events are purged after the retention,
-- so this reads a bounded table; a body that does not parse or names no
-- uuid keeps NULL.
UPDATE events SET order_id = (body_json #>> '{data,order,id}')::uuid
FROM (SELECT id AS event_id, convert_from(body, 'UTF8')::jsonb AS body_json FROM events
      WHERE type LIKE 'order.%' AND order_id IS NULL) b
WHERE events.id = b.event_id
  AND (body_json #>> '{data,order,id}') ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

CREATE INDEX events_order ON events (order_id) WHERE order_id IS NOT NULL;
