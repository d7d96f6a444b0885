-- The users with outbound webhook subscriptions, as the webhooks service
-- reports them (SetWebhookSubscriber). An order's change writes its
-- OrderNotice to the outbox only when its owner is here: the outbox INSERT
-- checks it itself (INSERT … SELECT … WHERE EXISTS), in the change's batch.
CREATE TABLE webhook_subscribers (
    user_id    text        PRIMARY KEY,
    updated_at timestamptz NOT NULL DEFAULT now()
);
