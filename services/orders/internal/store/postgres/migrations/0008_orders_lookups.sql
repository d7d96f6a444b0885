-- Order lookups (GET /v1/orders filters). Every list is one user's orders,
-- newest first, keyset-paged on (created_at, id): the existing
-- orders_user_created and orders_user_status_created serve no filter, the
-- created-at range and status; these two serve a store and a marketplace
-- order number (any other filter of the same request is checked on the rows
-- the index yields, which the leading equality keeps few).
CREATE INDEX orders_user_store_created ON orders (user_id, store_id, created_at DESC, id DESC);
CREATE INDEX orders_user_external_created ON orders (user_id, external_order_id, created_at DESC, id DESC);
