package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// UpsertFxRates inserts or updates FX rates, stored as exact numerics.
func (s *Store) UpsertFxRates(ctx context.Context, rs []domain.FxRate) (app.WriteResult, error) {
	bases, quotes, rates := make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs))
	for i, r := range rs {
		bases[i], quotes[i], rates[i] = r.Base.Code, r.Quote.Code, domain.FormatRate(r.Rate)
	}
	return s.write(ctx, "upsert fx rates", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO fx_rates (base, quote, rate)
			SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
			ON CONFLICT (base, quote) DO UPDATE
				SET rate = EXCLUDED.rate, updated_at = now()
				WHERE fx_rates.rate <> EXCLUDED.rate`,
			bases, quotes, rates)
		return tag.RowsAffected(), err
	})
}

// ListFxRates returns every exchange rate by base and quote.
func (s *Store) ListFxRates(ctx context.Context) ([]domain.FxRate, error) {
	var out []domain.FxRate
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		out, err = loadFxRates(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list fx rates: %w", err)
	}
	return out, nil
}

func loadFxRates(ctx context.Context, tx pgx.Tx) ([]domain.FxRate, error) {
	rows, _ := tx.Query(ctx, `SELECT base, quote, rate::text FROM fx_rates ORDER BY base, quote`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.FxRate, error) {
		var (
			x                 domain.FxRate
			base, quote, rate string
		)
		if err := r.Scan(&base, &quote, &rate); err != nil {
			return x, err
		}
		b, okB := domain.LookupCurrency(base)
		q, okQ := domain.LookupCurrency(quote)
		if !okB || !okQ {
			return x, fmt.Errorf("stored rate %s/%s names an unsupported currency", base, quote)
		}
		x.Base, x.Quote = b, q
		var err error
		x.Rate, err = domain.ParseRate(rate)
		return x, err
	})
}
