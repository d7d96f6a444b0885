-- The reconciler re-drives the marketplace pushes of PARTIALLY_SHIPPED
-- orders too (status 12): its scan's partial index takes them in.
DROP INDEX orders_unsettled;
CREATE INDEX orders_unsettled ON orders (updated_at)
    WHERE status IN (1, 2, 3)
       OR (status IN (5, 12) AND store_id <> '')
       OR (status = 9 AND payment_id <> '' AND refund_id = '');
