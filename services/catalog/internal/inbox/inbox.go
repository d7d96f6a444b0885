// Package inbox makes event consumers exactly-once in effect: a consumer
// claims a message id inside the transaction that applies the message, so a
// redelivery finds the claim and changes nothing.
//
// It follows the API announced for platform/outbox's inbox (Claim), over the
// processed_messages table that outbox.Migrations creates.
package inbox

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Claim records (consumer, messageID) in tx and reports whether this is the
// first time: false means the message was already applied.
func Claim(ctx context.Context, tx pgx.Tx, consumer, messageID string) (bool, error) {
	if messageID == "" {
		return false, fmt.Errorf("inbox: %s: message without an id", consumer)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		consumer, messageID)
	if err != nil {
		return false, fmt.Errorf("inbox: claim %s/%s: %w", consumer, messageID, err)
	}
	return tag.RowsAffected() == 1, nil
}
