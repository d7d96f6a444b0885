package postgres_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
)

// roundTrips reads printfleet_db_round_trips_total for this process from
// the default registry, as /metrics serves it.
func roundTrips(t *testing.T) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "printfleet_db_round_trips_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == filepath.Base(os.Args[0]) {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Every query and every batch of a pool opened by Open is one round trip
// on the counter the benchmark scrapes; a transaction's BEGIN and COMMIT
// are round trips too. Not parallel: the counter is the process's.
func TestRoundTripsAreCounted(t *testing.T) {
	_, url := pgtest.NewDB(t, fstest.MapFS{})
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: config.Secret(url), ConnectTimeout: 5e9}, nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := roundTrips(t)
	if _, err := db.Primary.Exec(ctx, `SELECT 1`); err != nil { // 1
		t.Fatal(err)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT 1`)
	b.Queue(`SELECT 2`)
	if err := db.Primary.SendBatch(ctx, b).Close(); err != nil { // 1
		t.Fatal(err)
	}
	err = postgres.InTx(ctx, db.Primary, func(tx pgx.Tx) error { // BEGIN, SELECT, COMMIT
		_, err := tx.Exec(ctx, `SELECT 3`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := roundTrips(t) - before; got != 5 {
		t.Errorf("%v round trips counted, want 5 (query, batch, begin, query, commit)", got)
	}
}
