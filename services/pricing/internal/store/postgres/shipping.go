package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// UpsertShippingRates inserts or updates shipping rates.
func (s *Store) UpsertShippingRates(ctx context.Context, rs []domain.ShippingRate) (app.WriteResult, error) {
	n := len(rs)
	methods, countries, curs, firsts, adds := make([]string, n), make([]string, n), make([]string, n), make([]int64, n), make([]int64, n)
	for i, r := range rs {
		methods[i], countries[i], curs[i], firsts[i], adds[i] = r.Method, r.Country, r.Currency.Code, r.FirstItem, r.AdditionalItem
	}
	return s.write(ctx, "upsert shipping rates", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO shipping_rates (method, country_code, currency, first_item_minor, additional_item_minor)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
			ON CONFLICT (method, country_code, currency) DO UPDATE
				SET first_item_minor = EXCLUDED.first_item_minor,
				    additional_item_minor = EXCLUDED.additional_item_minor, updated_at = now()
				WHERE (shipping_rates.first_item_minor, shipping_rates.additional_item_minor)
				   <> (EXCLUDED.first_item_minor, EXCLUDED.additional_item_minor)`,
			methods, countries, curs, firsts, adds)
		return tag.RowsAffected(), err
	})
}

func loadShippingRates(ctx context.Context, tx pgx.Tx) ([]domain.ShippingRate, error) {
	rows, _ := tx.Query(ctx, `SELECT method, country_code, currency, first_item_minor, additional_item_minor FROM shipping_rates`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.ShippingRate, error) {
		var (
			x    domain.ShippingRate
			code string
		)
		if err := r.Scan(&x.Method, &x.Country, &code, &x.FirstItem, &x.AdditionalItem); err != nil {
			return x, err
		}
		p, err := storedPrice(code, 0)
		x.Currency = p.Currency
		return x, err
	})
}
