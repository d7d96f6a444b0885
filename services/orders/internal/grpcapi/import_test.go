package grpcapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

func workerCtx(s *testenv.Server) context.Context {
	return s.As(principal.SubjectMarketplaceWorker, []string{principal.RoleService}, "")
}

func importReq(storeID, external string, lines ...*ordersv1.ImportLine) *ordersv1.ImportOrderRequest {
	if len(lines) == 0 {
		lines = []*ordersv1.ImportLine{{ExternalItemId: "li-1", Sku: "MUG-11-BLUE", Title: "Blue Mug 11oz", Quantity: 2}}
	}
	return &ordersv1.ImportOrderRequest{
		StoreId: storeID, OwnerId: "alice", Marketplace: "shopify", ExternalOrderId: external, Lines: lines,
		ShippingAddress: &ordersv1.ImportAddress{Name: "Ada Lovelace", Line1: "12 St James's Square", City: "London",
			PostalCode: "SW1Y 4JH", CountryCode: "GB"},
		PaymentMethod: ordersv1.PaymentMethod_PAYMENT_METHOD_INVOICE,
	}
}

func mustImport(t *testing.T, s *testenv.Server, req *ordersv1.ImportOrderRequest, want ordersv1.ImportOutcome) *ordersv1.Order {
	t.Helper()
	res, err := s.Client.ImportOrder(workerCtx(s), req)
	if err != nil || res.Outcome != want {
		t.Fatalf("import %s: %v %v, want %v", req.ExternalOrderId, res.GetOutcome(), err, want)
	}
	return res.Order
}

