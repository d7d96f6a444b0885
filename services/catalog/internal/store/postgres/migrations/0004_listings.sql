-- Listings map a store's marketplace listings (an external product id,
-- variant id or SKU) to the variant printfleet prints, with an optional
-- design and placement. A line matches one listing: the external variant id
-- and the SKU are unique per store, and so is a product named alone.
CREATE TABLE listings (
    id                  uuid PRIMARY KEY,
    store_id            uuid        NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    external_product_id text        NOT NULL DEFAULT '',
    external_variant_id text        NOT NULL DEFAULT '',
    sku                 text        NOT NULL DEFAULT '',
    variant_id          uuid        NOT NULL REFERENCES variants (id),
    design_id           uuid        REFERENCES designs (id),
    placement_id        uuid        REFERENCES placements (id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (external_product_id <> '' OR external_variant_id <> '' OR sku <> '')
);
CREATE UNIQUE INDEX listings_store_variant_key ON listings (store_id, external_variant_id) WHERE external_variant_id <> '';
CREATE UNIQUE INDEX listings_store_sku_key ON listings (store_id, sku) WHERE sku <> '';
CREATE UNIQUE INDEX listings_store_product_key ON listings (store_id, external_product_id)
    WHERE external_variant_id = '' AND sku = '';
CREATE INDEX listings_store ON listings (store_id, id);
