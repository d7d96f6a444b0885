package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// dbStats are a database's cumulative counters from pg_stat_database and
// pg_stat_user_tables. The server has no pg_stat_statements here
// (shared_preload_libraries is empty), so queries are counted as
// transactions (every statement outside a transaction is one) and as scans
// of the tables that matter.
type dbStats struct {
	Xacts  int64 // xact_commit + xact_rollback
	Tuples int64 // tup_returned + tup_fetched
	Scans  int64 // seq_scan + idx_scan of the named tables
}

const statsSQL = `
SELECT d.xact_commit + d.xact_rollback, d.tup_returned + d.tup_fetched,
       (SELECT coalesce(sum(t.seq_scan + coalesce(t.idx_scan, 0)), 0)::bigint
          FROM pg_stat_user_tables t WHERE t.relname = ANY($1))
FROM pg_stat_database d WHERE d.datname = current_database()`

// readStats reads db's counters over a connection of its own; the read
// itself is one transaction, subtracted by the callers' deltas.
func readStats(ctx context.Context, url string, tables []string) (dbStats, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return dbStats{}, err
	}
	defer conn.Close(ctx)
	var s dbStats
	if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return s, err
	}
	if err := conn.QueryRow(ctx, statsSQL, tables).Scan(&s.Xacts, &s.Tuples, &s.Scans); err != nil {
		return s, fmt.Errorf("read pg_stat: %w", err)
	}
	return s, nil
}

// statsFlush is how long to wait before reading counters after activity:
// PostgreSQL 15 backends publish their counters at most once a second, when
// they go idle.
const statsFlush = 2 * time.Second

func (a dbStats) sub(b dbStats) dbStats {
	return dbStats{Xacts: a.Xacts - b.Xacts, Tuples: a.Tuples - b.Tuples, Scans: a.Scans - b.Scans}
}

// ownReads is what one readStats call adds to Xacts: the clear and the read
// (each its own transaction), plus a connection's startup lookups.
const ownReads = 2
