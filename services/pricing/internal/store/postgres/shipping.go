package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// UpsertShippingRates inserts or updates shipping rates.
func (s *Store) UpsertShippingRates(ctx context.Context, rs []domain.ShippingRate) (app.WriteResult, error) {
	n := len(rs)
	methods, countries, curs, firsts, adds := make([]string, n), make([]string, n), make([]string, n), make([]int64, n), make([]int64, n)
	mins, maxs := make([]int32, n), make([]int32, n)
	for i, r := range rs {
		methods[i], countries[i], curs[i], firsts[i], adds[i] = r.Method, r.Country, r.Currency.Code, r.FirstItem, r.AdditionalItem
		mins[i], maxs[i] = r.MinDays, r.MaxDays
	}
	return s.write(ctx, "upsert shipping rates", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO shipping_rates (method, country_code, currency, first_item_minor, additional_item_minor, min_days, max_days)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::int[], $7::int[])
			ON CONFLICT (method, country_code, currency) DO UPDATE
				SET first_item_minor = EXCLUDED.first_item_minor,
				    additional_item_minor = EXCLUDED.additional_item_minor,
				    min_days = EXCLUDED.min_days, max_days = EXCLUDED.max_days, updated_at = now()
				WHERE (shipping_rates.first_item_minor, shipping_rates.additional_item_minor, shipping_rates.min_days, shipping_rates.max_days)
				   <> (EXCLUDED.first_item_minor, EXCLUDED.additional_item_minor, EXCLUDED.min_days, EXCLUDED.max_days)`,
			methods, countries, curs, firsts, adds, mins, maxs)
		return tag.RowsAffected(), err
	})
}

// ListShippingRates returns every shipping rate by method, country and
// currency.
func (s *Store) ListShippingRates(ctx context.Context) ([]domain.ShippingRate, error) {
	var out []domain.ShippingRate
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		out, err = loadShippingRates(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list shipping rates: %w", err)
	}
	return out, nil
}

// DeleteShippingRate removes method's rates (every currency) for country
// ("*" for the catch-all).
func (s *Store) DeleteShippingRate(ctx context.Context, method, country string) (app.WriteResult, error) {
	return s.write(ctx, "delete shipping rate", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM shipping_rates WHERE method = $1 AND country_code = $2`, method, country)
		return tag.RowsAffected(), err
	})
}

func loadShippingRates(ctx context.Context, tx pgx.Tx) ([]domain.ShippingRate, error) {
	rows, _ := tx.Query(ctx, `
		SELECT method, country_code, currency, first_item_minor, additional_item_minor, min_days, max_days
		FROM shipping_rates ORDER BY method, country_code, currency`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.ShippingRate, error) {
		var (
			x    domain.ShippingRate
			code string
		)
		if err := r.Scan(&x.Method, &x.Country, &code, &x.FirstItem, &x.AdditionalItem, &x.MinDays, &x.MaxDays); err != nil {
			return x, err
		}
		p, err := storedPrice(code, 0)
		x.Currency = p.Currency
		return x, err
	})
}
