// Package postgres is pricing's PostgreSQL store: the price-data tables, the
// price_data_version counter that every write bumps (and announces with
// NOTIFY on channel pricing_price_data), and a consistent load of the whole
// data set for the in-memory snapshot.
//
// One file per aggregate: prices.go (variant prices), surcharges.go
// (placement surcharges and the placement → technique table), shipping.go,
// fx.go, tax.go, coupons.go (coupons and their redemptions); listen.go is the
// LISTEN side of the version announcements. Each file holds the aggregate's
// writes and its part of Load.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/errs"
	pg "github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the store's schema migrations, for postgres.Open and pgtest.
var Migrations = mustSub(migrationFiles, "migrations")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// Channel is the NOTIFY channel a write announces the new version on.
const Channel = "pricing_price_data"

// Store reads and writes price data.
type Store struct{ pool *pgxpool.Pool }

var _ app.Store = (*Store)(nil)

// New returns a store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// bump advances price_data_version and notifies listeners (delivered at
// commit, so a listener never sees a version before its data).
func bump(ctx context.Context, tx pgx.Tx) (int64, error) {
	var v int64
	err := tx.QueryRow(ctx, `
		WITH v AS (
			UPDATE price_data_version SET version = version + 1, changed_at = now()
			RETURNING version
		)
		SELECT v.version FROM v CROSS JOIN LATERAL (SELECT pg_notify($1, v.version::text)) AS n`, Channel).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("bump price data version: %w", err)
	}
	return v, nil
}

// write runs fn in a transaction and bumps the version when fn changed rows.
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) (int64, error)) (app.WriteResult, error) {
	var res app.WriteResult
	err := pg.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := fn(tx)
		if err != nil {
			return err
		}
		res.Changed = int(n)
		if n > 0 {
			res.Version, err = bump(ctx, tx)
		}
		return err
	})
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			return app.WriteResult{}, err
		}
		return app.WriteResult{}, fmt.Errorf("%s: %w", op, err)
	}
	return res, nil
}

// storedPrice is a stored (currency, amount) pair as a domain price.
func storedPrice(code string, amount int64) (domain.Price, error) {
	c, ok := domain.LookupCurrency(code)
	if !ok {
		return domain.Price{}, fmt.Errorf("stored currency %q is not supported", code)
	}
	return domain.Price{Currency: c, Amount: amount}, nil
}

// Version is the current price-data version.
func (s *Store) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM price_data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read price data version: %w", err)
	}
	return v, nil
}

// Load reads the whole data set and its version in one read-only
// repeatable-read transaction, so the snapshot is consistent.
func (s *Store) Load(ctx context.Context) (domain.Data, error) {
	var d domain.Data
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return load(ctx, tx, &d)
	})
	if err != nil {
		return domain.Data{}, fmt.Errorf("load price data: %w", err)
	}
	return d, nil
}

func load(ctx context.Context, tx pgx.Tx, d *domain.Data) error {
	if err := tx.QueryRow(ctx, `SELECT version FROM price_data_version`).Scan(&d.Version); err != nil {
		return fmt.Errorf("version: %w", err)
	}
	var err error
	if d.Prices, err = loadVariantPrices(ctx, tx); err != nil {
		return fmt.Errorf("variant prices: %w", err)
	}
	if d.Surcharges, err = loadSurcharges(ctx, tx); err != nil {
		return fmt.Errorf("surcharges: %w", err)
	}
	if d.Shipping, err = loadShippingRates(ctx, tx); err != nil {
		return fmt.Errorf("shipping rates: %w", err)
	}
	if d.Coupons, err = loadCoupons(ctx, tx); err != nil {
		return fmt.Errorf("coupons: %w", err)
	}
	if d.Fx, err = loadFxRates(ctx, tx); err != nil {
		return fmt.Errorf("fx rates: %w", err)
	}
	if d.Placements, err = loadPlacementTechniques(ctx, tx); err != nil {
		return fmt.Errorf("placement techniques: %w", err)
	}
	if d.Tax, err = loadTaxRates(ctx, tx); err != nil {
		return fmt.Errorf("tax rates: %w", err)
	}
	return nil
}
