-- Pricing's price data. Every write bumps price_data_version in the same
-- transaction and notifies channel pricing_price_data, so every replica
-- reloads its in-memory snapshot.

CREATE TABLE price_data_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint  NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO price_data_version (version) VALUES (0);

CREATE TABLE variant_prices (
    variant_id   uuid   NOT NULL,
    region       text   NOT NULL CHECK (region ~ '^([A-Z]{2}|\*)$'),
    currency     text   NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (variant_id, region, currency)
);

CREATE TABLE placement_surcharges (
    technique    text   NOT NULL CHECK (technique ~ '^[a-z0-9_-]{1,32}$'),
    currency     text   NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (technique, currency)
);

CREATE TABLE shipping_rates (
    method                text   NOT NULL CHECK (method ~ '^[a-z0-9_-]{1,32}$'),
    country_code          text   NOT NULL CHECK (country_code ~ '^([A-Z]{2}|\*)$'),
    currency              text   NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    first_item_minor      bigint NOT NULL CHECK (first_item_minor >= 0),
    additional_item_minor bigint NOT NULL CHECK (additional_item_minor >= 0),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (method, country_code, currency)
);

-- Several coupons may share a code with disjoint [valid_from, valid_until)
-- windows; writers serialise per code with an advisory lock and check.
CREATE TABLE coupons (
    id                    uuid PRIMARY KEY,
    code                  text NOT NULL CHECK (code ~ '^[A-Z0-9_-]{1,64}$'),
    kind                  text NOT NULL CHECK (kind IN ('percent', 'fixed')),
    percent_bp            integer NOT NULL DEFAULT 0 CHECK (percent_bp BETWEEN 0 AND 10000),
    amount_off_currency   text CHECK (amount_off_currency ~ '^[A-Z]{3}$'),
    amount_off_minor      bigint CHECK (amount_off_minor > 0),
    min_subtotal_currency text CHECK (min_subtotal_currency ~ '^[A-Z]{3}$'),
    min_subtotal_minor    bigint CHECK (min_subtotal_minor >= 0),
    valid_from            timestamptz NOT NULL,
    valid_until           timestamptz NOT NULL,
    usage_limit           integer NOT NULL DEFAULT 0 CHECK (usage_limit >= 0),
    used                  integer NOT NULL DEFAULT 0 CHECK (used >= 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until > valid_from),
    CHECK ((kind = 'percent' AND percent_bp > 0 AND amount_off_minor IS NULL)
        OR (kind = 'fixed' AND percent_bp = 0 AND amount_off_minor IS NOT NULL AND amount_off_currency IS NOT NULL)),
    CHECK ((min_subtotal_minor IS NULL) = (min_subtotal_currency IS NULL)),
    CHECK (usage_limit = 0 OR used <= usage_limit)
);
CREATE INDEX coupons_code_idx ON coupons (code, valid_from);

-- One coupon per order: a redemption is recorded once, whatever the retries.
CREATE TABLE coupon_redemptions (
    order_id    text PRIMARY KEY CHECK (length(order_id) BETWEEN 1 AND 128),
    coupon_id   uuid NOT NULL REFERENCES coupons (id),
    redeemed_at timestamptz NOT NULL DEFAULT now()
);

-- Exact decimal rates: one major unit of base buys rate major units of quote.
CREATE TABLE fx_rates (
    base       text NOT NULL CHECK (base ~ '^[A-Z]{3}$'),
    quote      text NOT NULL CHECK (quote ~ '^[A-Z]{3}$'),
    rate       numeric(19, 10) NOT NULL CHECK (rate > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (base, quote),
    CHECK (base <> quote)
);

-- How each catalog placement is printed (surcharges are per technique).
CREATE TABLE placement_techniques (
    placement_id uuid PRIMARY KEY,
    technique    text NOT NULL CHECK (technique ~ '^[a-z0-9_-]{1,32}$'),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
