-- Dead letters parked from each consumer queue's <queue>.dlq. One row per
-- (queue, message id): a letter dead-lettered again after a replay parks
-- the same row again and counts it.
CREATE TABLE dead_letters (
    id                  uuid        PRIMARY KEY,
    queue               text        NOT NULL,
    message_id          text        NOT NULL,
    type                text        NOT NULL,
    body                bytea       NOT NULL,
    content_type        text        NOT NULL DEFAULT '',
    headers             jsonb       NOT NULL DEFAULT '{}',
    message_time        timestamptz,
    reason              text        NOT NULL DEFAULT '',
    attempts            integer     NOT NULL DEFAULT 0,
    state               text        NOT NULL CHECK (state IN ('PARKED', 'REPLAYED', 'DISCARDED')),
    times_dead_lettered integer     NOT NULL DEFAULT 1,
    dead_lettered_at    timestamptz NOT NULL,
    order_id            text        NOT NULL DEFAULT '',
    resolved_by         text        NOT NULL DEFAULT '',
    resolved_at         timestamptz,
    resolution_reason   text        NOT NULL DEFAULT '',
    CONSTRAINT dead_letters_message UNIQUE (queue, message_id)
);
CREATE INDEX dead_letters_state ON dead_letters (state, dead_lettered_at DESC, id DESC);
CREATE INDEX dead_letters_queue ON dead_letters (queue, state, dead_lettered_at DESC, id DESC);
CREATE INDEX dead_letters_order ON dead_letters (order_id, dead_lettered_at DESC, id DESC) WHERE order_id <> '';

-- Every operator action: who, what, on what, when, why. action_id is the
-- caller's idempotency key: a repeated action answers its first row.
CREATE TABLE audit_log (
    id          uuid        PRIMARY KEY,
    action_id   uuid        NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    affected    integer     NOT NULL,
    request_id  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    CONSTRAINT audit_log_action UNIQUE (action_id)
);
CREATE INDEX audit_log_created ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_target ON audit_log (target, created_at DESC, id DESC);
