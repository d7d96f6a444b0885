-- Catalog: products, variants (with blank stock), placements, designs,
-- marketplace stores, stock reservations.
CREATE TABLE products (
    id          uuid PRIMARY KEY,
    title       text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    image_key   text        NOT NULL DEFAULT '',
    active      boolean     NOT NULL DEFAULT true,
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE variants (
    id             uuid PRIMARY KEY,
    product_id     uuid        NOT NULL REFERENCES products (id),
    position       integer     NOT NULL,
    sku            text        NOT NULL,
    title          text        NOT NULL,
    size           text        NOT NULL DEFAULT '',
    color          text        NOT NULL DEFAULT '',
    weight_grams   integer     NOT NULL DEFAULT 0 CHECK (weight_grams >= 0),
    price_currency text        NOT NULL DEFAULT 'USD',
    price_minor    bigint      NOT NULL CHECK (price_minor >= 0),
    active         boolean     NOT NULL DEFAULT true,
    stock_tracked  boolean     NOT NULL DEFAULT false,
    -- Never negative: the reservation UPDATE checks it and so does the table.
    available      bigint      NOT NULL DEFAULT 0 CHECK (available >= 0)
);
CREATE UNIQUE INDEX variants_sku_key ON variants (upper(sku));
CREATE INDEX variants_product ON variants (product_id, position);

CREATE TABLE placements (
    id              uuid PRIMARY KEY,
    product_id      uuid             NOT NULL REFERENCES products (id),
    position        integer          NOT NULL,
    name            text             NOT NULL,
    width_in        double precision NOT NULL CHECK (width_in > 0),
    height_in       double precision NOT NULL CHECK (height_in > 0),
    min_dpi         integer          NOT NULL CHECK (min_dpi > 0),
    recommended_dpi integer          NOT NULL CHECK (recommended_dpi >= min_dpi),
    technique       text             NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX placements_product_name_key ON placements (product_id, lower(name));

-- One row per order: the order id makes stock handling idempotent whatever
-- message delivered it; a row in status cancelled records a release that
-- arrived before the order was seen, so a late OrderPlaced reserves nothing.
CREATE TABLE reservations (
    order_id    text PRIMARY KEY,
    id          uuid        NOT NULL,
    status      text        NOT NULL CHECK (status IN ('pending', 'reserved', 'rejected', 'released', 'cancelled')),
    reason      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservation_items (
    order_id   text   NOT NULL REFERENCES reservations (order_id),
    variant_id uuid   NOT NULL REFERENCES variants (id),
    quantity   bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, variant_id)
);

CREATE TABLE designs (
    id            uuid PRIMARY KEY,
    owner_id      text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('pending_upload', 'processing', 'ready', 'rejected')),
    filename      text        NOT NULL,
    content_type  text        NOT NULL,
    size_bytes    bigint      NOT NULL,
    object_key    text        NOT NULL,
    master_key    text        NOT NULL DEFAULT '',
    thumbnail_key text        NOT NULL DEFAULT '',
    preview_key   text        NOT NULL DEFAULT '',
    report        jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX designs_owner ON designs (owner_id, id);

CREATE TABLE stores (
    id                    uuid PRIMARY KEY,
    owner_id              text             NOT NULL,
    marketplace           text             NOT NULL CHECK (marketplace IN ('shopify', 'etsy', 'amazon')),
    shop_id               text             NOT NULL,
    name                  text             NOT NULL,
    -- AES-256-GCM: version || nonce || ciphertext+tag, bound to id and owner.
    credentials           bytea            NOT NULL,
    rate_limit_per_second double precision NOT NULL DEFAULT 0,
    rate_limit_burst      integer          NOT NULL DEFAULT 0,
    created_at            timestamptz      NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX stores_owner_shop_key ON stores (owner_id, marketplace, shop_id);