func TestImportOrderPlacesHoldsAndDeduplicates(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	ctx := context.Background()
	storeID := f.StoreOf("alice")
	f.Catalog.MapListing(storeID, "MUG-11-BLUE", app.Listing{VariantID: f.VariantA, DesignID: f.Designs["alice"], PlacementID: f.PlacementFront})
	f.Catalog.MapListing(storeID, "MUG-PENDING", app.Listing{VariantID: f.VariantA, DesignID: f.PendingDesign, PlacementID: f.PlacementFront})

	o := mustImport(t, s, importReq(storeID, "1001"), ordersv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED)
	if o.Status != ordersv1.OrderStatus_ORDER_STATUS_PENDING || o.UserId != "alice" || o.Currency != "USD" ||
		len(o.Items) != 1 || o.Items[0].ExternalItemId != "li-1" || o.Items[0].DesignId != f.Designs["alice"] ||
		o.StoreId != storeID || o.ExternalOrderId != "1001" || o.Total.AmountMinor != 2*(1500+300)+499 {
		t.Fatalf("imported order %v", o)
	}
	var placed []byte
	if err := s.Pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE type = $1`, eventsv1.KeyOrderPlaced).Scan(&placed); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(placed), storeID) || !strings.Contains(string(placed), "li-1") {
		t.Fatal("OrderPlaced lacks the store or the external item id")
	}
	if testenv.Count(t, s.Pool, "order_events", "order_id = $1 AND type = $2", o.Id, domain.EventImported) != 1 {
		t.Fatal("no order.imported entry")
	}
	// A currency pricing does not know falls back to the store's default.
	xyz := importReq(storeID, "1002")
	xyz.Currency = "XYZ"
	if o := mustImport(t, s, xyz, ordersv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED); o.Currency != "USD" {
		t.Fatalf("unsupported currency: order in %s, want USD", o.Currency)
	}
	if again := mustImport(t, s, importReq(storeID, "1001"), ordersv1.ImportOutcome_IMPORT_OUTCOME_DUPLICATE); again.Id != o.Id {
		t.Fatalf("duplicate answered %s, want %s", again.Id, o.Id)
	}
	// A direct create of the same marketplace order is refused.
	req := f.Request("alice")
	req.ExternalOrderId = "1001"
	if _, err := s.Client.CreateOrder(s.User("alice", "direct-1001"), req); status.Code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), "1001") {
		t.Fatalf("direct create of an imported order: %v, want ALREADY_EXISTS naming 1001", err)
	}

	held := map[string]string{
		"2001": `line 2 ("Green Mug", sku "MUG-GREEN"): no listing of this store maps it; map it under /v1/stores/` + storeID + `/listings`,
		"2002": "shipping_address.country_code",
		"2003": `line 1 ("Pending Mug", sku "MUG-PENDING"): design is not ready`,
	}
	unknown := importReq(storeID, "2001",
		&ordersv1.ImportLine{ExternalItemId: "li-1", Sku: "MUG-11-BLUE", Quantity: 1},
		&ordersv1.ImportLine{ExternalItemId: "li-2", Sku: "MUG-GREEN", Title: "Green Mug", Quantity: 1})
	badAddress := importReq(storeID, "2002")
	badAddress.ShippingAddress.CountryCode = "United Kingdom"
	notReady := importReq(storeID, "2003", &ordersv1.ImportLine{ExternalItemId: "li-1", Sku: "MUG-PENDING", Title: "Pending Mug", Quantity: 1})
	for _, r := range []*ordersv1.ImportOrderRequest{unknown, badAddress, notReady} {
		h := mustImport(t, s, r, ordersv1.ImportOutcome_IMPORT_OUTCOME_HELD)
		if h.Status != ordersv1.OrderStatus_ORDER_STATUS_ON_HOLD || !strings.Contains(h.HoldReason, held[r.ExternalOrderId]) || len(h.Items) != 0 {
			t.Fatalf("held %s: %v %q", r.ExternalOrderId, h.Status, h.HoldReason)
		}
		got, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: h.Id})
		if err != nil || got.Status != ordersv1.OrderStatus_ORDER_STATUS_ON_HOLD || got.HoldReason != h.HoldReason {
			t.Fatalf("GetOrder of a held order: %v %v", got, err)
		}
		if again := mustImport(t, s, r, ordersv1.ImportOutcome_IMPORT_OUTCOME_DUPLICATE); again.Id != h.Id {
			t.Fatal("a held order imported again is another order")
		}
	}
	list, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{Status: ordersv1.OrderStatus_ORDER_STATUS_ON_HOLD})
	if err != nil || len(list.Orders) != 3 {
		t.Fatalf("ON_HOLD list: %v %v", list, err)
	}
	for _, o := range list.Orders {
		if o.HoldReason == "" {
			t.Fatalf("listed held order without a reason: %v", o)
		}
	}
	if c := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderPlaced); c != 2 {
		t.Fatalf("%d OrderPlaced, want 2 (held orders announce nothing)", c)
	}
}

func TestParallelImportsCreateOneOrder(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	storeID := f.StoreOf("alice")
	f.Catalog.MapListing(storeID, "MUG-11-BLUE", app.Listing{VariantID: f.VariantB})
	const n = 10
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes = map[ordersv1.ImportOutcome]int{}
		ids      = map[string]bool{}
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := s.Client.ImportOrder(workerCtx(s), importReq(storeID, "4001"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("import: %v", err)
				return
			}
			outcomes[res.Outcome]++
			ids[res.Order.Id] = true
		}()
	}
	close(start)
	wg.Wait()
	if len(ids) != 1 || outcomes[ordersv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED] != 1 || outcomes[ordersv1.ImportOutcome_IMPORT_OUTCOME_DUPLICATE] != n-1 {
		t.Fatalf("outcomes %v, ids %v", outcomes, ids)
	}
	if testenv.Count(t, s.Pool, "orders", "") != 1 || testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderPlaced) != 1 {
		t.Fatal("want one order and one OrderPlaced")
	}
}

func TestMarketplaceCancellation(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	ctx := context.Background()
	storeID := f.StoreOf("alice")
	f.Catalog.MapListing(storeID, "MUG-11-BLUE", app.Listing{VariantID: f.VariantB})
	cancel := func(external string) *ordersv1.ImportOrderRequest {
		r := importReq(storeID, external)
		// A marketplace zeroes a cancelled order's quantities: no lines.
		r.Lines, r.Cancelled, r.CancelReason = nil, true, "customer changed their mind"
		return r
	}
	if _, err := s.Client.ImportOrder(workerCtx(s), &ordersv1.ImportOrderRequest{StoreId: storeID, OwnerId: "alice",
		Marketplace: "shopify", ExternalOrderId: "4999", PaymentMethod: ordersv1.PaymentMethod_PAYMENT_METHOD_CARD}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an import without lines that is not cancelled: %v, want InvalidArgument", err)
	}

	// Never imported: nothing to do, no order.
	res, err := s.Client.ImportOrder(workerCtx(s), cancel("5000"))
	if err != nil || res.Outcome != ordersv1.ImportOutcome_IMPORT_OUTCOME_IGNORED || res.Order != nil {
		t.Fatalf("cancel of an unknown order: %v %v", res, err)
	}
	// Before production: cancelled like CancelOrder, once.
	o := mustImport(t, s, importReq(storeID, "5001"), ordersv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED)
	c := mustImport(t, s, cancel("5001"), ordersv1.ImportOutcome_IMPORT_OUTCOME_CANCELLED)
	if c.Id != o.Id || c.Status != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Fatalf("cancelled %v", c)
	}
	mustImport(t, s, cancel("5001"), ordersv1.ImportOutcome_IMPORT_OUTCOME_DUPLICATE)
	if testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderCancelled) != 1 ||
		testenv.Count(t, s.Pool, "order_events", "order_id = $1 AND type = $2", o.Id, domain.EventCancelledByMarketplace) != 1 {
		t.Fatal("want one OrderCancelled and one order.cancelled_by_marketplace")
	}
	// In production: the marketplace's cancellation is noted and ignored.
	p := mustImport(t, s, importReq(storeID, "5002"), ordersv1.ImportOutcome_IMPORT_OUTCOME_IMPORTED)
	if _, err := s.Store.UpdateOrder(ctx, p.Id, app.UpdateOptions{}, func(o *domain.Order) (app.Change, error) {
		now := app.Now()
		if err := o.Confirm(now); err != nil {
			return app.Change{}, err
		}
		if err := o.MarkPaid("pi_1", now); err != nil {
			return app.Change{}, err
		}
		return app.Change{}, o.StartProduction(nil, now)
	}); err != nil {
		t.Fatal(err)
	}
	ig := mustImport(t, s, cancel("5002"), ordersv1.ImportOutcome_IMPORT_OUTCOME_IGNORED)
	if ig.Status != ordersv1.OrderStatus_ORDER_STATUS_IN_PRODUCTION ||
		testenv.Count(t, s.Pool, "order_events", "order_id = $1 AND type = $2", p.Id, domain.EventMarketplaceCancelIgnored) != 1 {
		t.Fatalf("in production: %v", ig.Status)
	}
	// A held order is cancelled too, with nothing to release.
	h := mustImport(t, s, importReq(storeID, "5003", &ordersv1.ImportLine{Sku: "NOPE", Quantity: 1}), ordersv1.ImportOutcome_IMPORT_OUTCOME_HELD)
	r := cancel("5003")
	if hc := mustImport(t, s, r, ordersv1.ImportOutcome_IMPORT_OUTCOME_CANCELLED); hc.Id != h.Id || hc.Status != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Fatalf("held order cancelled: %v", hc)
	}
	if testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderCancelled) != 1 {
		t.Fatal("a held order's cancellation released stock it never reserved")
	}
}

func TestRetryImport(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	storeID := f.StoreOf("alice")
	h := mustImport(t, s, importReq(storeID, "6001"), ordersv1.ImportOutcome_IMPORT_OUTCOME_HELD)
	retry := func(ctx context.Context, id string) (*ordersv1.Order, error) {
		return s.Client.RetryImport(ctx, &ordersv1.RetryImportRequest{OrderId: id})
	}
	// Someone else's held order does not exist for them.
	if _, err := retry(s.User("bob", ""), h.Id); status.Code(err) != codes.NotFound {
		t.Fatalf("bob retries alice's order: %v, want NOT_FOUND", err)
	}
	// Still unmapped: 409 FAILED_PRECONDITION with the reason, still held.
	_, err := retry(s.User("alice", ""), h.Id)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "no listing of this store maps it") {
		t.Fatalf("retry unmapped: %v", err)
	}
	f.Catalog.MapListing(storeID, "MUG-11-BLUE", app.Listing{VariantID: f.VariantA, DesignID: f.Designs["alice"], PlacementID: f.PlacementFront})
	o, err := retry(s.User("alice", ""), h.Id)
	if err != nil || o.Status != ordersv1.OrderStatus_ORDER_STATUS_PENDING || o.HoldReason != "" || len(o.Items) != 1 ||
		o.Items[0].ExternalItemId != "li-1" || o.Total.AmountMinor != 2*(1500+300)+499 {
		t.Fatalf("retry mapped: %v %v", o, err)
	}
	if _, err := retry(s.User("alice", ""), h.Id); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "order is not on hold") {
		t.Fatalf("retry of a placed order: %v", err)
	}
	if testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderPlaced) != 1 {
		t.Fatal("want one OrderPlaced")
	}
	// An admin may retry anyone's held order.
	h2 := mustImport(t, s, importReq(storeID, "6002", &ordersv1.ImportLine{Sku: "LATER", Quantity: 1}), ordersv1.ImportOutcome_IMPORT_OUTCOME_HELD)
	f.Catalog.MapListing(storeID, "LATER", app.Listing{VariantID: f.VariantB})
	if o, err := retry(s.As("root", []string{principal.RoleAdmin}, ""), h2.Id); err != nil || o.Status != ordersv1.OrderStatus_ORDER_STATUS_PENDING {
		t.Fatalf("admin retry: %v %v", o, err)
	}
	// The owner may cancel a held order instead; it is not on hold then.
	h3 := mustImport(t, s, importReq(storeID, "6003", &ordersv1.ImportLine{Sku: "NEVER", Quantity: 1}), ordersv1.ImportOutcome_IMPORT_OUTCOME_HELD)
	c, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: h3.Id})
	if err != nil || c.Status != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Fatalf("owner cancels a held order: %v %v", c, err)
	}
	if _, err := retry(s.User("alice", ""), h3.Id); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("retry of a cancelled held order: %v", err)
	}
	if testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderCancelled) != 0 {
		t.Fatal("a held order's cancellation announced OrderCancelled")
	}
}

func TestImportOrderIsTheMarketplaceWorkersAlone(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	req := importReq(f.StoreOf("alice"), "7001")
	for name, ctx := range map[string]context.Context{
		"user":             s.User("alice", ""),
		"admin":            s.As("root", []string{principal.RoleAdmin}, ""),
		"another service":  s.As(principal.SubjectGateway, []string{principal.RoleService}, ""),
		"worker, not role": s.As(principal.SubjectMarketplaceWorker, []string{principal.RoleUser}, ""),
	} {
		if _, err := s.Client.ImportOrder(ctx, req); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: %v, want PERMISSION_DENIED", name, err)
		}
	}
	if testenv.Count(t, s.Pool, "orders", "") != 0 || f.Catalog.ResolveCalls.Load() != 0 {
		t.Fatal("a refused import did something")
	}
}

// Holds, retries and marketplace cancellations go through the order cache
// like every other change: a read after each sees it.
func TestImportChangesInvalidateTheCache(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs Redis")
	}
	f := testenv.NewFixture("alice")
	rdb, prefix := testenv.Redis(t)
	s := testenv.Serve(t, f, testenv.Options{Redis: rdb, RedisPrefix: prefix})
	storeID := f.StoreOf("alice")
	get := func(id string) *ordersv1.Order {
		t.Helper()
		o, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: id})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	h := mustImport(t, s, importReq(storeID, "8001"), ordersv1.ImportOutcome_IMPORT_OUTCOME_HELD)
	if o := get(h.Id); o.Status != ordersv1.OrderStatus_ORDER_STATUS_ON_HOLD || o.HoldReason == "" {
		t.Fatalf("cached held order %v", o)
	}
	f.Catalog.MapListing(storeID, "MUG-11-BLUE", app.Listing{VariantID: f.VariantB})
	if _, err := s.Client.RetryImport(s.User("alice", ""), &ordersv1.RetryImportRequest{OrderId: h.Id}); err != nil {
		t.Fatal(err)
	}
	if o := get(h.Id); o.Status != ordersv1.OrderStatus_ORDER_STATUS_PENDING || len(o.Items) != 1 || o.HoldReason != "" {
		t.Fatalf("after the retry the cache answers %v", o)
	}
	r := importReq(storeID, "8001")
	r.Cancelled = true
	mustImport(t, s, r, ordersv1.ImportOutcome_IMPORT_OUTCOME_CANCELLED)
	if o := get(h.Id); o.Status != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Fatalf("after the marketplace cancelled the cache answers %v", o.Status)
	}
}
