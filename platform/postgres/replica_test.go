package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
)

// TestReaderOnStreamingReplica runs Reader against the real local streaming
// replica: it is the replica (read-only, in recovery), it serves what the
// primary committed once replayed, and the replication lag is printed.
func TestReaderOnStreamingReplica(t *testing.T) {
	t.Parallel()
	primary, url := pgtest.NewDB(t, migrations(t))
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: config.Secret(url), ReadURL: config.Secret(pgtest.Replica(t, url)),
		ConnectTimeout: 5 * time.Second}, nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := db.Reader()
	if r == db.Primary {
		t.Fatal("Reader is the primary although the replica answers")
	}
	var inRecovery bool
	if err := r.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("Reader is not a server in recovery: %v, %v", inRecovery, err)
	}
	if _, err := r.Exec(ctx, `INSERT INTO widgets (name) VALUES ('nope')`); err == nil {
		t.Fatal("a write through Reader succeeded: it is not the replica")
	}

	var lags []time.Duration
	for i := range 20 {
		name := "w" + time.Now().Format("150405.000000") + string(rune('a'+i))
		if _, err := primary.Exec(ctx, `INSERT INTO widgets (name) VALUES ($1)`, name); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			var n int
			if err := r.QueryRow(ctx, `SELECT count(*) FROM widgets WHERE name = $1`, name).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				lags = append(lags, time.Since(start))
				break
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("row %d not on the replica after %s", i, time.Since(start))
			}
			time.Sleep(time.Millisecond)
		}
	}
	var worst, sum time.Duration
	for _, l := range lags {
		worst = max(worst, l)
		sum += l
	}
	t.Logf("replication lag, commit on the primary to visible on the replica, %d rows: mean %s, max %s",
		len(lags), (sum / time.Duration(len(lags))).Round(time.Microsecond), worst.Round(time.Microsecond))
}
