package postgres_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

type orderT = domain.Order

var alice = principal.Principal{Subject: "alice", Roles: []string{principal.RoleUser}}

func testAddress() domain.AddressFields {
	return domain.AddressFields{Name: "Ada", Line1: "1 Main St", City: "Springfield", PostalCode: "12345", CountryCode: "US"}
}

func newOrder(t *testing.T, store app.Store) *domain.Order {
	t.Helper()
	f := testenv.NewFixture("alice")
	svc := app.NewService(app.Deps{Store: store, Catalog: f.Catalog, Pricing: f.Pricing, Log: testenv.Log()})
	var placed *domain.Order
	_, err := svc.CreateOrder(context.Background(), alice, uuid.NewString(), []byte("h"), app.CreateOrderInput{
		Items: []app.RequestedItem{{VariantID: f.VariantA, Quantity: 3}}, Address: testAddress(), Currency: "USD", PaymentMethod: 1,
	}, func(o *domain.Order) ([]byte, error) { placed = o; return []byte("x"), nil })
	if err != nil {
		t.Fatal(err)
	}
	return placed
}

func TestConcurrentTransitionsAreCompareAndSet(t *testing.T) {
	t.Parallel()
	pool, store := testenv.DB(t)
	o := newOrder(t, store)
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		won      int
		refused  int
		unwanted []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := store.UpdateOrder(context.Background(), o.ID(), app.UpdateOptions{OwnerID: "alice"}, func(o *domain.Order) (app.Change, error) {
				from := o.Status()
				if err := o.Cancel("race", app.Now()); err != nil {
					return app.Change{}, err
				}
				return app.Change{Timeline: []domain.TimelineEntry{{ID: uuid.NewString(), OrderID: o.ID(), Type: domain.EventCancelled, From: from, To: o.Status(), CreatedAt: app.Now()}}}, nil
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errs.Is(err, errs.FailedPrecondition):
				refused++
			default:
				unwanted = append(unwanted, err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || refused != n-1 || len(unwanted) > 0 {
		t.Fatalf("%d won, %d refused, errors %v; want exactly one cancellation", won, refused, unwanted)
	}
	got, err := store.GetOrder(context.Background(), o.ID(), "")
	if err != nil || got.Version() != 2 || got.Status() != domain.StatusCancelled {
		t.Fatalf("order after the race: %v %v", got, err)
	}
	if c := testenv.Count(t, pool, "order_events", "type = $1", domain.EventCancelled); c != 1 {
		t.Fatalf("%d cancellation entries, want 1", c)
	}
}

func TestInboxClaimMakesAnUpdateOnce(t *testing.T) {
	t.Parallel()
	pool, store := testenv.DB(t)
	o := newOrder(t, store)
	claim := &app.InboxClaim{Consumer: "c", MessageID: uuid.NewString()}
	calls := 0
	fn := func(o *domain.Order) (app.Change, error) {
		calls++
		return app.Change{}, o.Confirm(app.Now())
	}
	if _, err := store.UpdateOrder(context.Background(), o.ID(), app.UpdateOptions{Inbox: claim}, fn); err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpdateOrder(context.Background(), o.ID(), app.UpdateOptions{Inbox: claim}, fn); !errors.Is(err, app.ErrAlreadyProcessed) {
		t.Fatalf("second claim: %v, want ErrAlreadyProcessed", err)
	}
	if calls != 1 || testenv.Count(t, pool, "processed_messages", "") != 1 {
		t.Fatalf("fn ran %d times", calls)
	}
	// A failing fn rolls back its claim too, so a retry runs it again.
	claim2 := &app.InboxClaim{Consumer: "c", MessageID: uuid.NewString()}
	_, err := store.UpdateOrder(context.Background(), o.ID(), app.UpdateOptions{Inbox: claim2}, fn) // CONFIRMED → refused
	if !errs.Is(err, errs.FailedPrecondition) || testenv.Count(t, pool, "processed_messages", "") != 1 {
		t.Fatalf("failed update kept its claim: %v", err)
	}
}

func TestGetOrderFiltersByOwnerInSQL(t *testing.T) {
	t.Parallel()
	_, store := testenv.DB(t)
	o := newOrder(t, store)
	if _, err := store.GetOrder(context.Background(), o.ID(), "mallory"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("other owner: %v, want NotFound", err)
	}
	got, err := store.GetOrder(context.Background(), o.ID(), "alice")
	if err != nil || got.Fields().Items[0].Quantity != 3 || got.Total().Amount() != 3*1500+499 {
		t.Fatalf("owner: %v %v", got, err)
	}
}

// A repeated create replays the stored response; another body with the same
// key is IdempotencyMismatch; neither writes anything.
func TestCreateOrderWithATakenKeyAnswersFromTheKey(t *testing.T) {
	t.Parallel()
	pool, store := testenv.DB(t)
	f := testenv.NewFixture("alice")
	svc := app.NewService(app.Deps{Store: store, Catalog: f.Catalog, Pricing: f.Pricing, Log: testenv.Log()})
	in := app.CreateOrderInput{Items: []app.RequestedItem{{VariantID: f.VariantA, Quantity: 1}}, Address: testAddress(), Currency: "USD", PaymentMethod: 1}
	encode := func(o *orderT) ([]byte, error) { return []byte(o.ID()), nil }
	first, err := svc.CreateOrder(context.Background(), alice, "key", []byte("h"), in, encode)
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.CreateOrder(context.Background(), alice, "key", []byte("h"), in, encode)
	if err != nil || string(again) != string(first) {
		t.Fatalf("replay: %q %v, want %q", again, err, first)
	}
	if _, err := svc.CreateOrder(context.Background(), alice, "key", []byte("other"), in, encode); !errs.Is(err, errs.IdempotencyMismatch) {
		t.Fatalf("other body: %v, want IdempotencyMismatch", err)
	}
	// An expired key that was not swept yet is taken again.
	if _, err := pool.Exec(context.Background(), `UPDATE idempotency_keys SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	third, err := svc.CreateOrder(context.Background(), alice, "key", []byte("h"), in, encode)
	if err != nil || string(third) == string(first) {
		t.Fatalf("after expiry: %q %v, want a new order", third, err)
	}
	if n := testenv.Count(t, pool, "orders", ""); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}

// The create primes the cache with the order it built in memory: that must be
// exactly what a read from the database gives, or the first read of a new
// order would differ from the later ones.
func TestCreatedOrderIsWhatTheDatabaseReturns(t *testing.T) {
	t.Parallel()
	_, store := testenv.DB(t)
	placed := newOrder(t, store)
	loaded, err := store.GetOrder(context.Background(), placed.ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := loaded.Fields(), placed.Fields(); !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded order differs from the created one:\n got %+v\nwant %+v", got, want)
	}
}
