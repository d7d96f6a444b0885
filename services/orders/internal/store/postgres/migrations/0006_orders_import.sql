-- Marketplace order import. One order per (store_id, external_order_id)
-- when both are set: the import of the same marketplace order from several
-- webhooks and polls at once creates it once, and a direct create naming a
-- pair that exists is refused.
--
-- Orders placed before this migration were never checked for it, so the same
-- pair may be there twice (a client that reused an external id). Those rows
-- are not rewritten (the marketplace push names the external id as it is):
-- every later duplicate of a pair is left out of the index by
-- external_unique = false, the oldest order keeps it. New rows are always
-- in the index.
ALTER TABLE orders ADD COLUMN external_unique boolean NOT NULL DEFAULT true;
UPDATE orders o SET external_unique = false
WHERE o.store_id <> '' AND o.external_order_id <> ''
  AND EXISTS (
      SELECT 1 FROM orders f
      WHERE f.store_id = o.store_id AND f.external_order_id = o.external_order_id
        AND (f.created_at, f.id) < (o.created_at, o.id));
CREATE UNIQUE INDEX orders_store_external ON orders (store_id, external_order_id)
    WHERE store_id <> '' AND external_order_id <> '' AND external_unique;

-- An ON_HOLD order (status 10) says why in hold_reason and keeps the
-- marketplace's request (lines and address as the marketplace named them,
-- JSON) so that a retry resolves it afresh. Neither is read by the
-- reconciler: its scan never selects status 10.
ALTER TABLE orders ADD COLUMN hold_reason text NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN import_request jsonb;
