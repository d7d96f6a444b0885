-- The process that wrote an outbox row: its relay, woken in-process after the
-- commit, publishes the row at once; relays of other processes take it only
-- from their safety-net poll, once it is older than their grace period (the
-- writer died, or has no relay). NULL (rows written before this column) counts
-- as another process.
ALTER TABLE outbox ADD COLUMN origin text;
