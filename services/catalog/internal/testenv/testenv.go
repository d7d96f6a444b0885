// Package testenv builds what the catalog tests share: a database cloned
// from the migrated template per test, a quiet logger, and products with
// fresh ids and SKUs. Only tests import it.
package testenv

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	pgstore "github.com/printfleet/printfleet/services/catalog/internal/store/postgres"
)

// Log is a quiet logger for tests.
func Log() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// DB returns a fresh migrated database (dropped when t ends) and a store on
// it whose reads all go to that one pool.
func DB(t testing.TB, opts ...postgres.Option) (*pgxpool.Pool, *pgstore.Store) {
	t.Helper()
	pool, _ := pgtest.NewDB(t, pgstore.Migrations, opts...)
	return pool, pgstore.NewFromPool(pool)
}

// ID is a new UUID, as the use cases would generate.
func ID() string {
	u, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return u.String()
}

// Product is a valid active product with every id filled in: variant A is
// stock-tracked with stock units, variant B is not tracked; two placements,
// front and back. SKUs are unique per call.
func Product(stock int64) domain.Product {
	sku := "T-" + strings.ToUpper(uuid.NewString()[:8])
	p := domain.Product{ID: ID(), Title: "Tee", Description: "cotton", ImageKey: "blanks/tee.png", Active: true, Version: 1}
	p.Variants = []domain.Variant{
		{ID: ID(), ProductID: p.ID, SKU: sku + "-A", Title: "A", Size: "M", Color: "Black", WeightGrams: 180,
			Price: domain.Money{Currency: "USD", AmountMinor: 1299}, Active: true, StockTracked: true, StockAvailable: stock},
		{ID: ID(), ProductID: p.ID, SKU: sku + "-B", Title: "B", Price: domain.Money{Currency: "USD", AmountMinor: 1399}, Active: true},
	}
	p.Placements = []domain.Placement{
		{ID: ID(), ProductID: p.ID, Name: "front", WidthIn: 12, HeightIn: 16, MinDPI: 150, RecommendedDPI: 300, Technique: "dtg"},
		{ID: ID(), ProductID: p.ID, Name: "back", WidthIn: 12, HeightIn: 14.5, MinDPI: 100, RecommendedDPI: 200, Technique: "dtg"},
	}
	return p
}
