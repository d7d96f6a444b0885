package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// UpsertVariantPrices inserts or updates prices as explicit (admin) ones; an
// unchanged admin row is not rewritten and not counted, a catalog row at the
// same key becomes an admin row.
func (s *Store) UpsertVariantPrices(ctx context.Context, ps []domain.VariantPrice) (app.WriteResult, error) {
	ids, regions, curs, amounts := make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps)), make([]int64, len(ps))
	for i, p := range ps {
		ids[i], regions[i], curs[i], amounts[i] = p.VariantID.String(), p.Region, p.Price.Currency.Code, p.Price.Amount
	}
	return s.write(ctx, "upsert variant prices", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO variant_prices (variant_id, region, currency, amount_minor, source)
			SELECT *, 'admin' FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[])
			ON CONFLICT (variant_id, region, currency) DO UPDATE
				SET amount_minor = EXCLUDED.amount_minor, source = 'admin', updated_at = now()
				WHERE variant_prices.amount_minor <> EXCLUDED.amount_minor OR variant_prices.source <> 'admin'`,
			ids, regions, curs, amounts)
		return tag.RowsAffected(), err
	})
}

func loadVariantPrices(ctx context.Context, tx pgx.Tx) ([]domain.VariantPrice, error) {
	rows, _ := tx.Query(ctx, `SELECT variant_id, region, currency, amount_minor FROM variant_prices`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.VariantPrice, error) {
		var (
			p    domain.VariantPrice
			code string
			amt  int64
		)
		if err := r.Scan(&p.VariantID, &p.Region, &code, &amt); err != nil {
			return p, err
		}
		var err error
		p.Price, err = storedPrice(code, amt)
		return p, err
	})
}

const storedPriceColumns = `variant_id, region, currency, amount_minor, source, updated_at`

func scanStoredPrice(r pgx.CollectableRow) (domain.StoredVariantPrice, error) {
	var (
		p      domain.StoredVariantPrice
		code   string
		amt    int64
		source string
	)
	if err := r.Scan(&p.VariantID, &p.Region, &code, &amt, &source, &p.UpdatedAt); err != nil {
		return p, err
	}
	p.Source, p.UpdatedAt = domain.PriceSource(source), p.UpdatedAt.UTC()
	var err error
	p.Price, err = storedPrice(code, amt)
	return p, err
}

// ListVariantPrices returns every variant price by variant, region and
// currency.
func (s *Store) ListVariantPrices(ctx context.Context) ([]domain.StoredVariantPrice, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storedPriceColumns+` FROM variant_prices ORDER BY variant_id, region, currency`)
	ps, err := pgx.CollectRows(rows, scanStoredPrice)
	if err != nil {
		return nil, fmt.Errorf("list variant prices: %w", err)
	}
	return ps, nil
}

// VariantPrices returns one variant's prices (none: an empty list).
func (s *Store) VariantPrices(ctx context.Context, variantID uuid.UUID) ([]domain.StoredVariantPrice, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+storedPriceColumns+` FROM variant_prices WHERE variant_id = $1 ORDER BY region, currency`, variantID)
	ps, err := pgx.CollectRows(rows, scanStoredPrice)
	if err != nil {
		return nil, fmt.Errorf("variant prices of %s: %w", variantID, err)
	}
	return ps, nil
}

// DeleteVariantPrices removes a variant's prices, of one region when region
// is not empty.
func (s *Store) DeleteVariantPrices(ctx context.Context, variantID uuid.UUID, region string) (app.WriteResult, error) {
	return s.write(ctx, "delete variant prices", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM variant_prices WHERE variant_id = $1 AND ($2 = '' OR region = $2)`, variantID, region)
		return tag.RowsAffected(), err
	})
}

// ApplyCatalogPrices keeps each variant's catalog price as its default list
// price (region "*", source catalog), for the variants whose last seen
// product version is older than cp.Version (an older or repeated event
// changes nothing). A variant with an admin price for region "*" keeps it:
// only the version is recorded. A catalog price in another currency than
// before replaces the old one.
func (s *Store) ApplyCatalogPrices(ctx context.Context, cp domain.CatalogPrices) (app.WriteResult, error) {
	ids, curs, amounts := make([]uuid.UUID, len(cp.Variants)), make([]string, len(cp.Variants)), make([]int64, len(cp.Variants))
	for i, v := range cp.Variants {
		ids[i], curs[i], amounts[i] = v.VariantID, v.Price.Currency.Code, v.Price.Amount
	}
	return s.write(ctx, "apply catalog prices", func(tx pgx.Tx) (int64, error) {
		rows, _ := tx.Query(ctx, `
			INSERT INTO catalog_variant_versions (variant_id, product_id, version)
			SELECT unnest($1::uuid[]), $2, $3
			ON CONFLICT (variant_id) DO UPDATE
				SET product_id = EXCLUDED.product_id, version = EXCLUDED.version, updated_at = now()
				WHERE catalog_variant_versions.version < EXCLUDED.version
			RETURNING variant_id`, ids, cp.ProductID, cp.Version)
		fresh, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil || len(fresh) == 0 {
			return 0, err
		}
		del, err := tx.Exec(ctx, `
			DELETE FROM variant_prices v
			USING unnest($1::uuid[], $2::text[]) AS n (variant_id, currency)
			WHERE v.variant_id = n.variant_id AND v.source = 'catalog' AND v.currency <> n.currency
				AND v.variant_id = ANY ($3::uuid[])`, ids, curs, fresh)
		if err != nil {
			return 0, err
		}
		up, err := tx.Exec(ctx, `
			INSERT INTO variant_prices (variant_id, region, currency, amount_minor, source)
			SELECT n.variant_id, '*', n.currency, n.amount, 'catalog'
			FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS n (variant_id, currency, amount)
			WHERE n.variant_id = ANY ($4::uuid[])
				AND NOT EXISTS (SELECT 1 FROM variant_prices a
					WHERE a.variant_id = n.variant_id AND a.region = '*' AND a.source = 'admin')
			ON CONFLICT (variant_id, region, currency) DO UPDATE
				SET amount_minor = EXCLUDED.amount_minor, updated_at = now()
				WHERE variant_prices.source = 'catalog' AND variant_prices.amount_minor <> EXCLUDED.amount_minor`,
			ids, curs, amounts, fresh)
		return del.RowsAffected() + up.RowsAffected(), err
	})
}
