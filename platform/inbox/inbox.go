// Package inbox makes message consumers exactly-once in effect: the consumer
// records the message id in processed_messages in the same transaction as its
// side effect, so a redelivered message changes nothing. The table is created
// by outbox.Migrations.
package inbox

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/postgres"
)

const claimSQL = `INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`

// Queue adds the claim of (consumer, messageID) to a batch the caller sends
// inside its transaction, so that the claim rides the same round trip as
// the change. The claim's result affects one row the first time and none
// when the message was already processed (then the caller rolls back).
func Queue(b *pgx.Batch, consumer, messageID string) error {
	if messageID == "" {
		return amqp.Permanent(fmt.Errorf("inbox %s: message has no id", consumer))
	}
	b.Queue(claimSQL, consumer, messageID)
	return nil
}

// Claim records (consumer, messageID) in tx and reports whether this is the
// first time; false means the message was already processed and the caller
// must do nothing.
func Claim(ctx context.Context, tx pgx.Tx, consumer, messageID string) (bool, error) {
	if messageID == "" {
		return false, amqp.Permanent(fmt.Errorf("inbox %s: message has no id", consumer))
	}
	tag, err := tx.Exec(ctx, claimSQL, consumer, messageID)
	if err != nil {
		return false, fmt.Errorf("inbox %s: claim: %w", consumer, err)
	}
	return tag.RowsAffected() == 1, nil
}

// TxHandler handles one delivery inside the inbox transaction.
type TxHandler func(ctx context.Context, tx pgx.Tx, d amqp.Delivery) error

// Handler wraps fn so that each delivery runs in one transaction with its
// inbox claim: an already processed message is acked without calling fn, and
// an error from fn rolls back the claim too, so the retry runs fn again.
func Handler(pool *pgxpool.Pool, consumer string, fn TxHandler) amqp.Handler {
	return func(ctx context.Context, d amqp.Delivery) error {
		return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			first, err := Claim(ctx, tx, consumer, d.ID)
			if err != nil || !first {
				return err
			}
			return fn(ctx, tx, d)
		})
	}
}

// Sweep deletes inbox rows older than the broker could still redeliver.
func Sweep(ctx context.Context, pool *pgxpool.Pool, olderThan string) error {
	if _, err := pool.Exec(ctx, `DELETE FROM processed_messages WHERE processed_at < now() - $1::interval`, olderThan); err != nil {
		return fmt.Errorf("inbox sweep: %w", err)
	}
	return nil
}
