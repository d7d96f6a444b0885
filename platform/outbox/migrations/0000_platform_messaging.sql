-- Transactional outbox: rows are written in the same transaction as the change
-- they announce and published by the relay with publisher confirms.
CREATE TABLE outbox (
    seq          bigserial   PRIMARY KEY,
    id           uuid        NOT NULL UNIQUE,
    type         text        NOT NULL,
    payload      bytea       NOT NULL,
    -- W3C trace context of the transaction that wrote the row.
    headers      jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Inbox: one row per (consumer, message) processed, written in the same
-- transaction as the consumer's side effect.
CREATE TABLE processed_messages (
    consumer     text        NOT NULL,
    message_id   text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
CREATE INDEX processed_messages_at ON processed_messages (processed_at);
