-- Marketplace order import. A store says how its imported orders are paid
-- and, on Amazon, which Selling Partner API region it lives in; the importer
-- keeps its opaque poll cursor and the time of its last finished poll here.
ALTER TABLE stores
    ADD COLUMN payment_method text NOT NULL DEFAULT 'card' CHECK (payment_method IN ('card', 'invoice')),
    ADD COLUMN region         text NOT NULL DEFAULT '' CHECK (region IN ('', 'na', 'eu', 'fe')),
    ADD COLUMN import_cursor  text NOT NULL DEFAULT '',
    ADD COLUMN last_import_at timestamptz,
    ADD COLUMN order_import   text NOT NULL DEFAULT 'auto' CHECK (order_import IN ('auto', 'off'));
-- Amazon stores connected before regions were named are North American.
UPDATE stores SET region = 'na' WHERE marketplace = 'amazon' AND region = '';
CREATE INDEX stores_import ON stores (id) WHERE NOT needs_reconnection AND order_import = 'auto';

-- One row per verified webhook delivery of a store: a redelivery (same
-- webhook id) finds its row and announces nothing. Rows older than the
-- retention are pruned after new deliveries of the same store.
CREATE TABLE marketplace_webhooks (
    store_id    uuid        NOT NULL REFERENCES stores (id) ON DELETE CASCADE,
    webhook_id  text        NOT NULL,
    topic       text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, webhook_id)
);
CREATE INDEX marketplace_webhooks_received ON marketplace_webhooks (store_id, received_at);
