package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// TestListOrdersOnReplicaReadsYourWrites runs ListOrders on the real
// streaming replica with its replay paused, so the replica is certainly
// behind: a user who just placed an order sees it (their lists read the
// primary for the read-your-writes window), a user whose window is over
// reads the replica and sees it only once the replica has replayed it.
func TestListOrdersOnReplicaReadsYourWrites(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "bob")
	rdb, prefix := testenv.Redis(t)
	s := testenv.Serve(t, f, testenv.Options{Redis: rdb, RedisPrefix: prefix, Replica: time.Minute})
	ctx := context.Background()
	list := func(user string) int {
		t.Helper()
		resp, err := s.Client.ListOrders(s.User(user, ""), &ordersv1.ListOrdersRequest{})
		if err != nil {
			t.Fatalf("list %s: %v", user, err)
		}
		return len(resp.GetOrders())
	}

	// Replay is paused for the whole server (other tests' replica reads
	// wait meanwhile); resumed however the test ends.
	if _, err := s.Replica.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if _, err := s.Replica.Exec(context.Background(), `SELECT pg_wal_replay_resume()`); err != nil {
				t.Errorf("resume replay: %v", err)
			}
		}
	}
	t.Cleanup(resume)

	for _, u := range []string{"alice", "bob"} {
		if _, err := s.Client.CreateOrder(s.User(u, "k-"+u), f.Request(u)); err != nil {
			t.Fatal(err)
		}
	}
	// bob's window is over (as if a minute had passed).
	if err := rdb.Del(ctx, prefix+"recent-write:bob").Err(); err != nil {
		t.Fatal(err)
	}
	if n := list("alice"); n != 1 {
		t.Fatalf("alice lists %d orders right after placing one, want 1 (read-your-writes)", n)
	}
	if n := list("bob"); n != 0 {
		t.Fatalf("bob lists %d orders from a replica whose replay is paused, want 0: the list did not read the replica", n)
	}

	var lsn string
	var behind int64
	if err := s.Pool.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	if err := s.Replica.QueryRow(ctx, `SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::bigint`, lsn).Scan(&behind); err != nil {
		t.Fatal(err)
	}
	resume()
	caughtUp, _ := pgtest.WaitReplay(t, ctx)
	if n := list("bob"); n != 1 {
		t.Fatalf("bob lists %d orders after the replica replayed, want 1", n)
	}
	t.Logf("replica paused %d bytes of WAL behind: the writer read its own order from the primary, the other user's list lagged; after resume the replica caught up in %s",
		behind, caughtUp.Round(time.Millisecond))

	// A cancel is a write too: alice's list by status reflects it at once.
	if err := rdb.Del(ctx, prefix+"recent-write:alice").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replica.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	resumed = false
	orders, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{})
	if err != nil || len(orders.GetOrders()) != 1 {
		t.Fatalf("alice's orders: %v, %v", orders, err)
	}
	if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: orders.GetOrders()[0].GetId()}); err != nil {
		t.Fatal(err)
	}
	cancelled, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{Status: ordersv1.OrderStatus_ORDER_STATUS_CANCELLED})
	if err != nil || len(cancelled.GetOrders()) != 1 {
		t.Fatalf("alice's cancelled orders right after the cancel: %v, %v (want 1)", cancelled, err)
	}
	resume()
}
