package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// UpsertSurcharges inserts or updates placement surcharges.
func (s *Store) UpsertSurcharges(ctx context.Context, xs []domain.Surcharge) (app.WriteResult, error) {
	techs, curs, amounts := make([]string, len(xs)), make([]string, len(xs)), make([]int64, len(xs))
	for i, x := range xs {
		techs[i], curs[i], amounts[i] = x.Technique, x.Price.Currency.Code, x.Price.Amount
	}
	return s.write(ctx, "upsert surcharges", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO placement_surcharges (technique, currency, amount_minor)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
			ON CONFLICT (technique, currency) DO UPDATE
				SET amount_minor = EXCLUDED.amount_minor, updated_at = now()
				WHERE placement_surcharges.amount_minor <> EXCLUDED.amount_minor`,
			techs, curs, amounts)
		return tag.RowsAffected(), err
	})
}

// UpsertPlacementTechniques records how placements are printed.
func (s *Store) UpsertPlacementTechniques(ctx context.Context, ps []domain.PlacementTechnique) (app.WriteResult, error) {
	ids, techs := make([]string, len(ps)), make([]string, len(ps))
	for i, p := range ps {
		ids[i], techs[i] = p.PlacementID.String(), p.Technique
	}
	return s.write(ctx, "upsert placement techniques", func(tx pgx.Tx) (int64, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO placement_techniques (placement_id, technique)
			SELECT * FROM unnest($1::uuid[], $2::text[])
			ON CONFLICT (placement_id) DO UPDATE
				SET technique = EXCLUDED.technique, updated_at = now()
				WHERE placement_techniques.technique <> EXCLUDED.technique`,
			ids, techs)
		return tag.RowsAffected(), err
	})
}

func loadSurcharges(ctx context.Context, tx pgx.Tx) ([]domain.Surcharge, error) {
	rows, _ := tx.Query(ctx, `SELECT technique, currency, amount_minor FROM placement_surcharges`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Surcharge, error) {
		var (
			x    domain.Surcharge
			code string
			amt  int64
		)
		if err := r.Scan(&x.Technique, &code, &amt); err != nil {
			return x, err
		}
		var err error
		x.Price, err = storedPrice(code, amt)
		return x, err
	})
}

func loadPlacementTechniques(ctx context.Context, tx pgx.Tx) ([]domain.PlacementTechnique, error) {
	rows, _ := tx.Query(ctx, `SELECT placement_id, technique FROM placement_techniques`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.PlacementTechnique, error) {
		var p domain.PlacementTechnique
		err := r.Scan(&p.PlacementID, &p.Technique)
		return p, err
	})
}
