package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

// Variants and placements: written with their product, read on their own
// when orders resolve them and when designs are checked against every
// active placement.

const variantCols = `v.id::text, v.product_id::text, v.sku, v.title, v.size, v.color, v.weight_grams, v.price_currency, v.price_minor, v.active, v.stock_tracked, v.available`

const placementCols = `pl.id::text, pl.product_id::text, pl.name, pl.width_in, pl.height_in, pl.min_dpi, pl.recommended_dpi, pl.technique`

func scanVariant(r pgx.CollectableRow) (domain.Variant, error) {
	var v domain.Variant
	err := r.Scan(&v.ID, &v.ProductID, &v.SKU, &v.Title, &v.Size, &v.Color, &v.WeightGrams, &v.Price.Currency,
		&v.Price.AmountMinor, &v.Active, &v.StockTracked, &v.StockAvailable)
	return v, err
}

func scanPlacement(r pgx.CollectableRow) (domain.Placement, error) {
	var p domain.Placement
	err := r.Scan(&p.ID, &p.ProductID, &p.Name, &p.WidthIn, &p.HeightIn, &p.MinDPI, &p.RecommendedDPI, &p.Technique)
	return p, err
}

// writeChildren upserts variants and placements (and, on update, removes
// placements that are gone) in one round trip.
func (t *tx) writeChildren(ctx context.Context, p *domain.Product, update bool) error {
	b := &pgx.Batch{}
	if update {
		keep := make([]string, len(p.Placements))
		for i, pl := range p.Placements {
			keep[i] = pl.ID
		}
		b.Queue(`DELETE FROM placements WHERE product_id = $1 AND NOT (id = ANY($2::uuid[]))`, p.ID, keep)
		// Free the names of placements being renamed before the upserts.
		b.Queue(`UPDATE placements SET name = id::text WHERE product_id = $1`, p.ID)
		b.Queue(`UPDATE variants SET sku = id::text WHERE product_id = $1`, p.ID)
	}
	for i, v := range p.Variants {
		b.Queue(`INSERT INTO variants (id, product_id, position, sku, title, size, color, weight_grams, price_currency,
				price_minor, active, stock_tracked, available)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (id) DO UPDATE SET position = $3, sku = $4, title = $5, size = $6, color = $7, weight_grams = $8,
				price_currency = $9, price_minor = $10, active = $11, stock_tracked = $12, available = $13
			WHERE variants.product_id = $2`,
			v.ID, p.ID, i, v.SKU, v.Title, v.Size, v.Color, v.WeightGrams, v.Price.Currency, v.Price.AmountMinor,
			v.Active, v.StockTracked, v.StockAvailable)
	}
	for i, pl := range p.Placements {
		b.Queue(`INSERT INTO placements (id, product_id, position, name, width_in, height_in, min_dpi, recommended_dpi, technique)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (id) DO UPDATE SET position = $3, name = $4, width_in = $5, height_in = $6, min_dpi = $7,
				recommended_dpi = $8, technique = $9
			WHERE placements.product_id = $2`,
			pl.ID, p.ID, i, pl.Name, pl.WidthIn, pl.HeightIn, pl.MinDPI, pl.RecommendedDPI, pl.Technique)
	}
	br := t.tx.SendBatch(ctx, b)
	defer br.Close()
	if update {
		for range 3 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("prepare children: %w", err)
			}
		}
	}
	for i := range p.Variants {
		tag, err := br.Exec()
		if postgres.IsUniqueViolation(err, "variants_sku_key") {
			return &errs.Error{Kind: errs.AlreadyExists, Message: fmt.Sprintf("product.variants[%d].sku: SKU %s is already used", i, p.Variants[i].SKU),
				Violations: []errs.FieldViolation{{Field: fmt.Sprintf("product.variants[%d].sku", i), Description: "already used by another variant"}}}
		}
		if postgres.IsUniqueViolation(err, "variants_pkey") || (err == nil && tag.RowsAffected() == 0) {
			return errs.Field(fmt.Sprintf("product.variants[%d].id", i), "belongs to another product")
		}
		if err != nil {
			return fmt.Errorf("write variant %d: %w", i, err)
		}
	}
	for i := range p.Placements {
		tag, err := br.Exec()
		if postgres.IsUniqueViolation(err, "placements_product_name_key") {
			return errs.Field(fmt.Sprintf("product.placements[%d].name", i), "duplicates another placement")
		}
		if postgres.IsUniqueViolation(err, "placements_pkey") || (err == nil && tag.RowsAffected() == 0) {
			return errs.Field(fmt.Sprintf("product.placements[%d].id", i), "belongs to another product")
		}
		if err != nil {
			return fmt.Errorf("write placement %d: %w", i, err)
		}
	}
	return nil
}

// Resolve reads variants with their products' placements and designs in one
// round trip (three statements in a batch).
func (s *Store) Resolve(ctx context.Context, variantIDs, designIDs []string) ([]app.ResolvedVariant, []domain.Design, error) {
	vids, dids := validIDs(variantIDs), validIDs(designIDs)
	b := &pgx.Batch{}
	b.Queue(`SELECT `+variantCols+`, p.title, p.active, p.image_key FROM variants v JOIN products p ON p.id = v.product_id
		WHERE v.id = ANY($1::uuid[])`, vids)
	b.Queue(`SELECT `+placementCols+` FROM placements pl
		WHERE pl.product_id IN (SELECT product_id FROM variants WHERE id = ANY($1::uuid[]))
		ORDER BY pl.product_id, pl.position`, vids)
	b.Queue(`SELECT `+designCols+` FROM designs d WHERE d.id = ANY($1::uuid[])`, dids)
	br := s.primary.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("resolve variants: %w", err)
	}
	rvs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (app.ResolvedVariant, error) {
		var x app.ResolvedVariant
		v := &x.Variant
		err := r.Scan(&v.ID, &v.ProductID, &v.SKU, &v.Title, &v.Size, &v.Color, &v.WeightGrams, &v.Price.Currency,
			&v.Price.AmountMinor, &v.Active, &v.StockTracked, &v.StockAvailable, &x.ProductTitle, &x.ProductActive, &x.ProductImageKey)
		return x, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("resolve variants: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("resolve placements: %w", err)
	}
	pls, err := pgx.CollectRows(rows, scanPlacement)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve placements: %w", err)
	}
	byProduct := map[string][]domain.Placement{}
	for _, pl := range pls {
		byProduct[pl.ProductID] = append(byProduct[pl.ProductID], pl)
	}
	for i := range rvs {
		rvs[i].Placements = byProduct[rvs[i].Variant.ProductID]
	}
	rows, err = br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("resolve designs: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Design, error) { return scanDesign(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("resolve designs: %w", err)
	}
	return rvs, ds, nil
}

func (t *tx) ActivePlacements(ctx context.Context) ([]domain.Placement, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+placementCols+` FROM placements pl JOIN products p ON p.id = pl.product_id
		WHERE p.active ORDER BY pl.product_id, pl.position`)
	if err != nil {
		return nil, fmt.Errorf("active placements: %w", err)
	}
	pls, err := pgx.CollectRows(rows, scanPlacement)
	if err != nil {
		return nil, fmt.Errorf("active placements: %w", err)
	}
	return pls, nil
}
