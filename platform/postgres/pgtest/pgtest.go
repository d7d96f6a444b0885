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

// ReplicaURL is the maintenance connection of the streaming replica of
// AdminURL's server: PRINTFLEET_TEST_PG_REPLICA_URL, else
// PRINTFLEET_PG_REPLICA_URL (scripts/env.sh; scripts/infra.sh starts the
// local one), else the local default.
func ReplicaURL() string {
	for _, k := range []string{"PRINTFLEET_TEST_PG_REPLICA_URL", "PRINTFLEET_PG_REPLICA_URL"} {
		if u := os.Getenv(k); u != "" {
			return u
		}
	}
	return "postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable"
}

// Replica returns the URL of dbURL's database (one NewDB made) on the
// streaming replica, once the replica has replayed everything the primary
// had written when Replica was called (the database's creation included). A
// missing replica fails the test: `scripts/infra.sh up` starts one.
func Replica(t testing.TB, dbURL string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the PostgreSQL replica (skipped with -short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lag, bytes := WaitReplay(t, ctx)
	t.Logf("pgtest: replica caught up in %s (%d bytes of WAL behind when asked)", lag.Round(time.Millisecond), bytes)
	return withDatabase(ReplicaURL(), databaseOf(dbURL))
}

// WaitReplay waits until the replica has replayed the primary's WAL up to
// its position now, and returns how long that took and how many bytes
// behind the replica was.
func WaitReplay(t testing.TB, ctx context.Context) (time.Duration, int64) {
	t.Helper()
	primary := mustConn(t, ctx, AdminURL())
	defer primary.Close(ctx)
	var lsn string
	if err := primary.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatalf("pgtest: primary wal position: %v", err)
	}
	replica, err := pgx.Connect(ctx, ReplicaURL())
	if err != nil {
		t.Fatalf("pgtest: no PostgreSQL replica at %s (run scripts/infra.sh up): %v", strings.SplitN(ReplicaURL(), "@", 2)[len(strings.SplitN(ReplicaURL(), "@", 2))-1], err)
	}
	defer replica.Close(ctx)
	start := time.Now()
	var behind int64 = -1
	for {
		var caught bool
		var b int64
		err := replica.QueryRow(ctx, `SELECT pg_is_in_recovery() AND pg_last_wal_replay_lsn() >= $1::pg_lsn,
			coalesce(pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()), 0)::bigint`, lsn).Scan(&caught, &b)
		if err != nil && ctx.Err() == nil {
			t.Fatalf("pgtest: replica replay position: %v", err)
		}
		if behind < 0 {
			behind = max(b, 0)
		}
		if caught {
			return time.Since(start), behind
		}
		select {
		case <-ctx.Done():
			var paused bool
			_ = replica.QueryRow(context.Background(), `SELECT pg_is_wal_replay_paused()`).Scan(&paused)
			t.Fatalf("pgtest: the replica did not replay up to %s (%d bytes behind, replay paused: %v) in time; is it streaming? (scripts/infra.sh status; up resumes a replay a killed test left paused)", lsn, b, paused)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// databaseOf is the database name of a postgres URL.
func databaseOf(url string) string {
	base, _, _ := strings.Cut(url, "?")
	return base[strings.LastIndex(base, "/")+1:]
}
