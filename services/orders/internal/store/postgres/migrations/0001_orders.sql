-- Orders, their items, shipments, timeline and idempotency keys. Statuses and
-- payment methods are stored as the proto enum numbers.
CREATE TABLE orders (
    id                uuid        PRIMARY KEY,
    user_id           text        NOT NULL,
    status            smallint    NOT NULL,
    currency          text        NOT NULL,
    subtotal_minor    bigint      NOT NULL,
    shipping_minor    bigint      NOT NULL,
    discount_minor    bigint      NOT NULL,
    total_minor       bigint      NOT NULL,
    coupon_code       text        NOT NULL DEFAULT '',
    payment_method    smallint    NOT NULL,
    store_id          text        NOT NULL DEFAULT '',
    external_order_id text        NOT NULL DEFAULT '',
    quote_id          text        NOT NULL DEFAULT '',
    payment_id        text        NOT NULL DEFAULT '',
    refund_id         text        NOT NULL DEFAULT '',
    failure_reason    text        NOT NULL DEFAULT '',
    stock_reserved    boolean     NOT NULL DEFAULT false,
    shipping_address  jsonb       NOT NULL,
    -- Every transition is a compare-and-set on version.
    version           bigint      NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- ListOrders: the caller's orders newest first (keyset on created_at, id),
-- with and without a status filter.
CREATE INDEX orders_user_created ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_user_status_created ON orders (user_id, status, created_at DESC, id DESC);

CREATE TABLE order_items (
    id               uuid     PRIMARY KEY,
    order_id         uuid     NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position         int      NOT NULL,
    variant_id       text     NOT NULL,
    product_id       text     NOT NULL DEFAULT '',
    sku              text     NOT NULL DEFAULT '',
    title            text     NOT NULL DEFAULT '',
    quantity         int      NOT NULL CHECK (quantity > 0),
    design_id        text     NOT NULL DEFAULT '',
    placement_id     text     NOT NULL DEFAULT '',
    unit_price_minor bigint   NOT NULL,
    line_total_minor bigint   NOT NULL,
    -- What rendering needs, captured when the order is placed.
    design_key       text     NOT NULL DEFAULT '',
    placement        jsonb,
    print_file_key   text     NOT NULL DEFAULT '',
    UNIQUE (order_id, position)
);

CREATE TABLE shipments (
    id              uuid        PRIMARY KEY,
    order_id        uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    carrier         text        NOT NULL,
    tracking_number text        NOT NULL,
    tracking_url    text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL
);
CREATE INDEX shipments_order ON shipments (order_id, created_at);

-- The timeline, oldest first by seq.
CREATE TABLE order_events (
    seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          uuid        NOT NULL UNIQUE,
    order_id    uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    type        text        NOT NULL,
    from_status smallint    NOT NULL DEFAULT 0,
    to_status   smallint    NOT NULL DEFAULT 0,
    message     text        NOT NULL DEFAULT '',
    attributes  jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, seq);

-- Idempotency-Key per (user, key). state 0 = in flight (locked_until bounds a
-- crashed holder), 1 = done (response holds the first answer, replayed
-- byte for byte). Rows expire after 24 h and are swept.
CREATE TABLE idempotency_keys (
    user_id      text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    state        smallint    NOT NULL DEFAULT 0,
    response     bytea,
    order_id     uuid,
    locked_until timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
