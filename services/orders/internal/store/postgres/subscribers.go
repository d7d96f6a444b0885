package postgres

import (
	"context"
	"fmt"

	"github.com/printfleet/printfleet/services/orders/internal/app"
)

var _ app.SubscriberStore = (*Store)(nil)

// SetWebhookSubscriber implements app.SubscriberStore: an upsert or a
// delete, both idempotent.
func (s *Store) SetWebhookSubscriber(ctx context.Context, userID string, subscribed bool) error {
	sql := `DELETE FROM webhook_subscribers WHERE user_id = $1`
	if subscribed {
		sql = `INSERT INTO webhook_subscribers (user_id) VALUES ($1)
			ON CONFLICT (user_id) DO UPDATE SET updated_at = now()`
	}
	if _, err := s.primary.Exec(ctx, sql, userID); err != nil {
		return unavailable(fmt.Errorf("set webhook subscriber: %w", err))
	}
	return nil
}
