-- The reconciler's scan: orders that may be waiting for a step (CONFIRMED,
-- PAID, SHIPPED for a marketplace store, cancelled with an unrefunded
-- payment), by how long they have not changed. Statuses are the proto enum
-- numbers; the store's query repeats this predicate so the index applies.
CREATE INDEX orders_unsettled ON orders (updated_at)
    WHERE status IN (2, 3)
       OR (status = 5 AND store_id <> '')
       OR (status = 9 AND payment_id <> '' AND refund_id = '');
