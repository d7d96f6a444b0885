package postgres_test

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	pgstore "github.com/printfleet/printfleet/services/orders/internal/store/postgres"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

var worker = principal.Principal{Subject: principal.SubjectMarketplaceWorker, Roles: []string{principal.RoleService}}

func encodeID(o *domain.Order) ([]byte, error) { return []byte(o.ID()), nil }

func importService(store *pgstore.Store, f *testenv.Fixture) *app.Service {
	return app.NewService(app.Deps{Store: store, Catalog: f.Catalog, Pricing: f.Pricing, Log: testenv.Log()})
}

func importRequest(storeID, external string) app.ImportRequest {
	return app.ImportRequest{
		StoreID: storeID, OwnerID: "alice", Marketplace: "shopify", ExternalOrderID: external,
		Lines:   []app.ImportLine{{ExternalItemID: "li-1", SKU: "MUG-11-BLUE", Title: "Blue Mug 11oz", Quantity: 2}},
		Address: testAddress(), PaymentMethod: domain.PaymentMethodInvoice,
	}
}

// The unique index makes a direct create of a marketplace order that has its
// order ALREADY_EXISTS, naming the external id; the key's own replay still
// answers from the key, and orders without the pair are not constrained.
func TestUniqueExternalOrderPerStore(t *testing.T) {
	t.Parallel()
	pool, store := testenv.DB(t)
	f := testenv.NewFixture("alice")
	svc := importService(store, f)
	in := app.CreateOrderInput{Items: []app.RequestedItem{{VariantID: f.VariantA, Quantity: 1}}, Address: testAddress(),
		Currency: "USD", PaymentMethod: 1, StoreID: f.StoreOf("alice"), ExternalOrderID: "1001"}
	first, err := svc.CreateOrder(context.Background(), alice, "k1", []byte("h"), in, encodeID)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := svc.CreateOrder(context.Background(), alice, "k1", []byte("h"), in, encodeID); err != nil || string(again) != string(first) {
		t.Fatalf("replay: %q %v", again, err)
	}
	_, err = svc.CreateOrder(context.Background(), alice, "k2", []byte("h"), in, encodeID)
	if !errs.Is(err, errs.AlreadyExists) || !strings.Contains(err.Error(), `"1001"`) {
		t.Fatalf("second create of the pair: %v, want AlreadyExists naming 1001", err)
	}
	plain := in
	plain.StoreID, plain.ExternalOrderID = "", ""
	for _, k := range []string{"k3", "k4"} {
		if _, err := svc.CreateOrder(context.Background(), alice, k, []byte("h"), plain, encodeID); err != nil {
			t.Fatal(err)
		}
	}
	if n := testenv.Count(t, pool, "orders", ""); n != 3 {
		t.Fatalf("%d orders, want 3", n)
	}
}

// An import with an unmapped line is held with its request kept; the
// reconciler never selects it; once the line is mapped, a retry places it in
// one transaction with OrderPlaced, and two concurrent retries place it once.
func TestHeldOrderIsPlacedByOneRetry(t *testing.T) {
	t.Parallel()
	pool, store := testenv.DB(t)
	f := testenv.NewFixture("alice")
	svc := importService(store, f)
	storeID := f.StoreOf("alice")
	ctx := context.Background()
	res, err := svc.ImportOrder(ctx, worker, importRequest(storeID, "2001"), encodeID)
	if err != nil || res.Outcome != app.ImportHeld {
		t.Fatalf("import: %+v %v, want held", res, err)
	}
	want := `line 1 ("Blue Mug 11oz", sku "MUG-11-BLUE"): no listing of this store maps it; map it under /v1/stores/` + storeID + `/listings`
	got, err := store.GetOrder(ctx, res.Order.ID(), "alice")
	if err != nil || got.Status() != domain.StatusOnHold || got.HoldReason() != want || len(got.ImportRequest()) == 0 {
		t.Fatalf("held order: %+v %v", got, err)
	}
	if testenv.Count(t, pool, "order_events", "order_id = $1 AND type = $2", got.ID(), domain.EventHeld) != 1 ||
		testenv.Count(t, pool, "outbox", "") != 0 {
		t.Fatal("held order: want one order.held entry and no event")
	}
	if _, err := pool.Exec(ctx, `UPDATE orders SET updated_at = now() - interval '1 day'`); err != nil {
		t.Fatal(err)
	}
	stuck, err := store.StuckOrders(ctx, time.Now().Add(time.Hour), 100)
	if err != nil || len(stuck) != 0 {
		t.Fatalf("reconciler sees %v %v, want nothing", stuck, err)
	}

	// Still unmapped: refused with the reason, still held.
	if _, err := svc.RetryImport(ctx, alice, got.ID()); !errs.Is(err, errs.FailedPrecondition) || !strings.Contains(err.Error(), "no listing") {
		t.Fatalf("retry unmapped: %v", err)
	}
	f.Catalog.MapListing(storeID, "MUG-11-BLUE", app.Listing{VariantID: f.VariantA, DesignID: f.Designs["alice"], PlacementID: f.PlacementFront})
	const n = 5
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		placed, refused int
		other           []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.RetryImport(ctx, alice, got.ID())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				placed++
			case errs.Is(err, errs.FailedPrecondition):
				refused++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if placed != 1 || refused != n-1 || len(other) > 0 {
		t.Fatalf("%d placed, %d refused, %v", placed, refused, other)
	}
	o, err := store.GetOrder(ctx, got.ID(), "")
	if err != nil {
		t.Fatal(err)
	}
	items := o.Fields().Items
	if o.Status() != domain.StatusPending || o.HoldReason() != "" || len(items) != 1 || items[0].ExternalItemID != "li-1" ||
		items[0].Quantity != 2 || o.Total().Amount() != 2*(1500+300)+499 || len(o.ImportRequest()) != 0 {
		t.Fatalf("placed order: %+v", o.Fields())
	}
	if c := testenv.Count(t, pool, "outbox", "type = $1", eventsv1.KeyOrderPlaced); c != 1 {
		t.Fatalf("%d OrderPlaced, want 1", c)
	}
	if c := testenv.Count(t, pool, "order_events", "order_id = $1 AND type = $2", o.ID(), domain.EventImportRetried); c != 2 {
		t.Fatalf("%d import_retried entries, want 2 (one held, one placed)", c)
	}
	loaded, err := store.GetOrder(ctx, o.ID(), "")
	if err != nil || loaded.Version() != o.Version() {
		t.Fatalf("reload: %v %v", loaded, err)
	}
}

