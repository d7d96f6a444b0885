-- What an order keeps of the quote it was priced with: the shipping method
-- priced into shipping and its delivery estimate (JSON: min_days, max_days,
-- earliest_date, latest_date; NULL for none), and the tax line, added to
-- the total unless the prices include it. Orders placed before this
-- migration have no method, no estimate and no tax.
ALTER TABLE orders ADD COLUMN shipping_method text NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN delivery_estimate jsonb;
ALTER TABLE orders ADD COLUMN tax_minor bigint NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN tax_included boolean NOT NULL DEFAULT false;

-- A DRAFT order (status 11) expires at expires_at unless it is confirmed;
-- NULL for every other status. The worker's expiry sweep reads the due
-- drafts oldest first through this partial index, which holds the drafts
-- only.
ALTER TABLE orders ADD COLUMN expires_at timestamptz;
CREATE INDEX orders_draft_expiry ON orders (expires_at) WHERE status = 11;
