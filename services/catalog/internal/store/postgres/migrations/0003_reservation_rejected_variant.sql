-- A rejection keeps the variant it named, so that a repeated OrderPlaced for
-- the order announces the same StockRejected again.
ALTER TABLE reservations ADD COLUMN rejected_variant_id text NOT NULL DEFAULT '';