// Imports of one marketplace order racing (webhook copies and a poll, some
// resolving a line others cannot yet, so held and placed inserts race too)
// create exactly one order and at most one OrderPlaced.
func TestRacingImportsCreateOneOrder(t *testing.T) {
	t.Parallel()
	for _, mixed := range []bool{false, true} {
		pool, store := testenv.DB(t)
		mapped := testenv.NewFixture("alice")
		storeID := mapped.StoreOf("alice")
		mapped.Catalog.MapListing(storeID, "MUG-11-BLUE", app.Listing{VariantID: mapped.VariantB})
		unmapped := testenv.NewFixture("alice")
		unmapped.StoreOf("alice")
		services := []*app.Service{importService(store, mapped), importService(store, unmapped)}
		const n = 10
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			outcomes = map[app.ImportOutcome]int{}
			ids      = map[string]bool{}
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := services[0]
				if mixed && i%2 == 1 {
					svc = services[1]
				}
				res, err := svc.ImportOrder(context.Background(), worker, importRequest(storeID, "3001"), encodeID)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("import: %v", err)
					return
				}
				outcomes[res.Outcome]++
				ids[res.Order.ID()] = true
			}()
		}
		wg.Wait()
		if testenv.Count(t, pool, "orders", "") != 1 || len(ids) != 1 || outcomes[app.ImportDuplicate] != n-1 {
			t.Fatalf("mixed=%v: outcomes %v, ids %v", mixed, outcomes, ids)
		}
		placed := testenv.Count(t, pool, "outbox", "type = $1", eventsv1.KeyOrderPlaced)
		if placed != outcomes[app.ImportImported] || placed > 1 {
			t.Fatalf("mixed=%v: %d OrderPlaced for outcomes %v", mixed, placed, outcomes)
		}
	}
}

// Orders placed before the unique index may repeat a (store, external id)
// pair: the migration keeps them all unchanged, the oldest in the index and
// the later ones out of it, and creates the index.
func TestImportMigrationKeepsLegacyDuplicates(t *testing.T) {
	t.Parallel()
	pool, store := testenv.DB(t)
	ctx := context.Background()
	// Back to the schema before the migration.
	if _, err := pool.Exec(ctx, `DROP INDEX orders_store_external;
		ALTER TABLE orders DROP COLUMN external_unique, DROP COLUMN hold_reason, DROP COLUMN import_request`); err != nil {
		t.Fatal(err)
	}
	storeID := "6f1c0a52-8d7e-4c1b-9a43-2b7f1e0c9d11"
	var ids []string
	for i, pair := range [][2]string{{storeID, "1001"}, {storeID, "1001"}, {storeID, "1001"}, {storeID, "1002"}, {"", "1001"}, {"", "1001"}} {
		id := uuid.NewString()
		ids = append(ids, id)
		if _, err := pool.Exec(ctx, `
			INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, discount_minor, total_minor,
				payment_method, store_id, external_order_id, shipping_address, version, created_at, updated_at)
			VALUES ($1, 'alice', 1, 'USD', 0, 0, 0, 0, 1, $2, $3, '{}', 1, now() + $4 * interval '1 second', now())`,
			id, pair[0], pair[1], i); err != nil {
			t.Fatal(err)
		}
	}
	sql, err := fs.ReadFile(pgstore.Migrations, "0006_orders_import.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(sql)); err != nil {
		t.Fatalf("migration on legacy duplicates: %v", err)
	}
	if n := testenv.Count(t, pool, "orders", "NOT external_unique"); n != 2 {
		t.Fatalf("%d orders out of the index, want the 2 later duplicates", n)
	}
	if testenv.Count(t, pool, "orders", "external_order_id = '1001' AND store_id = $1", storeID) != 3 {
		t.Fatal("legacy duplicates were changed")
	}
	o, err := store.FindByExternal(ctx, storeID, "1001")
	if err != nil || o.ID() != ids[0] {
		t.Fatalf("FindByExternal: %v %v, want the oldest %s", o, err, ids[0])
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO orders (id, user_id, status, currency, subtotal_minor, shipping_minor, discount_minor, total_minor,
			payment_method, store_id, external_order_id, shipping_address, version, created_at, updated_at)
		VALUES ($1, 'alice', 1, 'USD', 0, 0, 0, 0, 1, $2, '1002', '{}', 1, now(), now())`, uuid.NewString(), storeID); err == nil {
		t.Fatal("a new duplicate was accepted after the migration")
	}
}
