-- The reconciler also places again PENDING orders whose stock answer was
-- lost: the scan's partial index covers them too.
DROP INDEX orders_unsettled;
CREATE INDEX orders_unsettled ON orders (updated_at)
    WHERE status IN (1, 2, 3)
       OR (status = 5 AND store_id <> '')
       OR (status = 9 AND payment_id <> '' AND refund_id = '');
