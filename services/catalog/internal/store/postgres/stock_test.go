package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/postgres"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	pgstore "github.com/printfleet/printfleet/services/catalog/internal/store/postgres"
	"github.com/printfleet/printfleet/services/catalog/internal/testenv"
)

// available is the stock of a product's i-th variant.
func available(t *testing.T, s *pgstore.Store, productID string, i int) int64 {
	t.Helper()
	p, err := s.Product(context.Background(), productID)
	if err != nil {
		t.Fatal(err)
	}
	return p.Variants[i].StockAvailable
}

// reserve runs ReserveStock for orderID with a fresh message id; decide is
// what the app would decide (nil: keep the reservation, no events).
func reserve(t *testing.T, s *pgstore.Store, orderID, resID string, items []domain.OrderItem, decide func(app.ReservationState) app.Verdict) (state app.ReservationState, seen bool) {
	t.Helper()
	seen, err := s.ReserveStock(context.Background(), app.Reservation{
		Claim: app.InboxClaim{Consumer: "test", MessageID: testenv.ID()}, OrderID: orderID, ReservationID: resID, Items: items,
	}, func(st app.ReservationState) (app.Verdict, error) {
		state = st
		if decide == nil {
			return app.Verdict{}, nil
		}
		return decide(st), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return state, seen
}

func TestReservationReservesAndReleasesOnce(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	p, q := testenv.Product(3), testenv.Product(10)
	insert(t, s, &p)
	insert(t, s, &q)
	items := []domain.OrderItem{{VariantID: p.Variants[0].ID, Quantity: 3}, {VariantID: p.Variants[1].ID, Quantity: 7}, {VariantID: q.Variants[0].ID, Quantity: 4}}
	resID := testenv.ID()
	vars, seen := reserve(t, s, "order-1", resID, items, nil)
	if seen {
		t.Fatal("first reservation of order-1 reported as seen")
	}
	want := map[string]app.StockVariant{
		p.Variants[0].ID: {ID: p.Variants[0].ID, ProductID: p.ID, Active: true, ProductActive: true, Tracked: true, Available: 3},
		p.Variants[1].ID: {ID: p.Variants[1].ID, ProductID: p.ID, Active: true, ProductActive: true},
		q.Variants[0].ID: {ID: q.Variants[0].ID, ProductID: q.ID, Active: true, ProductActive: true, Tracked: true, Available: 10},
	}
	if len(vars.Variants) != len(want) {
		t.Fatalf("stock variants = %+v, want %+v", vars.Variants, want)
	}
	for id, w := range want {
		if vars.Variants[id] != w {
			t.Fatalf("stock variant %s = %+v, want %+v", id, vars.Variants[id], w)
		}
	}
	// Both products' tracked stock moved (p's to zero, q's to 6): both are
	// announced, so their projections show the new stock_available.
	moved := slices.Sorted(slices.Values(vars.Moved))
	if vars.Short != "" || !slices.Equal(moved, slices.Sorted(slices.Values([]string{p.ID, q.ID}))) {
		t.Fatalf("reserve = short %q, moved %v; want nothing short and %s, %s moved", vars.Short, vars.Moved, p.ID, q.ID)
	}
	if a, b, c := available(t, s, p.ID, 0), available(t, s, p.ID, 1), available(t, s, q.ID, 0); a != 0 || b != 0 || c != 6 {
		t.Fatalf("available after reserving = %d, %d (untracked), %d; want 0, 0, 6", a, b, c)
	}
	if n := count(t, pool, `SELECT count(*) FROM reservations WHERE order_id = 'order-1' AND id = $1 AND status = $2`, resID, domain.ReservationReserved); n != 1 {
		t.Fatal("reservation not recorded as reserved under its id")
	}
	if n := count(t, pool, `SELECT coalesce(sum(quantity), 0)::int FROM reservation_items WHERE order_id = 'order-1'`); n != 14 {
		t.Fatalf("reserved items hold %d units, want 14", n)
	}
	if _, seen := reserve(t, s, "order-1", testenv.ID(), items, func(app.ReservationState) app.Verdict {
		t.Fatal("decide called for an order seen before")
		return app.Verdict{}
	}); !seen {
		t.Fatal("second reservation of the same order not reported as seen")
	}
	if a, c := available(t, s, p.ID, 0), available(t, s, q.ID, 0); a != 0 || c != 6 {
		t.Fatalf("available after a second message for the order = %d, %d; want 0, 6", a, c)
	}

	release := func() (bool, []string) {
		var released bool
		var restocked []string
		inTx(t, s, func(ctx context.Context, tx app.Tx) (err error) {
			released, restocked, err = tx.Release(ctx, "order-1")
			return err
		})
		return released, restocked
	}
	if released, restocked := release(); !released ||
		!slices.Equal(slices.Sorted(slices.Values(restocked)), slices.Sorted(slices.Values([]string{p.ID, q.ID}))) {
		t.Fatalf("release = %v, restocked %v; want released and %s, %s restocked", released, restocked, p.ID, q.ID)
	}
	if released, restocked := release(); released || restocked != nil {
		t.Fatalf("second release = %v, %v; want nothing", released, restocked)
	}
	if a, c := available(t, s, p.ID, 0), available(t, s, q.ID, 0); a != 3 || c != 10 {
		t.Fatalf("available after release = %d, %d; want 3, 10 (once)", a, c)
	}
	if n := count(t, pool, `SELECT count(*) FROM reservations WHERE order_id = 'order-1' AND status = 'released'`); n != 1 {
		t.Fatal("reservation not marked released")
	}
}

func TestReserveTakesAllOrNothing(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	a, b := testenv.Product(5), testenv.Product(1)
	insert(t, s, &a)
	insert(t, s, &b)
	items := []domain.OrderItem{{VariantID: a.Variants[0].ID, Quantity: 5}, {VariantID: b.Variants[0].ID, Quantity: 2}}
	st, _ := reserve(t, s, "order-2", testenv.ID(), items, func(st app.ReservationState) app.Verdict {
		return app.Verdict{Rejection: &domain.Rejection{Reason: domain.ReasonInsufficientStock, VariantID: st.Short}}
	})
	if st.Short != b.Variants[0].ID || st.Moved != nil {
		t.Fatalf("reserve = short %q, moved %v; want %s short", st.Short, st.Moved, b.Variants[0].ID)
	}
	if x, y := available(t, s, a.ID, 0), available(t, s, b.ID, 0); x != 5 || y != 1 {
		t.Fatalf("available after a rejected reservation = %d, %d; want 5, 1 (untouched)", x, y)
	}
	if n := count(t, pool, `SELECT count(*) FROM reservations WHERE order_id = 'order-2' AND status = 'rejected' AND reason = $1`, domain.ReasonInsufficientStock); n != 1 {
		t.Fatal("rejection not recorded with its reason")
	}
	if n := count(t, pool, `SELECT count(*) FROM reservation_items`); n != 0 {
		t.Fatalf("%d reservation items for a rejected order", n)
	}
}

// The whole OrderPlaced transaction (inbox claim, reservation, outbox row)
// of a blank order, whose variants track no stock, is two round trips.
func TestBlankOrderReservationIsTwoRoundTrips(t *testing.T) {
	t.Parallel()
	counter := &postgres.Counter{}
	pool, s := testenv.DB(t, postgres.WithTracer(counter))
	p, q := testenv.Product(5), testenv.Product(5)
	insert(t, s, &p)
	insert(t, s, &q)
	stock := app.NewStock(s, testenv.Log())
	items := []domain.OrderItem{{VariantID: p.Variants[1].ID, Quantity: 1}, {VariantID: q.Variants[1].ID, Quantity: 2}}
	before := counter.Count()
	out, err := stock.Reserve(context.Background(), app.InboxClaim{Consumer: "test", MessageID: testenv.ID()}, "order-blank", items)
	if err != nil || out != app.OutcomeReserved {
		t.Fatalf("reserve = %q, %v; want reserved", out, err)
	}
	n := counter.Count() - before
	if n > 2 {
		t.Fatalf("a blank two-item order took %d round trips, want ≤ 2", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM outbox WHERE type = $1`, eventsv1.KeyStockReserved); n != 1 {
		t.Fatalf("%d StockReserved rows, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM processed_messages WHERE consumer = 'test'`); n != 1 {
		t.Fatalf("%d inbox rows, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM reservation_items WHERE order_id = 'order-blank'`); n != 2 {
		t.Fatalf("%d reservation items, want 2", n)
	}
}

// Orders racing for the last unit: exactly one gets it; the others are
// rejected naming the variant, and the stock never goes below zero.
func TestConcurrentReservationsOfTheLastUnit(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	p, q := testenv.Product(1), testenv.Product(100)
	insert(t, s, &p)
	insert(t, s, &q)
	stock := app.NewStock(s, testenv.Log())
	const orders = 12
	outcomes := make([]app.ReserveOutcome, orders)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Two tracked variants, in both orders, so locks are taken across
			// orders in different item orders too.
			items := []domain.OrderItem{{VariantID: q.Variants[0].ID, Quantity: 1}, {VariantID: p.Variants[0].ID, Quantity: 1}}
			if i%2 == 1 {
				items[0], items[1] = items[1], items[0]
			}
			out, err := stock.Reserve(context.Background(), app.InboxClaim{Consumer: "test", MessageID: testenv.ID()}, fmt.Sprintf("order-%d", i), items)
			if err != nil {
				t.Error(err)
			}
			outcomes[i] = out
		}()
	}
	close(start)
	wg.Wait()
	reserved := 0
	for _, o := range outcomes {
		if o == app.OutcomeReserved {
			reserved++
		}
	}
	if reserved != 1 {
		t.Fatalf("%d orders reserved the last unit, want 1 (outcomes %v)", reserved, outcomes)
	}
	if a, b := available(t, s, p.ID, 0), available(t, s, q.ID, 0); a != 0 || b != 99 {
		t.Fatalf("available = %d, %d; want 0, 99 (the rejected orders took nothing)", a, b)
	}
	if n := count(t, pool, `SELECT count(*) FROM reservations WHERE status = 'rejected' AND reason = $1`, domain.ReasonInsufficientStock); n != orders-1 {
		t.Fatalf("%d insufficient-stock rejections, want %d", n, orders-1)
	}
	rows, err := pool.Query(context.Background(), `SELECT payload FROM outbox WHERE type = $1`, eventsv1.KeyStockRejected)
	if err != nil {
		t.Fatal(err)
	}
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range payloads {
		var rej eventsv1.StockRejected
		if err := proto.Unmarshal(b, &rej); err != nil {
			t.Fatal(err)
		}
		if rej.GetVariantId() != p.Variants[0].ID {
			t.Fatalf("rejection names %s, want the variant out of stock %s", rej.GetVariantId(), p.Variants[0].ID)
		}
	}
}

func TestReleaseBeforeTheOrderRecordsACancellation(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		released, restocked, err := tx.Release(ctx, "order-3")
		if err != nil || released || restocked != nil {
			t.Fatalf("release of an unseen order = %v, %v, %v; want nothing released", released, restocked, err)
		}
		return nil
	})
	if n := count(t, pool, `SELECT count(*) FROM reservations WHERE order_id = 'order-3' AND status = 'cancelled'`); n != 1 {
		t.Fatal("early release not recorded as a cancellation")
	}
	if _, seen := reserve(t, s, "order-3", testenv.ID(), nil, nil); !seen {
		t.Fatal("reservation after the cancellation not reported as seen (a late order must reserve nothing)")
	}
}

