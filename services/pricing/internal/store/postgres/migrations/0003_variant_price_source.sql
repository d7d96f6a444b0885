-- Who wrote a variant price. An admin's price (SetVariantPrices, the admin
-- REST routes) is explicit and the catalog never replaces it; a catalog price
-- is the variant's default list price (region "*"), written from the
-- catalog's VariantPricesChanged events.
ALTER TABLE variant_prices
    ADD COLUMN source text NOT NULL DEFAULT 'admin' CHECK (source IN ('admin', 'catalog')),
    ADD CONSTRAINT variant_prices_catalog_region_chk CHECK (source = 'admin' OR region = '*');

-- The newest product version pricing has seen per variant, kept even while an
-- admin price makes the catalog's moot, so that an older event arriving late
-- changes nothing.
CREATE TABLE catalog_variant_versions (
    variant_id uuid PRIMARY KEY,
    product_id text NOT NULL,
    version    bigint NOT NULL CHECK (version > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
