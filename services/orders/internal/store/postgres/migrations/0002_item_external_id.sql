-- The marketplace's own line item id for imported orders (e.g. Amazon's
-- orderItemId), named when tracking is pushed back.
ALTER TABLE order_items ADD COLUMN external_item_id text NOT NULL DEFAULT '';
