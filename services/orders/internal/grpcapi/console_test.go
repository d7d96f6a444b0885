package grpcapi_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/cachefmt"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

func supportCtx(s *testenv.Server) context.Context {
	return s.As("sam", []string{principal.RoleSupport}, "")
}

func adminCtx(s *testenv.Server) context.Context {
	return s.As("ada", []string{principal.RoleAdmin}, "")
}

// Support reads every owner's order, list, timeline and packages as an
// admin does.
func TestSupportReadsEveryOrder(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	o := inProduction(t, s, f)
	for _, who := range []struct {
		name string
		ctx  context.Context
	}{{"support", supportCtx(s)}, {"admin", adminCtx(s)}} {
		t.Run(who.name, func(t *testing.T) {
			got, err := s.Client.GetOrder(who.ctx, &ordersv1.GetOrderRequest{OrderId: o.Id})
			if err != nil || got.GetId() != o.Id {
				t.Fatalf("GetOrder: %v", err)
			}
			list, err := s.Client.ListOrders(who.ctx, &ordersv1.ListOrdersRequest{UserId: "alice"})
			if err != nil || len(list.GetOrders()) != 1 || list.Orders[0].GetId() != o.Id {
				t.Fatalf("ListOrders of alice: %v %v", list, err)
			}
			evs, err := s.Client.ListOrderEvents(who.ctx, &ordersv1.ListOrderEventsRequest{OrderId: o.Id})
			if err != nil || len(evs.GetEvents()) < 3 {
				t.Fatalf("ListOrderEvents: %v %v", evs, err)
			}
			if _, err := s.Client.ListShipments(who.ctx, &ordersv1.ListShipmentsRequest{OrderId: o.Id}); err != nil {
				t.Fatalf("ListShipments: %v", err)
			}
		})
	}
	// A user who is neither reads none of it.
	mallory := s.User("mallory", "")
	if _, err := s.Client.GetOrder(mallory, &ordersv1.GetOrderRequest{OrderId: o.Id}); code(err) != codes.NotFound {
		t.Fatalf("stranger GetOrder: %v", err)
	}
	if _, err := s.Client.ListOrders(mallory, &ordersv1.ListOrdersRequest{UserId: "alice"}); code(err) != codes.NotFound {
		t.Fatalf("stranger ListOrders of alice: %v", err)
	}
	if _, err := s.Client.ListOrderEvents(mallory, &ordersv1.ListOrderEventsRequest{OrderId: o.Id}); code(err) != codes.NotFound {
		t.Fatalf("stranger ListOrderEvents: %v", err)
	}
	if _, err := s.Client.ListShipments(mallory, &ordersv1.ListShipmentsRequest{OrderId: o.Id}); code(err) != codes.NotFound {
		t.Fatalf("stranger ListShipments: %v", err)
	}
}

// Support changes nothing: every write refuses support as it refuses a user
// who does not own the order (NOT_FOUND), or as a role that may not make
// the call at all (drafts are the user's: PERMISSION_DENIED), and nothing
// changes.
func TestSupportWritesAsAStranger(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	o := inProduction(t, s, f)
	draft, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), draftRequest(f, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	placed, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	writes := map[string]func(ctx context.Context) error{
		"CancelOrder": func(ctx context.Context) error {
			_, err := s.Client.CancelOrder(ctx, &ordersv1.CancelOrderRequest{OrderId: placed.Id})
			return err
		},
		"UpdateOrder": func(ctx context.Context) error {
			_, err := s.Client.UpdateOrder(ctx, &ordersv1.UpdateOrderRequest{OrderId: draft.Id, CouponCode: proto.String("")})
			return err
		},
		"ConfirmOrder": func(ctx context.Context) error {
			_, err := s.Client.ConfirmOrder(ctx, &ordersv1.ConfirmOrderRequest{OrderId: draft.Id})
			return err
		},
		"CreateShipment": func(ctx context.Context) error {
			_, err := s.Client.CreateShipment(ctx, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "ups", TrackingNumber: "1Z1"})
			return err
		},
		"DeliverShipment": func(ctx context.Context) error {
			_, err := s.Client.DeliverShipment(ctx, &ordersv1.DeliverShipmentRequest{OrderId: o.Id, ShipmentId: uuid.NewString()})
			return err
		},
		"RetryImport": func(ctx context.Context) error {
			_, err := s.Client.RetryImport(ctx, &ordersv1.RetryImportRequest{OrderId: placed.Id})
			return err
		},
	}
	versions := func() map[string]int64 {
		out := map[string]int64{}
		for _, id := range []string{o.Id, draft.Id, placed.Id} {
			got, err := s.Client.GetOrder(adminCtx(s), &ordersv1.GetOrderRequest{OrderId: id})
			if err != nil {
				t.Fatal(err)
			}
			out[id] = got.Version
		}
		return out
	}
	before := versions()
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			stranger, support := code(write(s.User("mallory", ""))), code(write(supportCtx(s)))
			if stranger != codes.NotFound && stranger != codes.PermissionDenied {
				t.Fatalf("stranger: %s", stranger)
			}
			want := stranger
			if name == "UpdateOrder" || name == "ConfirmOrder" {
				want = codes.PermissionDenied
			}
			if support != want {
				t.Fatalf("support %s, stranger %s: want %s", support, stranger, want)
			}
		})
	}
	if after := versions(); len(after) != len(before) || after[o.Id] != before[o.Id] ||
		after[draft.Id] != before[draft.Id] || after[placed.Id] != before[placed.Id] {
		t.Fatalf("orders changed: %v → %v", before, after)
	}
}

