-- A store whose credentials the marketplace refused needs the seller to
-- connect it again; refreshed OAuth tokens are saved into credentials.
ALTER TABLE stores
    ADD COLUMN needs_reconnection  boolean     NOT NULL DEFAULT false,
    ADD COLUMN reconnection_reason text        NOT NULL DEFAULT '',
    ADD COLUMN credentials_updated_at timestamptz;
