package postgres_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
)

func migrations(t *testing.T) fs.FS {
	sub, err := fs.Sub(os.DirFS("testdata"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func TestMigrateAppliesOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDB(t, fstest.MapFS{}) // empty database
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- postgres.Migrate(ctx, pool, migrations(t)) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("schema_migrations rows = %d (%v), want 2", n, err)
	}
	var color string
	if err := pool.QueryRow(ctx, `INSERT INTO widgets (name) VALUES ('a') RETURNING color`).Scan(&color); err != nil || color != "red" {
		t.Fatalf("migrated schema not usable: %q %v", color, err)
	}
}

func TestMigrateFailureRollsBackThatFile(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDB(t, fstest.MapFS{})
	ctx := context.Background()
	bad := fstest.MapFS{
		"0001_ok.sql":  {Data: []byte(`CREATE TABLE a (id int);`)},
		"0002_bad.sql": {Data: []byte(`CREATE TABLE b (id int); SELECT * FROM nope;`)},
	}
	err := postgres.Migrate(ctx, pool, bad)
	if err == nil || !strings.Contains(err.Error(), "0002_bad.sql") {
		t.Fatalf("want an error naming 0002_bad.sql, got %v", err)
	}
	var exists bool
	_ = pool.QueryRow(ctx, `SELECT to_regclass('b') IS NOT NULL`).Scan(&exists)
	if exists {
		t.Fatal("table b from the failed migration survived")
	}
	var versions []string
	rows, _ := pool.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	versions, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	if len(versions) != 1 || versions[0] != "0001_ok" {
		t.Fatalf("recorded versions = %v", versions)
	}
}

func TestInTxCommitsAndRollsBack(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDB(t, migrations(t))
	ctx := context.Background()
	if err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO widgets (name) VALUES ('kept')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO widgets (name) VALUES ('dropped')`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	err = postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO widgets (name) VALUES ('kept')`)
		return err
	})
	if !postgres.IsUniqueViolation(err, "widgets_name_key") {
		t.Fatalf("want unique violation, got %v", err)
	}
	var names []string
	rows, _ := pool.Query(ctx, `SELECT name FROM widgets`)
	names, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	if len(names) != 1 || names[0] != "kept" {
		t.Fatalf("names = %v", names)
	}
}

func TestOpenNamesUnreachableHost(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip()
	}
	cfg := postgres.Config{URL: config.Secret("postgres://app:pw@127.0.0.1:1/orders?sslmode=disable&connect_timeout=1"), ConnectTimeout: 2e9}
	_, err := postgres.Open(context.Background(), cfg, nil, slog.Default())
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1/orders") || strings.Contains(err.Error(), "pw") {
		t.Fatalf("want an error naming 127.0.0.1:1/orders without the password, got %v", err)
	}
}

func TestReaderFallsBackToPrimary(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, migrations(t))
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: config.Secret(url), ReadURL: "postgres://postgres@127.0.0.1:1/x?connect_timeout=1", ConnectTimeout: 2e9}, nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Reader() != db.Primary {
		t.Fatal("unreachable replica must fall back to the primary")
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLostConnectionsAreUnavailable(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip()
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	err = postgres.InTx(ctx, pool, func(pgx.Tx) error { return nil })
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("refused connection: %v (kind %v), want Unavailable", err, errs.KindOf(err))
	}
	// A server terminating the session mid-transaction is Unavailable too; a
	// bug in the SQL is not.
	live, _ := pgtest.NewDB(t, migrations(t))
	err = postgres.InTx(ctx, live, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
		return err
	})
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("terminated session: %v (kind %v), want Unavailable", err, errs.KindOf(err))
	}
	err = postgres.InTx(ctx, live, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT * FROM no_such_table`)
		return err
	})
	if errs.Is(err, errs.Unavailable) {
		t.Fatalf("a missing table is not an outage: %v", err)
	}
}