// The console's RPCs answer admins and support only.
func TestConsoleRPCsNeedTheAdminOrSupportRole(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	store := f.StoreOf("alice")
	calls := map[string]func(ctx context.Context) error{
		"ListStuckOrders": func(ctx context.Context) error {
			_, err := s.Client.ListStuckOrders(ctx, &ordersv1.ListStuckOrdersRequest{})
			return err
		},
		"ListStoreActivity": func(ctx context.Context) error {
			_, err := s.Client.ListStoreActivity(ctx, &ordersv1.ListStoreActivityRequest{StoreIds: []string{store}})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				who  string
				ctx  context.Context
				want codes.Code
			}{
				{"admin", adminCtx(s), codes.OK},
				{"support", supportCtx(s), codes.OK},
				{"user", s.User("alice", ""), codes.PermissionDenied},
				{"fulfillment", s.As("fred", []string{principal.RoleFulfillment}, ""), codes.PermissionDenied},
				{"anonymous", s.As("", nil, ""), codes.Unauthenticated},
			} {
				if got := code(call(c.ctx)); got != c.want {
					t.Errorf("%s: %s, want %s", c.who, got, c.want)
				}
			}
		})
	}
}

// ListStuckOrders lists the reconciler's stuck orders oldest first, with
// their step, since when they wait and their re-drives; fresh and settled
// orders are not in it.
func TestListStuckOrders(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	s.Svc.StuckAfter = time.Minute
	ctx := context.Background()
	w := testenv.NewWorker(t, s.Store, nil)
	var ids []string
	for range 4 {
		o, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.Id)
	}
	pending, paid, fresh, delivered := ids[0], ids[1], ids[2], ids[3]
	if err := w.StockReserved(ctx, uuid.NewString(), paid); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.Pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE orders SET status = 6 WHERE id = $1`, delivered)
	exec(`UPDATE orders SET updated_at = now() - interval '2 hours' WHERE id = $1`, pending)
	exec(`UPDATE orders SET updated_at = now() - interval '1 hour' WHERE id = ANY($1)`, []string{paid, delivered})
	// The reconciler drove the PAID order again twice, the last time
	// moments ago: it is still stuck for the console.
	last := time.Now().UTC().Add(-10 * time.Second).Truncate(time.Microsecond)
	for _, at := range []time.Time{last.Add(-30 * time.Minute), last} {
		exec(`INSERT INTO order_events (id, order_id, type, message, attributes, created_at)
			VALUES ($1, $2, $3, 'stuck order driven again', '{"step": "print_files"}', $4)`,
			uuid.NewString(), paid, domain.EventRedriven, at)
	}
	exec(`UPDATE orders SET trace_parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' WHERE id = $1`, pending)

	res, err := s.Client.ListStuckOrders(supportCtx(s), &ordersv1.ListStuckOrdersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.StuckAfterSeconds != 60 {
		t.Errorf("stuck_after_seconds %d, want 60", res.StuckAfterSeconds)
	}
	if len(res.Orders) != 2 {
		t.Fatalf("%d stuck orders, want 2 (pending, paid): %v", len(res.Orders), res.Orders)
	}
	p, q := res.Orders[0], res.Orders[1]
	if p.Order.GetId() != pending || p.Step != string(app.StepPlace) || p.Redriven != 0 || p.LastRedrivenAt != nil {
		t.Errorf("first: %v, want the PENDING order at step place, never re-driven", p)
	}
	if p.Order.GetTraceId() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("stuck order's trace id %q", p.Order.GetTraceId())
	}
	if age := time.Since(p.WaitingSince.AsTime()); age < 119*time.Minute || age > 121*time.Minute {
		t.Errorf("pending waits since %s ago, want 2h", age)
	}
	if q.Order.GetId() != paid || q.Step != string(app.StepPrintFiles) || q.Redriven != 2 || !q.LastRedrivenAt.AsTime().Equal(last) {
		t.Errorf("second: %v, want the PAID order at print_files, re-driven twice, last at %s", q, last)
	}
	// page_size bounds the list.
	res, err = s.Client.ListStuckOrders(adminCtx(s), &ordersv1.ListStuckOrdersRequest{PageSize: 1})
	if err != nil || len(res.Orders) != 1 || res.Orders[0].Order.GetId() != pending {
		t.Fatalf("page of 1: %v %v", res, err)
	}
	_ = fresh
}

