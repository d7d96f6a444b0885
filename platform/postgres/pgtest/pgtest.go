// Package pgtest gives each test its own PostgreSQL database, cloned from a
// template that is migrated once (CREATE DATABASE … TEMPLATE …), so tests run
// against the real server in parallel without sharing state.
//
// PRINTFLEET_TEST_PG_URL names the server (default: local postgres, trust auth).
// Tests are skipped under -short.
package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/postgres"
)

// AdminURL is the maintenance connection used to create databases.
func AdminURL() string {
	if u := os.Getenv("PRINTFLEET_TEST_PG_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

var (
	mu        sync.Mutex
	templates = map[string]bool{}
)

// NewDB creates a fresh database migrated with migrations and returns a pool
// on it and its URL. It is dropped when the test ends.
func NewDB(t testing.TB, migrations fs.FS, opts ...postgres.Option) (*pgxpool.Pool, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL (skipped with -short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmpl := ensureTemplate(t, ctx, migrations)
	name := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
	admin := mustConn(t, ctx, AdminURL())
	defer admin.Close(ctx)
	// The template must have no other connections while it is copied; retry
	// briefly if another process is still closing one.
	var err error
	for i := 0; i < 50; i++ {
		if _, err = admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tmpl)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("pgtest: create database from %s: %v", tmpl, err)
	}
	url := withDatabase(AdminURL(), name)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 20
	for _, o := range opts {
		o(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin := mustConn(t, ctx, AdminURL())
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return pool, url
}

// ensureTemplate creates (once per process, and once per content hash across
// processes thanks to an advisory lock) a database migrated with migrations.
func ensureTemplate(t testing.TB, ctx context.Context, migrations fs.FS) string {
	t.Helper()
	name := "tmpl_" + hashFS(t, migrations)
	mu.Lock()
	defer mu.Unlock()
	if templates[name] {
		return name
	}
	admin := mustConn(t, ctx, AdminURL())
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock(727002)`); err != nil {
		t.Fatalf("pgtest: lock: %v", err)
	}
	defer admin.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(727002)`) //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, name+"_build")); err != nil {
			t.Fatalf("pgtest: create template: %v", err)
		}
		pool, err := pgxpool.New(ctx, withDatabase(AdminURL(), name+"_build"))
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		err = postgres.Migrate(ctx, pool, migrations)
		pool.Close()
		if err != nil {
			_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE %s WITH (FORCE)`, name+"_build"))
			t.Fatalf("pgtest: migrate template: %v", err)
		}
		// Rename only when complete, so a crashed build is never used.
		if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, name+"_build", name)); err != nil {
			t.Fatalf("pgtest: finish template: %v", err)
		}
	}
	templates[name] = true
	return name
}

func hashFS(t testing.TB, fsys fs.FS) string {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func mustConn(t testing.TB, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect %s: %v", strings.SplitN(url, "@", 2)[len(strings.SplitN(url, "@", 2))-1], err)
	}
	return c
}

// withDatabase replaces the database name in a postgres URL.
func withDatabase(url, db string) string {
	base, query, _ := strings.Cut(url, "?")
	i := strings.LastIndex(base, "/")
	if i < len("postgres://") {
		base += "/"
		i = len(base) - 1
	}
	out := base[:i+1] + db
	if query != "" {
		out += "?" + query
	}
	return out
}
