-- Business days in transit per shipping rate (min_days <= max_days). Rows
-- written before carry the usual ranges: standard 3-7, express 1-3, any
-- other method 2-7. Writes always set both, so no default stays.
ALTER TABLE shipping_rates
    ADD COLUMN min_days integer NOT NULL DEFAULT 2 CHECK (min_days BETWEEN 0 AND 60),
    ADD COLUMN max_days integer NOT NULL DEFAULT 7 CHECK (max_days BETWEEN 0 AND 60),
    ADD CONSTRAINT shipping_rates_days_chk CHECK (min_days <= max_days);

UPDATE shipping_rates SET min_days = 3, max_days = 7 WHERE method = 'standard';
UPDATE shipping_rates SET min_days = 1, max_days = 3 WHERE method = 'express';

ALTER TABLE shipping_rates
    ALTER COLUMN min_days DROP DEFAULT,
    ALTER COLUMN max_days DROP DEFAULT;

-- Tax per destination: a whole country (region '') or one region of it,
-- whose row wins over the country's. prices_include_tax: prices to the
-- destination include the tax (VAT-style), so a quote shows the part of its
-- total that is tax instead of adding it.
CREATE TABLE tax_rates (
    country_code       text    NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
    region             text    NOT NULL DEFAULT '' CHECK (region ~ '^[A-Z0-9]{0,3}$'),
    rate_bp            integer NOT NULL CHECK (rate_bp BETWEEN 0 AND 5000),
    prices_include_tax boolean NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (country_code, region)
);
