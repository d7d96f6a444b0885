package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Stores: marketplace connections and their sealed credentials (the
// ciphertext is never decoded here).

const storeCols = `id::text, owner_id, marketplace, shop_id, name, rate_limit_per_second, rate_limit_burst, created_at,
	needs_reconnection, reconnection_reason, payment_method, region, last_import_at, order_import`

func scanStore(r pgx.Row, extra ...any) (domain.Store, error) {
	var s domain.Store
	var m string
	var lastImport *time.Time
	err := r.Scan(append([]any{&s.ID, &s.OwnerID, &m, &s.ShopID, &s.Name, &s.RateLimitPerSecond, &s.RateLimitBurst, &s.CreatedAt,
		&s.NeedsReconnection, &s.ReconnectionReason, &s.PaymentMethod, &s.Region, &lastImport, &s.OrderImport}, extra...)...)
	s.Marketplace = domain.Marketplace(m)
	if lastImport != nil {
		s.LastImportAt = lastImport.UTC()
	}
	return s, err
}

func (t *tx) InsertStore(ctx context.Context, s domain.Store, sealed []byte) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO stores (id, owner_id, marketplace, shop_id, name, credentials, rate_limit_per_second, rate_limit_burst, created_at,
		payment_method, region, order_import)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		s.ID, s.OwnerID, string(s.Marketplace), s.ShopID, s.Name, sealed, s.RateLimitPerSecond, s.RateLimitBurst, s.CreatedAt,
		s.PaymentMethod, s.Region, s.OrderImport)
	if postgres.IsUniqueViolation(err, "stores_owner_shop_key") {
		return errs.E(errs.AlreadyExists, "this %s shop is already connected", s.Marketplace)
	}
	if err != nil {
		// The statement's arguments are never part of a pgx error.
		return fmt.Errorf("insert store: %w", err)
	}
	return nil
}

// Stores pages an owner's stores by id.
func (s *Store) Stores(ctx context.Context, ownerID, afterID string, limit int) ([]domain.Store, error) {
	if afterID == "" {
		afterID = "00000000-0000-0000-0000-000000000000"
	}
	sql, args := `SELECT `+storeCols+` FROM stores WHERE owner_id = $1 AND id > $2::uuid ORDER BY id LIMIT $3`, []any{ownerID, afterID, limit}
	if ownerID == "" {
		// Every owner's (the operator console), on the primary key.
		sql, args = `SELECT `+storeCols+` FROM stores WHERE id > $1::uuid ORDER BY id LIMIT $2`, []any{afterID, limit}
	}
	rows, err := s.primary.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Store, error) { return scanStore(r) })
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	return list, nil
}

// SealedStore reads a store with its sealed credentials.
func (s *Store) SealedStore(ctx context.Context, id string) (domain.Store, []byte, error) {
	if uuid.Validate(id) != nil {
		return domain.Store{}, nil, notFound("store", id)
	}
	var sealed []byte
	st, err := scanStore(s.primary.QueryRow(ctx, `SELECT `+storeCols+`, credentials FROM stores WHERE id = $1`, id), &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Store{}, nil, notFound("store", id)
	}
	if err != nil {
		return domain.Store{}, nil, fmt.Errorf("store %s: %w", id, err)
	}
	return st, sealed, nil
}

// LockSealedStore reads a store with its sealed credentials and locks its row
// until the transaction ends, so two credential updates do not interleave.
func (t *tx) LockSealedStore(ctx context.Context, id string) (domain.Store, []byte, error) {
	if uuid.Validate(id) != nil {
		return domain.Store{}, nil, notFound("store", id)
	}
	var sealed []byte
	st, err := scanStore(t.tx.QueryRow(ctx, `SELECT `+storeCols+`, credentials FROM stores WHERE id = $1 FOR UPDATE`, id), &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Store{}, nil, notFound("store", id)
	}
	if err != nil {
		return domain.Store{}, nil, fmt.Errorf("lock store %s: %w", id, err)
	}
	return st, sealed, nil
}

// SaveStoreCredentials replaces a store's sealed credentials and clears its
// reconnection flag: the marketplace has just accepted them.
func (t *tx) SaveStoreCredentials(ctx context.Context, id string, sealed []byte) error {
	_, err := t.tx.Exec(ctx, `UPDATE stores SET credentials = $2, credentials_updated_at = now(),
		needs_reconnection = false, reconnection_reason = '' WHERE id = $1`, id, sealed)
	if err != nil {
		return fmt.Errorf("save store credentials %s: %w", id, err)
	}
	return nil
}

// MarkStoreNeedsReconnection flags a store whose credentials the marketplace
// refused.
func (t *tx) MarkStoreNeedsReconnection(ctx context.Context, id, reason string) error {
	_, err := t.tx.Exec(ctx, `UPDATE stores SET needs_reconnection = true, reconnection_reason = $2 WHERE id = $1`, id, reason)
	if err != nil {
		return fmt.Errorf("mark store %s: %w", id, err)
	}
	return nil
}

// SaveStoreSettings replaces how a store's imports are paid, its Amazon
// region and whether its orders are imported.
func (t *tx) SaveStoreSettings(ctx context.Context, id, paymentMethod, region, orderImport string) error {
	_, err := t.tx.Exec(ctx, `UPDATE stores SET payment_method = $2, region = $3, order_import = $4 WHERE id = $1`,
		id, paymentMethod, region, orderImport)
	if err != nil {
		return fmt.Errorf("save store settings %s: %w", id, err)
	}
	return nil
}

// LockStoreByShop reads an owner's store of a marketplace shop and locks its
// row until the transaction ends.
func (t *tx) LockStoreByShop(ctx context.Context, ownerID string, m domain.Marketplace, shopID string) (domain.Store, error) {
	st, err := scanStore(t.tx.QueryRow(ctx, `SELECT `+storeCols+` FROM stores
		WHERE owner_id = $1 AND marketplace = $2 AND shop_id = $3 FOR UPDATE`, ownerID, string(m), shopID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Store{}, notFound("store", shopID)
	}
	if err != nil {
		return domain.Store{}, fmt.Errorf("lock store of shop %s: %w", shopID, err)
	}
	return st, nil
}
