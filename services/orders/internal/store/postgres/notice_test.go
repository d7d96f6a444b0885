package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/postgres"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// The order notice costs a subscriber's order nothing more than a
// non-subscriber's: the gated insert rides the batches the change sends
// anyway (placing: 1 round trip, 1 commit; the worker's reaction: 3 round
// trips, 2 commits), and writes the notice rows only for the subscriber. A
// commit whose only events were gated out does not wake the relay.
func TestOrderNoticesRideTheChangesBatches(t *testing.T) {
	t.Parallel()
	cnt := &commitCounter{}
	pool, store := testenv.DB(t, postgres.WithTracer(cnt))
	var wakes atomic.Int64
	store.WakeAfterCommit(func() { wakes.Add(1) })
	ctx := context.Background()
	for _, subscribed := range []bool{false, true} {
		if err := store.SetWebhookSubscriber(ctx, "alice", subscribed); err != nil {
			t.Fatal(err)
		}
		var (
			trips   int64
			commits int
		)
		cnt.take(&trips, &commits)
		w0 := wakes.Load()
		o := newOrder(t, store) // a blank order of alice's, no store
		if rt, c := cnt.take(&trips, &commits); rt != 1 || c != 1 {
			t.Errorf("subscribed %v: create: %d round trips and %d commits, want 1 and 1", subscribed, rt, c)
		}
		if n := wakes.Load() - w0; n != 1 {
			t.Errorf("subscribed %v: create woke the relay %d times, want 1 (OrderPlaced)", subscribed, n)
		}
		w1 := wakes.Load()
		if err := testenv.NewWorker(t, store, nil).StockReserved(ctx, uuid.NewString(), o.ID()); err != nil {
			t.Fatal(err)
		}
		if rt, c := cnt.take(&trips, &commits); rt != 3 || c != 2 {
			t.Errorf("subscribed %v: stock reserved: %d round trips and %d commits, want 3 and 2", subscribed, rt, c)
		}
		want, wantWakes := 0, int64(0)
		if subscribed {
			want, wantWakes = 3, 1 // created, paid, in production
		}
		if n := testenv.Count(t, pool, "outbox", "type = $1 AND payload LIKE '%' || $2::text::bytea || '%'", eventsv1.KeyOrderNotice, o.ID()); n != want {
			t.Errorf("subscribed %v: %d notices, want %d", subscribed, n, want)
		}
		if n := wakes.Load() - w1; n != wantWakes {
			t.Errorf("subscribed %v: the worker's commit woke the relay %d times, want %d", subscribed, n, wantWakes)
		}
	}
}