// ListStoreActivity: per store, in the order asked, the newest order, the
// newest push and its outcome, the newest failure's message, failures in
// the last 24 hours and orders on hold; a store the orders never saw is all
// zero.
func TestListStoreActivity(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "bob")
	s := testenv.Serve(t, f, testenv.Options{})
	ctx := context.Background()
	w := testenv.NewWorker(t, s.Store, nil)
	storeA, storeB, unknown := f.StoreOf("alice"), f.StoreOf("bob"), uuid.NewString()
	var a []string
	for range 3 {
		o, err := s.Client.CreateOrder(s.User("alice", uuid.NewString()), f.Request("alice"))
		if err != nil {
			t.Fatal(err)
		}
		a = append(a, o.Id)
	}
	b, err := s.Client.CreateOrder(s.User("bob", uuid.NewString()), f.Request("bob"))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.Pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	newest := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	exec(`UPDATE orders SET created_at = $2 WHERE id = $1`, a[2], newest)
	exec(`UPDATE orders SET created_at = $2::timestamptz - interval '1 day' WHERE id = ANY($1)`, a[:2], newest)
	exec(`UPDATE orders SET status = 10, hold_reason = 'line 1: unmapped' WHERE id = ANY($1)`, a[1:])
	push := func(order, store string, ok bool, msg string) {
		t.Helper()
		if err := w.MarketplacePushed(ctx, uuid.NewString(), app.MarketplacePush{
			OrderID: order, ShipmentID: uuid.NewString(), StoreID: store, Marketplace: "shopify",
			Succeeded: ok, Attempts: 1, Message: msg,
		}); err != nil {
			t.Fatal(err)
		}
	}
	at := func(order, typ string, when time.Time) {
		t.Helper()
		exec(`UPDATE order_events SET created_at = $3 WHERE order_id = $1 AND type = $2 AND created_at > now() - interval '1 minute'`, order, typ, when)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	// Store A: a failure two days ago (not counted), a success an hour
	// ago, then a failure 30 minutes ago (the newest push).
	push(a[0], storeA, false, "old")
	at(a[0], domain.EventMarketplaceFailed, now.Add(-48*time.Hour))
	push(a[0], storeA, true, "")
	at(a[0], domain.EventMarketplaceSucceeded, now.Add(-time.Hour))
	push(a[0], storeA, false, "HTTP 429")
	failedAt := now.Add(-30 * time.Minute)
	at(a[0], domain.EventMarketplaceFailed, failedAt)
	// Store B: one success, now.
	push(b.Id, storeB, true, "")

	res, err := s.Client.ListStoreActivity(supportCtx(s), &ordersv1.ListStoreActivityRequest{StoreIds: []string{storeB, unknown, storeA}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stores) != 3 || res.Stores[0].StoreId != storeB || res.Stores[1].StoreId != unknown || res.Stores[2].StoreId != storeA {
		t.Fatalf("stores %v, want B, unknown, A in that order", res.Stores)
	}
	sa, sb, su := res.Stores[2], res.Stores[0], res.Stores[1]
	if !sa.LastImportAt.AsTime().Equal(newest) {
		t.Errorf("A: last import %s, want %s", sa.LastImportAt.AsTime(), newest)
	}
	if sa.LastPushOk || !sa.LastPushAt.AsTime().Equal(failedAt) || !sa.LastPushFailedAt.AsTime().Equal(failedAt) ||
		!strings.Contains(sa.LastPushError, "HTTP 429") {
		t.Errorf("A: last push %v ok=%v, failed %v %q; want the failure at %s", sa.LastPushAt.AsTime(), sa.LastPushOk,
			sa.LastPushFailedAt.AsTime(), sa.LastPushError, failedAt)
	}
	if sa.PushFailures_24H != 1 || sa.OrdersOnHold != 2 {
		t.Errorf("A: %d failures in 24h, %d on hold; want 1 and 2", sa.PushFailures_24H, sa.OrdersOnHold)
	}
	if !sb.LastPushOk || sb.LastPushAt == nil || sb.LastPushFailedAt != nil || sb.LastPushError != "" ||
		sb.PushFailures_24H != 0 || sb.OrdersOnHold != 0 || sb.LastImportAt == nil {
		t.Errorf("B: %v, want one successful push, no failure", sb)
	}
	if su.LastImportAt != nil || su.LastPushAt != nil || su.LastPushOk || su.PushFailures_24H != 0 || su.OrdersOnHold != 0 {
		t.Errorf("unknown store: %v, want nothing", su)
	}
	if _, err := s.Client.ListStoreActivity(adminCtx(s), &ordersv1.ListStoreActivityRequest{StoreIds: []string{"x"}}); code(err) != codes.InvalidArgument {
		t.Errorf("a store id that is no UUID: %v", err)
	}
}

// The trace id of the request that placed an order is on every read,
// through the Redis cache and in the wire part the gateway serves; the
// mockup key PrintFilesReady named is on the item.
func TestOrderCarriesItsTraceIDAndMockups(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{Redis: rdb, RedisPrefix: prefix})
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	alice := principal.Principal{Subject: "alice", Roles: []string{principal.RoleUser}}
	var created *domain.Order
	_, err := s.Svc.CreateOrder(ctx, alice, uuid.NewString(), []byte("h"), app.CreateOrderInput{
		Items:    []app.RequestedItem{{VariantID: f.VariantA, Quantity: 1, DesignID: f.Designs["alice"], PlacementID: f.PlacementFront}},
		Address:  domain.AddressFields{Name: "Ada", Line1: "1 Main St", City: "Springfield", PostalCode: "12345", CountryCode: "US"},
		Currency: "USD", PaymentMethod: 1,
	}, func(o *domain.Order) ([]byte, error) { created = o; return []byte("x"), nil })
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(tid[:])
	if created.TraceID() != want {
		t.Fatalf("created order's trace id %q, want %q", created.TraceID(), want)
	}
	// The worker shares the API's cache, as the two processes share Redis.
	w := app.NewWorker(app.WorkerDeps{Store: s.Store, Cache: s.Cache, Payments: &testenv.Payments{},
		Inbox: eventsv1.QueueOrdersWorker, Log: testenv.Log()})
	if err := w.StockReserved(context.Background(), uuid.NewString(), created.ID()); err != nil {
		t.Fatal(err)
	}
	item := created.Items()[0].ID()
	if err := w.PrintFilesReady(context.Background(), uuid.NewString(), created.ID(),
		map[string]domain.PrintFile{item: {Key: "print-files/x.png", MockupKey: "mockups/x.png"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // a miss that fills the cache, then a hit
		got, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: created.ID()})
		if err != nil {
			t.Fatal(err)
		}
		if got.TraceId != want || got.Items[0].MockupKey != "mockups/x.png" || got.Items[0].PrintFileKey != "print-files/x.png" {
			t.Fatalf("read %d: trace %q, item %v", i, got.TraceId, got.Items[0])
		}
	}
	raw, err := rdb.Get(context.Background(), cachefmt.Key(prefix, created.ID())).Result()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := cachefmt.Decode(raw)
	if !ok || e.Wire == "" {
		t.Fatalf("cache entry %q", raw)
	}
	var wire ordersv1.Order
	if err := proto.Unmarshal([]byte(e.Wire), &wire); err != nil {
		t.Fatal(err)
	}
	if wire.TraceId != want || wire.Items[0].MockupKey != "mockups/x.png" {
		t.Fatalf("cached wire order: trace %q, item %v", wire.TraceId, wire.Items[0])
	}
	list, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{})
	if err != nil || len(list.Orders) != 1 || list.Orders[0].TraceId != want {
		t.Fatalf("ListOrders: %v %v", list, err)
	}
}
