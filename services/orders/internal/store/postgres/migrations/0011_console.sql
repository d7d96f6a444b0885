-- The operator console.
--
-- An item's mockup (renders bucket), recorded with its print file from
-- PrintFilesReady. Items rendered before this migration keep '' (their
-- mockups exist in the bucket, but no message named them to orders).
ALTER TABLE order_items ADD COLUMN mockup_key text NOT NULL DEFAULT '';

-- Store activity (ListStoreActivity): per store, its newest order and its
-- ON_HOLD orders (status 10) are index lookups on these two; the partial
-- index keeps only held orders, which are few.
CREATE INDEX orders_store_created ON orders (store_id, created_at DESC) WHERE store_id <> '';
CREATE INDEX orders_store_on_hold ON orders (store_id) WHERE status = 10;

-- ... and its marketplace pushes by outcome, newest first: the timeline
-- entries of a push name their store in attributes.store_id (the worker
-- writes it with every outcome), so the newest success, the newest failure
-- and the failures since a time are each a short range of this index
-- instead of a walk over every order of the store. Only push entries are in
-- it: a small index.
CREATE INDEX order_events_store_push ON order_events ((attributes->>'store_id'), type, created_at DESC)
    WHERE type IN ('marketplace.push_succeeded', 'marketplace.push_failed');
