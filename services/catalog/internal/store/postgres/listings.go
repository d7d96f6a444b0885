package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Listings: a store's marketplace listings mapped to variants, designs and
// placements. Empty design and placement ids are NULL in the table.

const listingCols = `id::text, store_id::text, external_product_id, external_variant_id, sku, variant_id::text,
	coalesce(design_id::text, ''), coalesce(placement_id::text, ''), created_at, updated_at`

func scanListing(r pgx.Row) (domain.Listing, error) {
	var l domain.Listing
	err := r.Scan(&l.ID, &l.StoreID, &l.ExternalProductID, &l.ExternalVariantID, &l.SKU, &l.VariantID,
		&l.DesignID, &l.PlacementID, &l.CreatedAt, &l.UpdatedAt)
	return l, err
}

func nullable(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// listingConflict names what a unique violation of the listings collided on.
func listingConflict(err error) error {
	switch {
	case postgres.IsUniqueViolation(err, "listings_store_variant_key"):
		return errs.E(errs.AlreadyExists, "the store already has a listing for this external variant id")
	case postgres.IsUniqueViolation(err, "listings_store_sku_key"):
		return errs.E(errs.AlreadyExists, "the store already has a listing for this sku")
	case postgres.IsUniqueViolation(err, "listings_store_product_key"):
		return errs.E(errs.AlreadyExists, "the store already has a listing for this external product id alone")
	}
	return nil
}

// InsertListing adds a listing.
func (t *tx) InsertListing(ctx context.Context, l domain.Listing) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO listings (id, store_id, external_product_id, external_variant_id, sku, variant_id,
			design_id, placement_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
		l.ID, l.StoreID, l.ExternalProductID, l.ExternalVariantID, l.SKU, l.VariantID, nullable(l.DesignID),
		nullable(l.PlacementID), l.CreatedAt)
	if c := listingConflict(err); c != nil {
		return c
	}
	if err != nil {
		return fmt.Errorf("insert listing: %w", err)
	}
	return nil
}

// UpdateListing replaces a listing's mapping; NotFound when the store has
// no such listing.
func (t *tx) UpdateListing(ctx context.Context, l domain.Listing) (domain.Listing, error) {
	if uuid.Validate(l.ID) != nil {
		return domain.Listing{}, notFound("listing", l.ID)
	}
	out, err := scanListing(t.tx.QueryRow(ctx, `UPDATE listings SET external_product_id = $3, external_variant_id = $4,
			sku = $5, variant_id = $6, design_id = $7, placement_id = $8, updated_at = now()
		WHERE id = $1 AND store_id = $2 RETURNING `+listingCols,
		l.ID, l.StoreID, l.ExternalProductID, l.ExternalVariantID, l.SKU, l.VariantID, nullable(l.DesignID), nullable(l.PlacementID)))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Listing{}, notFound("listing", l.ID)
	}
	if c := listingConflict(err); c != nil {
		return domain.Listing{}, c
	}
	if err != nil {
		return domain.Listing{}, fmt.Errorf("update listing %s: %w", l.ID, err)
	}
	return out, nil
}

// DeleteListing removes a store's listing; NotFound when there is none.
func (t *tx) DeleteListing(ctx context.Context, storeID, id string) error {
	if uuid.Validate(id) != nil {
		return notFound("listing", id)
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM listings WHERE id = $1 AND store_id = $2`, id, storeID)
	if err != nil {
		return fmt.Errorf("delete listing %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("listing", id)
	}
	return nil
}

// Listing reads a store's listing.
func (s *Store) Listing(ctx context.Context, storeID, id string) (domain.Listing, error) {
	if uuid.Validate(id) != nil || uuid.Validate(storeID) != nil {
		return domain.Listing{}, notFound("listing", id)
	}
	l, err := scanListing(s.primary.QueryRow(ctx, `SELECT `+listingCols+` FROM listings WHERE id = $1 AND store_id = $2`, id, storeID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Listing{}, notFound("listing", id)
	}
	if err != nil {
		return domain.Listing{}, fmt.Errorf("listing %s: %w", id, err)
	}
	return l, nil
}

// Listings pages a store's listings by id.
func (s *Store) Listings(ctx context.Context, storeID, afterID string, limit int) ([]domain.Listing, error) {
	if afterID == "" {
		afterID = "00000000-0000-0000-0000-000000000000"
	}
	rows, err := s.primary.Query(ctx, `SELECT `+listingCols+` FROM listings WHERE store_id = $1 AND id > $2::uuid ORDER BY id LIMIT $3`,
		storeID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list listings: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Listing, error) { return scanListing(r) })
	if err != nil {
		return nil, fmt.Errorf("list listings: %w", err)
	}
	return list, nil
}

// MatchListing finds the listing a marketplace line maps to: by its
// external variant id, else its SKU, else a listing naming only its
// product.
func (s *Store) MatchListing(ctx context.Context, storeID string, line domain.ExternalLine) (domain.Listing, error) {
	if uuid.Validate(storeID) != nil || line.Empty() {
		return domain.Listing{}, notFound("listing for store", storeID)
	}
	l, err := scanListing(s.primary.QueryRow(ctx, `SELECT `+listingCols+` FROM listings WHERE store_id = $1 AND (
			($2 <> '' AND external_variant_id = $2) OR ($3 <> '' AND sku = $3)
			OR ($4 <> '' AND external_product_id = $4 AND external_variant_id = '' AND sku = ''))
		ORDER BY (external_variant_id = $2 AND $2 <> '') DESC, (sku = $3 AND $3 <> '') DESC LIMIT 1`,
		storeID, line.VariantID, line.SKU, line.ProductID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Listing{}, errs.E(errs.NotFound, "no listing of store %s matches the line", storeID)
	}
	if err != nil {
		return domain.Listing{}, fmt.Errorf("match listing of store %s: %w", storeID, err)
	}
	return l, nil
}
