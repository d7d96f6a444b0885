package outbox_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/printfleet/printfleet/platform/outbox"
	"github.com/printfleet/printfleet/platform/postgres"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
)

// A gated event is written only when its gate's row exists, decided by the
// INSERT in the caller's batch (one round trip for the whole batch), and
// Written counts exactly the rows that went in.
func TestGatedEventsAreWrittenOnlyForAMatch(t *testing.T) {
	t.Parallel()
	cnt := &postgres.Counter{}
	pool, _ := pgtest.NewDB(t, outbox.Migrations, postgres.WithTracer(cnt))
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE subscribers (user_id text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO subscribers VALUES ('in')`); err != nil {
		t.Fatal(err)
	}
	gate := func(user string) *outbox.Gate {
		return &outbox.Gate{Table: "subscribers", Column: "user_id", Value: user}
	}
	for _, tc := range []struct {
		name   string
		events []outbox.Event
		want   int
	}{
		{"subscriber", []outbox.Event{{Type: eventType, Payload: wrapperspb.String("a"), Gate: gate("in")}}, 1},
		{"not a subscriber", []outbox.Event{{Type: eventType, Payload: wrapperspb.String("b"), Gate: gate("out")}}, 0},
		{"mixed", []outbox.Event{
			{Type: eventType, Payload: wrapperspb.String("c")},
			{Type: eventType, Payload: wrapperspb.String("d"), Gate: gate("out")},
			{Type: eventType, Payload: wrapperspb.String("e"), Gate: gate("in")},
		}, 2},
	} {
		before := countRows(t, pool)
		b := &pgx.Batch{}
		w, err := outbox.QueueWritten(ctx, b, tc.events...)
		if err != nil {
			t.Fatal(err)
		}
		trips := cnt.Count()
		if err := pool.SendBatch(ctx, b).Close(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := cnt.Count() - trips; n != 1 {
			t.Errorf("%s: %d round trips, want 1", tc.name, n)
		}
		if got := countRows(t, pool) - before; got != tc.want || w.Rows() != tc.want {
			t.Errorf("%s: %d rows written, Written says %d; want %d", tc.name, got, w.Rows(), tc.want)
		}
	}
	var nilW *outbox.Written
	if nilW.Rows() != 0 {
		t.Error("a nil Written wrote rows")
	}
	if err := outbox.Queue(ctx, &pgx.Batch{}, outbox.Event{Type: eventType, Payload: wrapperspb.String("x"), Gate: &outbox.Gate{Table: "subscribers"}}); err == nil {
		t.Error("a gate without a column was accepted")
	}
}

func countRows(t *testing.T, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
