package postgres_test

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/services/webhooks/internal/app"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
	store "github.com/printfleet/printfleet/services/webhooks/internal/store/postgres"
)

// The deliveries about one order, across endpoints and events, newest
// first and keyset-paged; other orders' and other events' are not in it.
func TestListOrderDeliveries(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	a, b := endpoint(t, s, "alice"), endpoint(t, s, "alice")
	order, other := uuid.NewString(), uuid.NewString()
	base := time.Now().UTC().Truncate(time.Microsecond)
	record := func(orderID, typ string, at time.Time, endpoints ...string) {
		t.Helper()
		ev := domain.Event{ID: uuid.NewString(), Type: typ, OwnerID: "alice", OccurredAt: at, Body: []byte(`{}`), OrderID: orderID}
		if first, err := s.RecordEvent(ctx, app.InboxConsumer, ev, endpoints, at); err != nil || !first {
			t.Fatalf("record: %v %v", first, err)
		}
	}
	record(order, "order.paid", base, a.ID, b.ID)
	record(other, "order.paid", base.Add(time.Second), a.ID, b.ID)
	record(order, "order.shipped", base.Add(2*time.Second), a.ID)
	record("", "design.ready", base.Add(3*time.Second), a.ID, b.ID)

	var got []domain.Delivery
	q := app.OrderDeliveryQuery{OrderID: order, Limit: 2}
	for {
		page, err := s.ListOrderDeliveries(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.AfterCreated, q.AfterID = last.CreatedAt, last.ID
	}
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3 (paid to both endpoints, shipped to one)", len(got))
	}
	if got[0].EventType != "order.shipped" || got[1].EventType != "order.paid" || got[2].EventType != "order.paid" ||
		got[1].EndpointID == got[2].EndpointID {
		t.Fatalf("deliveries %+v, want shipped first, then paid to each endpoint", got)
	}
}

// Events stored before the order column existed get their order from the
// body's data.order.id; other events (and bodies without one) keep none.
func TestEventOrderMigrationFillsOldEvents(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewDB(t, store.Migrations)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `DROP INDEX events_order; ALTER TABLE events DROP COLUMN order_id`); err != nil {
		t.Fatal(err)
	}
	order := uuid.NewString()
	rows := map[string]string{
		"order.paid":    `{"id":"x","type":"order.paid","data":{"order":{"id":"` + order + `","user_id":"alice"}}}`,
		"order.shipped": `{"id":"y","type":"order.shipped","data":{"order":{"id":"not-a-uuid"}}}`,
		"design.ready":  `{"id":"z","type":"design.ready","data":{"design":{"id":"` + uuid.NewString() + `"}}}`,
	}
	ids := map[string]string{}
	for typ, body := range rows {
		ids[typ] = uuid.NewString()
		if _, err := pool.Exec(ctx, `INSERT INTO events (id, type, owner_id, occurred_at, body) VALUES ($1, $2, 'alice', now(), $3)`,
			ids[typ], typ, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	sql, err := fs.ReadFile(store.Migrations, "0003_event_order.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(sql)); err != nil {
		t.Fatalf("migration: %v", err)
	}
	for typ, want := range map[string]string{"order.paid": order, "order.shipped": "", "design.ready": ""} {
		var got *string
		if err := pool.QueryRow(ctx, `SELECT order_id::text FROM events WHERE id = $1`, ids[typ]).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if (got == nil) != (want == "") || (got != nil && *got != want) {
			t.Errorf("%s: order_id %v, want %q", typ, got, want)
		}
	}
}
