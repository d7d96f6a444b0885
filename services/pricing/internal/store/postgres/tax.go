package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// UpsertTaxRates inserts or updates tax rates.
func (s *Store) UpsertTaxRates(ctx context.Context, rs []domain.TaxRate) (app.WriteResult, error) {
	n := len(rs)
	countries, regions, bps, incl := make([]string, n), make([]string, n), make([]int32, n), make([]bool, n)
	for i, r := range rs {
		countries[i], regions[i], bps[i], incl[i] = r.Country, r.Region, r.RateBP, r.Included
	}
	return s.write(ctx, "upsert tax rates", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO tax_rates (country_code, region, rate_bp, prices_include_tax)
			SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bool[])
			ON CONFLICT (country_code, region) DO UPDATE
				SET rate_bp = EXCLUDED.rate_bp, prices_include_tax = EXCLUDED.prices_include_tax, updated_at = now()
				WHERE (tax_rates.rate_bp, tax_rates.prices_include_tax)
				   <> (EXCLUDED.rate_bp, EXCLUDED.prices_include_tax)`,
			countries, regions, bps, incl)
		return tag.RowsAffected(), err
	})
}

// ListTaxRates returns every tax rate by country and region.
func (s *Store) ListTaxRates(ctx context.Context) ([]domain.TaxRate, error) {
	var out []domain.TaxRate
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		out, err = loadTaxRates(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tax rates: %w", err)
	}
	return out, nil
}

// DeleteTaxRate removes the rate of (country, region).
func (s *Store) DeleteTaxRate(ctx context.Context, country, region string) (app.WriteResult, error) {
	return s.write(ctx, "delete tax rate", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM tax_rates WHERE country_code = $1 AND region = $2`, country, region)
		return tag.RowsAffected(), err
	})
}

func loadTaxRates(ctx context.Context, tx pgx.Tx) ([]domain.TaxRate, error) {
	rows, _ := tx.Query(ctx, `SELECT country_code, region, rate_bp, prices_include_tax FROM tax_rates ORDER BY country_code, region`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.TaxRate, error) {
		var x domain.TaxRate
		err := r.Scan(&x.Country, &x.Region, &x.RateBP, &x.Included)
		return x, err
	})
}
