-- A marketplace order's package waits for the outcome of its push:
-- push_pending is set when the package is recorded and cleared when an
-- outcome naming it is. The reconciler's push step reads the packages from
-- this partial index, which holds only those still waiting, instead of
-- walking every shipped marketplace order ever (they never leave
-- orders_unsettled while it names status 5 and 12).
ALTER TABLE shipments ADD COLUMN push_pending boolean NOT NULL DEFAULT false;

UPDATE shipments s SET push_pending = true
FROM orders o
WHERE o.id = s.order_id AND o.store_id <> ''
  AND NOT EXISTS (
      SELECT 1 FROM order_events e
      WHERE e.order_id = o.id AND e.type IN ('marketplace.push_succeeded', 'marketplace.push_failed')
        AND e.attributes->>'shipment_id' = s.id::text);

CREATE INDEX shipments_push_pending ON shipments (created_at) WHERE push_pending;

DROP INDEX orders_unsettled;
CREATE INDEX orders_unsettled ON orders (updated_at)
    WHERE status IN (1, 2, 3)
       OR (status = 9 AND payment_id <> '' AND refund_id = '');
