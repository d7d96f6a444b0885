package postgres_test

import (
	"context"
	"slices"
	"testing"

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

func TestReservationReservesAndReleasesOnce(t *testing.T) {
	t.Parallel()
	pool, s := testenv.DB(t)
	p, q := testenv.Product(3), testenv.Product(10)
	insert(t, s, &p)
	insert(t, s, &q)
	items := []domain.OrderItem{{VariantID: p.Variants[0].ID, Quantity: 3}, {VariantID: p.Variants[1].ID, Quantity: 7}, {VariantID: q.Variants[0].ID, Quantity: 4}}
	resID := testenv.ID()
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		fresh, err := tx.StartReservation(ctx, "order-1", resID)
		if err != nil || !fresh {
			t.Fatalf("first start = %v, %v", fresh, err)
		}
		vars, err := tx.StockVariants(ctx, []string{p.Variants[0].ID, p.Variants[1].ID, q.Variants[0].ID, "junk", testenv.ID()})
		if err != nil {
			return err
		}
		want := map[string]app.StockVariant{
			p.Variants[0].ID: {ID: p.Variants[0].ID, ProductID: p.ID, Active: true, ProductActive: true, Tracked: true, Available: 3},
			p.Variants[1].ID: {ID: p.Variants[1].ID, ProductID: p.ID, Active: true, ProductActive: true},
			q.Variants[0].ID: {ID: q.Variants[0].ID, ProductID: q.ID, Active: true, ProductActive: true, Tracked: true, Available: 10},
		}
		if len(vars) != len(want) {
			t.Fatalf("stock variants = %+v, want %+v", vars, want)
		}
		for id, w := range want {
			if vars[id] != w {
				t.Fatalf("stock variant %s = %+v, want %+v", id, vars[id], w)
			}
		}
		short, zeroed, err := tx.Reserve(ctx, items, vars)
		if err != nil || short != "" || !slices.Equal(zeroed, []string{p.ID}) {
			t.Fatalf("reserve = short %q, zeroed %v, %v; want nothing short and %s at zero", short, zeroed, err, p.ID)
		}
		return tx.FinishReservation(ctx, "order-1", domain.ReservationReserved, "", items)
	})
	if a, b, c := available(t, s, p.ID, 0), available(t, s, p.ID, 1), available(t, s, q.ID, 0); a != 0 || b != 0 || c != 6 {
		t.Fatalf("available after reserving = %d, %d (untracked), %d; want 0, 0, 6", a, b, c)
	}
	if n := count(t, pool, `SELECT count(*) FROM reservations WHERE order_id = 'order-1' AND id = $1 AND status = $2`, resID, domain.ReservationReserved); n != 1 {
		t.Fatal("reservation not recorded as reserved under its id")
	}
	if n := count(t, pool, `SELECT coalesce(sum(quantity), 0)::int FROM reservation_items WHERE order_id = 'order-1'`); n != 14 {
		t.Fatalf("reserved items hold %d units, want 14", n)
	}
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		fresh, err := tx.StartReservation(ctx, "order-1", testenv.ID())
		if err != nil || fresh {
			t.Fatalf("second start of the same order = %v, %v; want not fresh", fresh, err)
		}
		return nil
	})

	release := func() (bool, []string) {
		var released bool
		var restocked []string
		inTx(t, s, func(ctx context.Context, tx app.Tx) (err error) {
			released, restocked, err = tx.Release(ctx, "order-1")
			return err
		})
		return released, restocked
	}
	if released, restocked := release(); !released || !slices.Equal(restocked, []string{p.ID}) {
		t.Fatalf("release = %v, restocked %v; want released and %s back from zero", released, restocked, p.ID)
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
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		if _, err := tx.StartReservation(ctx, "order-2", testenv.ID()); err != nil {
			return err
		}
		vars, err := tx.StockVariants(ctx, []string{a.Variants[0].ID, b.Variants[0].ID})
		if err != nil {
			return err
		}
		short, zeroed, err := tx.Reserve(ctx, items, vars)
		if err != nil || short != b.Variants[0].ID || zeroed != nil {
			t.Fatalf("reserve = short %q, zeroed %v, %v; want %s short", short, zeroed, err, b.Variants[0].ID)
		}
		// The transaction is still usable after the savepoint's rollback.
		return tx.FinishReservation(ctx, "order-2", domain.ReservationRejected, domain.ReasonInsufficientStock, nil)
	})
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
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		fresh, err := tx.StartReservation(ctx, "order-3", testenv.ID())
		if err != nil || fresh {
			t.Fatalf("start after the cancellation = %v, %v; want not fresh (a late order reserves nothing)", fresh, err)
		}
		return nil
	})
}
