-- Sellers' subscriptions. Signing secrets are sealed (platform/secret, the
-- endpoint id as associated data).
CREATE TABLE endpoints (
    id                       uuid        PRIMARY KEY,
    owner_id                 text        NOT NULL,
    url                      text        NOT NULL,
    event_types              text[]      NOT NULL,
    description              text        NOT NULL DEFAULT '',
    secret_sealed            bytea       NOT NULL,
    prev_secret_sealed       bytea,
    prev_secret_expires_at   timestamptz,
    status                   text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    disabled_reason          text        NOT NULL DEFAULT '',
    failing_since            timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_owner ON endpoints (owner_id, created_at DESC, id DESC);
CREATE INDEX endpoints_created ON endpoints (created_at DESC, id DESC);

-- Events, rendered once: every delivery and retry sends these bytes. The id
-- is the notice's message id.
CREATE TABLE events (
    id          uuid        PRIMARY KEY,
    type        text        NOT NULL,
    owner_id    text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    body        bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_created ON events (created_at);

-- One event to one endpoint. attempts counts the attempts claimed, and
-- fences a late result: an attempt records its outcome only if no later
-- claim took the delivery after its lease expired.
CREATE TABLE deliveries (
    id                uuid        PRIMARY KEY,
    endpoint_id       uuid        NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id          uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    status            text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts          int         NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz,
    leased_until      timestamptz,
    response_status   int         NOT NULL DEFAULT 0,
    response_body     text        NOT NULL DEFAULT '',
    error             text        NOT NULL DEFAULT '',
    latency_ms        bigint      NOT NULL DEFAULT 0,
    last_attempt_at   timestamptz,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id)
);
-- The dispatcher's claim: pending deliveries by due time.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
-- ListDeliveries: an endpoint's deliveries, newest first.
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_created ON deliveries (created_at);
