-- Every recorded attempt of a delivery (the delivery row keeps the last
-- one), for support: what each attempt got. Deleted with its delivery.
CREATE TABLE delivery_attempts (
    delivery_id     uuid        NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt         int         NOT NULL,
    attempted_at    timestamptz NOT NULL,
    response_status int         NOT NULL,
    error           text        NOT NULL DEFAULT '',
    latency_ms      bigint      NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
