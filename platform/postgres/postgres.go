// Package postgres opens pgx pools, runs a service's embedded migrations at
// start, and runs transactions as closures.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/errs"
)

// Config is a service's database. ReadURL optionally names a streaming replica
// for reads that tolerate lag.
type Config struct {
	URL      config.Secret `env:"URL, default=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	ReadURL  config.Secret `env:"READ_URL"`
	MaxConns int32         `env:"MAX_CONNS, default=16"`
	// ConnectTimeout bounds the first connection at start.
	ConnectTimeout time.Duration `env:"CONNECT_TIMEOUT, default=5s"`
}

// DB is a primary pool and an optional replica pool.
type DB struct {
	Primary *pgxpool.Pool
	replica *pgxpool.Pool
	// replicaOK is false while the replica fails its health probe.
	replicaOK atomic.Bool
	stop      context.CancelFunc
}

// Option adjusts a pool's configuration.
type Option func(*pgxpool.Config)

// WithTracer installs a pgx query tracer (e.g. a *Counter in tests).
func WithTracer(t pgx.QueryTracer) Option {
	return func(c *pgxpool.Config) { c.ConnConfig.Tracer = multiTracer{c.ConnConfig.Tracer, t} }
}

// Open connects to the primary (failing with the host it could not reach),
// applies migrations (may be nil) and connects to the replica if configured.
func Open(ctx context.Context, cfg Config, migrations fs.FS, log *slog.Logger, opts ...Option) (*DB, error) {
	primary, err := connect(ctx, cfg.URL.Reveal(), cfg, opts)
	if err != nil {
		return nil, err
	}
	if migrations != nil {
		if err := Migrate(ctx, primary, migrations); err != nil {
			primary.Close()
			return nil, err
		}
	}
	db := &DB{Primary: primary}
	if cfg.ReadURL != "" {
		replica, err := connect(ctx, cfg.ReadURL.Reveal(), cfg, opts)
		if err != nil {
			// A replica is an optimisation: run on the primary without it.
			log.Warn("read replica unreachable at start; reading from the primary", "err", err)
		} else {
			db.replica = replica
			db.replicaOK.Store(true)
			probeCtx, cancel := context.WithCancel(context.Background())
			db.stop = cancel
			go db.probeReplica(probeCtx, log)
		}
	}
	return db, nil
}

func connect(ctx context.Context, dsn string, cfg Config, opts []Option) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", errors.New("malformed connection string"))
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pc.ConnConfig.Tracer = multiTracer{spanTracer{}, newRoundTrips()}
	for _, o := range opts {
		o(pc)
	}
	where := redactedHost(dsn)
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(cctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", where, err)
	}
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s unreachable: %w", where, err)
	}
	return pool, nil
}

// redactedHost names host:port/db without credentials, for errors and logs.
func redactedHost(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "(unparsed dsn)"
	}
	return u.Host + u.Path
}

func (db *DB) probeReplica(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := db.replica.Ping(pctx)
		cancel()
		if ok := err == nil; ok != db.replicaOK.Swap(ok) {
			log.Warn("read replica health changed", "healthy", ok, "err", err)
		}
	}
}

// Reader returns the pool for lag-tolerant reads: the replica when one is
// configured and healthy, else the primary.
func (db *DB) Reader() *pgxpool.Pool {
	if db.replica != nil && db.replicaOK.Load() {
		return db.replica
	}
	return db.Primary
}

// Ready is a readiness check: the primary answers.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.Primary.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() {
	if db.stop != nil {
		db.stop()
	}
	if db.replica != nil {
		db.replica.Close()
	}
	db.Primary.Close()
}

// Querier is what both a pool and a transaction offer.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Beginner starts transactions (a pool or a connection).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise (also on panic).
func InTx(ctx context.Context, db Beginner, fn func(tx pgx.Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return Classify(fmt.Errorf("begin: %w", err))
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			err = Classify(err)
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Classify marks errors that mean the database connection was lost or the
// server is not accepting work (restarting, shutting down) as
// errs.Unavailable, so callers retry later instead of treating them as bugs.
// Other errors pass through unchanged.
func Classify(err error) error {
	if err == nil || errs.Is(err, errs.Unavailable) || !IsConnectionLost(err) {
		return err
	}
	return errs.Wrap(errs.Unavailable, err, "database unavailable")
}

// IsConnectionLost reports whether err comes from a lost or refused
// connection, or from a server that is starting up or shutting down.
func IsConnectionLost(err error) bool {
	var (
		pe *pgconn.PgError
		ce *pgconn.ConnectError
		ne net.Error
	)
	switch {
	case errors.As(err, &pe):
		// 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}

// IsUniqueViolation reports whether err is a unique-constraint violation,
// optionally of the named constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && (constraint == "" || pe.ConstraintName == constraint)
}

// IsSerializationFailure reports whether a retry of the transaction may
// succeed (serialization failure or deadlock).
func IsSerializationFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
