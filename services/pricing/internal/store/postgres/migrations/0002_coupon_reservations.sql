-- Coupon uses are redeemed when the order is placed, not counted later: a
-- reservation is one use of a coupon, taken by the pricing call of an order
-- create under the order's key (one per placement, whatever the retries),
-- 'pending' until the order's OrderPlaced makes it 'confirmed'; 'released'
-- when the order is cancelled, rejected or its payment fails, 'expired' when
-- it was never confirmed in time (the order did not commit). coupons.used
-- counts the pending and confirmed reservations of the coupon.
ALTER TABLE coupons
    ADD COLUMN per_customer_limit integer NOT NULL DEFAULT 0 CHECK (per_customer_limit >= 0);

CREATE TABLE coupon_reservations (
    order_key   text PRIMARY KEY CHECK (length(order_key) BETWEEN 1 AND 128),
    coupon_id   uuid NOT NULL REFERENCES coupons (id),
    customer_id text NOT NULL,
    state       text NOT NULL CHECK (state IN ('pending', 'confirmed', 'released', 'expired')),
    -- A pending reservation past this expires.
    expires_at  timestamptz NOT NULL,
    -- The order whose placement confirmed the use.
    confirmed_order_id text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_reservations_customer_idx ON coupon_reservations (coupon_id, customer_id);
CREATE INDEX coupon_reservations_pending_idx ON coupon_reservations (expires_at) WHERE state = 'pending';

-- The orders each attempt of a placement would create (a retry of a create
-- that did not commit gets a new order id); the one that commits confirms
-- the reservation, and cancelling it releases the reservation.
CREATE TABLE coupon_reservation_orders (
    order_id  text PRIMARY KEY CHECK (length(order_id) BETWEEN 1 AND 128),
    order_key text NOT NULL REFERENCES coupon_reservations (order_key) ON DELETE CASCADE
);
CREATE INDEX coupon_reservation_orders_key_idx ON coupon_reservation_orders (order_key);

-- Uses counted before this migration become confirmed reservations.
INSERT INTO coupon_reservations (order_key, coupon_id, customer_id, state, expires_at, created_at, confirmed_order_id)
SELECT 'order-' || order_id, coupon_id, '', 'confirmed', redeemed_at, redeemed_at, order_id FROM coupon_redemptions
ON CONFLICT DO NOTHING;
INSERT INTO coupon_reservation_orders (order_id, order_key)
SELECT order_id, 'order-' || order_id FROM coupon_redemptions
ON CONFLICT DO NOTHING;
DROP TABLE coupon_redemptions;
