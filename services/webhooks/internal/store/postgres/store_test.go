package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
	store "github.com/printfleet/printfleet/services/webhooks/internal/store/postgres"
)

func newStore(t *testing.T) *store.Store {
	pool, _ := pgtest.NewDB(t, store.Migrations)
	return store.New(pool)
}

func endpoint(t *testing.T, s *store.Store, owner string) domain.Endpoint {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	e := domain.Endpoint{ID: uuid.NewString(), OwnerID: owner, URL: "https://example.com/" + owner, EventTypes: []string{"*"},
		SecretSealed: []byte("sealed"), Status: domain.EndpointActive, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateEndpoint(context.Background(), e, 20); err != nil {
		t.Fatal(err)
	}
	return e
}

func events(t *testing.T, s *store.Store, n int, at time.Time, endpoints ...string) []string {
	t.Helper()
	var ids []string
	for range n {
		ev := domain.Event{ID: uuid.NewString(), Type: "order.paid", OwnerID: "o", OccurredAt: at, Body: []byte(`{}`)}
		first, err := s.RecordEvent(context.Background(), app.InboxConsumer, ev, endpoints, at)
		if err != nil || !first {
			t.Fatalf("record: %v %v", first, err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// TestClaimPerEndpoint: a claim takes at most each endpoint's free slots,
// leases what it took, and counts the attempt; leased rows are not taken
// again until the lease ends.
func TestClaimPerEndpoint(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	a, b := endpoint(t, s, "a"), endpoint(t, s, "b")
	now := time.Now()
	events(t, s, 10, now, a.ID)
	events(t, s, 10, now, b.ID)
	got, err := s.Claim(ctx, app.ClaimRequest{Now: now.Add(time.Millisecond), Lease: time.Minute, Limit: 100, PerEndpoint: 3, Busy: map[string]int{a.ID: 2}})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, c := range got {
		per[c.EndpointID]++
		if c.Attempt != 1 || c.URL == "" || string(c.Body) != `{}` {
			t.Fatalf("claimed %+v", c)
		}
	}
	if per[a.ID] != 1 || per[b.ID] != 3 {
		t.Fatalf("claimed per endpoint %v", per)
	}
	again, err := s.Claim(ctx, app.ClaimRequest{Now: now.Add(time.Millisecond), Lease: time.Minute, Limit: 2, PerEndpoint: 3})
	if err != nil || len(again) != 2 {
		t.Fatalf("second claim %d %v", len(again), err)
	}
	for _, c := range again {
		for _, g := range got {
			if g.DeliveryID == c.DeliveryID {
				t.Fatal("a leased delivery was claimed again")
			}
		}
	}
	// After the lease, the first claim's rows are due again (attempt 2).
	later, err := s.Claim(ctx, app.ClaimRequest{Now: now.Add(2 * time.Minute), Lease: time.Minute, Limit: 100, PerEndpoint: 100})
	if err != nil || len(later) != 20 {
		t.Fatalf("after the lease: %d %v", len(later), err)
	}
	st, err := s.Stats(ctx, now.Add(time.Second))
	if err != nil || st.Pending != 20 || st.OldestDueAt.IsZero() || st.EndpointCount[domain.EndpointActive] != 2 {
		t.Fatalf("stats %+v %v", st, err)
	}
}

// TestPurge deletes deliveries and events past retention only.
func TestPurge(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	a := endpoint(t, s, "a")
	events(t, s, 3, time.Now().Add(-40*24*time.Hour), a.ID)
	events(t, s, 2, time.Now(), a.ID)
	n, err := s.Purge(ctx, time.Now().Add(-30*24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("purged %d %v", n, err)
	}
	ds, err := s.ListDeliveries(ctx, app.DeliveryQuery{EndpointID: a.ID, Limit: 10})
	if err != nil || len(ds) != 2 {
		t.Fatalf("left %d %v", len(ds), err)
	}
}

// TestEndpointLimitAndNotFound: the 21st endpoint is refused; unknown ids
// are NotFound.
func TestEndpointLimitAndNotFound(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	for range 20 {
		endpoint(t, s, "a")
	}
	e := domain.Endpoint{ID: uuid.NewString(), OwnerID: "a", URL: "https://x", EventTypes: []string{"*"}, SecretSealed: []byte("s"), Status: domain.EndpointActive, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := s.CreateEndpoint(ctx, e, 20); !errs.Is(err, errs.FailedPrecondition) {
		t.Fatalf("21st: %v", err)
	}
	if _, err := s.GetEndpoint(ctx, uuid.NewString()); !errs.Is(err, errs.NotFound) {
		t.Fatalf("get: %v", err)
	}
	if _, err := s.DeleteEndpoint(ctx, uuid.NewString()); !errs.Is(err, errs.NotFound) {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Redeliver(ctx, uuid.NewString(), uuid.NewString(), time.Now()); !errs.Is(err, errs.NotFound) {
		t.Fatalf("redeliver: %v", err)
	}
}

// TestClaimSkipsDisabled: pending deliveries of a disabled endpoint (a
// fan-out that raced the disabling) do not fill the claim.
func TestClaimSkipsDisabled(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	a, b := endpoint(t, s, "a"), endpoint(t, s, "b")
	now := time.Now()
	events(t, s, 5, now.Add(-time.Second), a.ID)
	events(t, s, 1, now, b.ID)
	if _, err := s.UpdateEndpoint(ctx, a.ID, func(e *domain.Endpoint) error {
		e.Status, e.DisabledReason = domain.EndpointDisabled, "test"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Claim(ctx, app.ClaimRequest{Now: now.Add(time.Millisecond), Lease: time.Minute, Limit: 1, PerEndpoint: 4})
	if err != nil || len(got) != 1 || got[0].EndpointID != b.ID {
		t.Fatalf("claimed %+v %v", got, err)
	}
}

// TestNoDeliveryForAnEndpointDisabledMeanwhile: the fan-out reads an owner's
// active endpoints before its transaction. An endpoint disabled after that
// read, even by a transaction still open when the event is recorded, gets
// no delivery, so none is left pending for an endpoint that is never
// claimed again.
func TestNoDeliveryForAnEndpointDisabledMeanwhile(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDB(t, store.Migrations)
	s := store.New(pool)
	ctx := context.Background()
	a, b := endpoint(t, s, "a"), endpoint(t, s, "a")

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `UPDATE endpoints SET status = 'disabled', disabled_reason = 'gone' WHERE id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ev := domain.Event{ID: uuid.NewString(), Type: "order.paid", OwnerID: "a", OccurredAt: time.Now(), Body: []byte(`{}`)}
	go func() {
		_, err := s.RecordEvent(ctx, app.InboxConsumer, ev, []string{a.ID, b.ID}, time.Now())
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the event was recorded while the disable was still open (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT endpoint_id::text FROM deliveries WHERE event_id = $1`, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if len(got) != 1 || got[0] != b.ID {
		t.Fatalf("deliveries went to %v, want only the active endpoint %s", got, b.ID)
	}
}
