package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Marketplace import: the webhook deliveries recorded once per store and
// webhook id, and the importer's poll cursor of each store.

// InsertWebhook records a verified webhook delivery of a store; false when
// the store's delivery of that id was recorded before. A concurrent copy of
// the same delivery waits for the first one's transaction and then finds it.
func (t *tx) InsertWebhook(ctx context.Context, storeID, webhookID, topic string, receivedAt time.Time) (bool, error) {
	tag, err := t.tx.Exec(ctx, `INSERT INTO marketplace_webhooks (store_id, webhook_id, topic, received_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (store_id, webhook_id) DO NOTHING`, storeID, webhookID, topic, receivedAt)
	if err != nil {
		return false, fmt.Errorf("record webhook of store %s: %w", storeID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// PruneWebhooks forgets a store's webhook deliveries received before
// before, returning how many.
func (s *Store) PruneWebhooks(ctx context.Context, storeID string, before time.Time) (int64, error) {
	tag, err := s.primary.Exec(ctx, `DELETE FROM marketplace_webhooks WHERE store_id = $1 AND received_at < $2`, storeID, before)
	if err != nil {
		return 0, fmt.Errorf("prune webhooks of store %s: %w", storeID, err)
	}
	return tag.RowsAffected(), nil
}

// ImportStores pages, by id after afterID, the stores the importer polls:
// every store that imports its orders and does not need reconnection, with
// its cursor.
func (s *Store) ImportStores(ctx context.Context, afterID string, limit int) ([]domain.ImportStore, error) {
	if afterID == "" {
		afterID = "00000000-0000-0000-0000-000000000000"
	}
	rows, err := s.primary.Query(ctx, `SELECT `+storeCols+`, import_cursor FROM stores
		WHERE NOT needs_reconnection AND order_import = 'auto' AND id > $1::uuid ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list import stores: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.ImportStore, error) {
		var is domain.ImportStore
		var err error
		is.Store, err = scanStore(r, &is.Cursor)
		return is, err
	})
	if err != nil {
		return nil, fmt.Errorf("list import stores: %w", err)
	}
	return list, nil
}

// SaveImportCursor records a finished poll of a store: its cursor, and now
// as its last import.
func (s *Store) SaveImportCursor(ctx context.Context, id, cursor string) (domain.Store, error) {
	if uuid.Validate(id) != nil {
		return domain.Store{}, notFound("store", id)
	}
	st, err := scanStore(s.primary.QueryRow(ctx, `UPDATE stores SET import_cursor = $2, last_import_at = now()
		WHERE id = $1 RETURNING `+storeCols, id, cursor))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Store{}, notFound("store", id)
	}
	if err != nil {
		return domain.Store{}, fmt.Errorf("save import cursor of store %s: %w", id, err)
	}
	return st, nil
}