// A new OrderPlaced message for an order decided before announces the
// decision again (its first answer may have been lost) without reserving
// twice: the held reservation's id, or the stored rejection; nothing once
// released. A redelivery of the first message announces nothing.
func TestRepeatedOrderPlacedAnnouncesTheDecisionAgain(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	p := testenv.Product(5)
	insert(t, s, &p)
	stock := app.NewStock(s, testenv.Log())
	ctx := context.Background()
	vid := p.Variants[0].ID
	reserveMsg := func(msgID, orderID string, qty int64) app.ReserveOutcome {
		t.Helper()
		out, err := stock.Reserve(ctx, app.InboxClaim{Consumer: "test", MessageID: msgID}, orderID, []domain.OrderItem{{VariantID: vid, Quantity: qty}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	payloads := func(typ, orderID string) [][]byte {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT payload FROM outbox WHERE type = $1 ORDER BY seq`, typ)
		if err != nil {
			t.Fatal(err)
		}
		all, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, b := range all {
			// Both events carry the order id as field 1.
			var ev eventsv1.StockReserved
			if err := proto.Unmarshal(b, &ev); err == nil && ev.GetOrderId() == orderID {
				out = append(out, b)
			}
		}
		return out
	}

	first := testenv.ID()
	if out := reserveMsg(first, "order-held", 2); out != app.OutcomeReserved {
		t.Fatalf("first OrderPlaced = %q, want reserved", out)
	}
	if out := reserveMsg(first, "order-held", 2); out != app.OutcomeDuplicate {
		t.Fatalf("redelivered OrderPlaced = %q, want duplicate", out)
	}
	if n := len(payloads(eventsv1.KeyStockReserved, "order-held")); n != 1 {
		t.Fatalf("%d StockReserved after a redelivery, want 1", n)
	}
	if out := reserveMsg(testenv.ID(), "order-held", 2); out != app.OutcomeAnnounced {
		t.Fatalf("new OrderPlaced for a reserved order = %q, want announced", out)
	}
	held := payloads(eventsv1.KeyStockReserved, "order-held")
	if len(held) != 2 {
		t.Fatalf("%d StockReserved after a new message, want 2", len(held))
	}
	var resID string
	if err := pool.QueryRow(ctx, `SELECT id::text FROM reservations WHERE order_id = 'order-held'`).Scan(&resID); err != nil {
		t.Fatal(err)
	}
	for _, b := range held {
		var ev eventsv1.StockReserved
		if err := proto.Unmarshal(b, &ev); err != nil || ev.GetReservationId() != resID {
			t.Fatalf("StockReserved %v (%v), want reservation %s", &ev, err, resID)
		}
	}
	if a := available(t, s, p.ID, 0); a != 3 {
		t.Fatalf("available = %d after announcing again, want 3 (reserved once)", a)
	}

	if out := reserveMsg(testenv.ID(), "order-big", 10); out != app.OutcomeRejected {
		t.Fatalf("OrderPlaced beyond the stock = %q, want rejected", out)
	}
	if out := reserveMsg(testenv.ID(), "order-big", 10); out != app.OutcomeAnnounced {
		t.Fatalf("new OrderPlaced for a rejected order = %q, want announced", out)
	}
	rejected := payloads(eventsv1.KeyStockRejected, "order-big")
	if len(rejected) != 2 {
		t.Fatalf("%d StockRejected, want 2", len(rejected))
	}
	var rej eventsv1.StockRejected
	if err := proto.Unmarshal(rejected[1], &rej); err != nil || rej.GetReason() != domain.ReasonInsufficientStock || rej.GetVariantId() != vid {
		t.Fatalf("StockRejected announced again = %v (%v), want insufficient stock of %s", &rej, err, vid)
	}

	if released, err := stock.Release(ctx, app.InboxClaim{Consumer: "test-release", MessageID: testenv.ID()}, "order-held"); err != nil || !released {
		t.Fatalf("release = %v, %v", released, err)
	}
	if out := reserveMsg(testenv.ID(), "order-held", 2); out != app.OutcomeDuplicate {
		t.Fatalf("new OrderPlaced for a released order = %q, want duplicate (nothing announced)", out)
	}
	if n := len(payloads(eventsv1.KeyStockReserved, "order-held")); n != 2 {
		t.Fatalf("%d StockReserved after the release, want still 2", n)
	}
	if a := available(t, s, p.ID, 0); a != 5 {
		t.Fatalf("available = %d after the release, want 5", a)
	}
}
