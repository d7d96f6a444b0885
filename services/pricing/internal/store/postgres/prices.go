package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// UpsertVariantPrices inserts or updates prices; unchanged rows are not
// rewritten and not counted.
func (s *Store) UpsertVariantPrices(ctx context.Context, ps []domain.VariantPrice) (app.WriteResult, error) {
	ids, regions, curs, amounts := make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps)), make([]int64, len(ps))
	for i, p := range ps {
		ids[i], regions[i], curs[i], amounts[i] = p.VariantID.String(), p.Region, p.Price.Currency.Code, p.Price.Amount
	}
	return s.write(ctx, "upsert variant prices", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO variant_prices (variant_id, region, currency, amount_minor)
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[])
			ON CONFLICT (variant_id, region, currency) DO UPDATE
				SET amount_minor = EXCLUDED.amount_minor, updated_at = now()
				WHERE variant_prices.amount_minor <> EXCLUDED.amount_minor`,
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
