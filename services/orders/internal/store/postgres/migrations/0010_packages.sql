-- Packages: an order ships in one or more packages, each with its own items
-- (and quantities) and its own status as the carrier reports it.
ALTER TABLE shipments
    ADD COLUMN status       smallint    NOT NULL DEFAULT 1,
    ADD COLUMN delivered_at timestamptz,
    -- When the last carrier update (or delivery) applied happened: an
    -- older update changes nothing. NULL before any.
    ADD COLUMN status_at    timestamptz,
    -- The carrier as carrier updates name it: trimmed, lower case.
    ADD COLUMN carrier_key  text        NOT NULL DEFAULT '';

UPDATE shipments SET carrier_key = lower(btrim(carrier));
-- A package of a delivered order was delivered when the order was.
UPDATE shipments s SET status = 3, delivered_at = o.updated_at, status_at = o.updated_at
FROM orders o WHERE o.id = s.order_id AND o.status = 6;

-- Carrier updates find their package by carrier and tracking number.
CREATE INDEX shipments_tracking ON shipments (carrier_key, tracking_number, created_at DESC);

-- The items of each package. A shipment recorded before packages existed
-- carried every item with its full quantity.
CREATE TABLE shipment_items (
    shipment_id uuid    NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    item_id     uuid    NOT NULL REFERENCES order_items (id) ON DELETE CASCADE,
    quantity    integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, item_id)
);
CREATE INDEX shipment_items_item ON shipment_items (item_id);

INSERT INTO shipment_items (shipment_id, item_id, quantity)
SELECT s.id, i.id, i.quantity FROM shipments s JOIN order_items i ON i.order_id = s.order_id;

-- The carrier updates applied, by the carrier's event id: a repeat is
-- answered as the first (the package and the status it answered).
CREATE TABLE carrier_updates (
    event_id    text        PRIMARY KEY,
    order_id    uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    shipment_id uuid        NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    status      smallint    NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
