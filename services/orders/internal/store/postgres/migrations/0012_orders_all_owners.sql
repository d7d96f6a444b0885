-- Listing every owner's orders (admin and support, the operator console):
-- the same keyset order (created_at, id) as a user's list, without the
-- user. A store filter uses orders_store_created (migration 0011).
CREATE INDEX orders_created ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_created ON orders (status, created_at DESC, id DESC);
CREATE INDEX orders_external_created ON orders (external_order_id, created_at DESC, id DESC)
    WHERE external_order_id <> '';
