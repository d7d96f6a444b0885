package grpcapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

var det = proto.MarshalOptions{Deterministic: true}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := det.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCreateOrderIdempotencyUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	req := f.Request("alice")
	const n = 50
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		bodies  [][]byte
		aborted int
		other   []error
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			o, err := s.Client.CreateOrder(s.User("alice", "key-1"), req)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				bodies = append(bodies, mustMarshal(t, o))
			case status.Code(err) == codes.Aborted:
				aborted++
			default:
				other = append(other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("unexpected errors: %v", other)
	}
	t.Logf("%d answers, %d ABORTED", len(bodies), aborted)
	if len(bodies) == 0 || len(bodies)+aborted != n {
		t.Fatalf("%d answers + %d ABORTED, want %d in all and at least one order", len(bodies), aborted, n)
	}
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatal("replayed response differs from the first")
		}
	}
	// A retry after the first completed replays it byte for byte.
	again, err := s.Client.CreateOrder(s.User("alice", "key-1"), req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustMarshal(t, again), bodies[0]) {
		t.Fatal("late retry is not a byte-identical replay")
	}
	if got := testenv.Count(t, s.Pool, "orders", ""); got != 1 {
		t.Fatalf("%d orders, want 1", got)
	}
	if got := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderPlaced); got != 1 {
		t.Fatalf("%d OrderPlaced events, want 1", got)
	}
	// A repeat answered while the first was in flight (ABORTED) asked
	// nothing; a repeat that came after it (and the late retry) priced the
	// order again and lost on the key, which the create's own transaction
	// takes: one pricing call per answer.
	if got := f.Pricing.Calls.Load(); got != int64(len(bodies)+1) {
		t.Fatalf("pricing asked %d times, want %d (one per answer)", got, len(bodies)+1)
	}

	// Same key, another body: IdempotencyMismatch (FAILED_PRECONDITION with
	// the ErrorInfo reason the gateway maps to 422).
	other2 := proto.Clone(req).(*ordersv1.CreateOrderRequest)
	other2.Items[1].Quantity = 3
	_, err = s.Client.CreateOrder(s.User("alice", "key-1"), other2)
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || !hasReason(st, errs.ReasonIdempotencyMismatch) {
		t.Fatalf("same key, other body: %v, want FAILED_PRECONDITION with reason %s", err, errs.ReasonIdempotencyMismatch)
	}
	// The key is per user: bob may use the same one.
	bobReq := proto.Clone(req).(*ordersv1.CreateOrderRequest)
	bobReq.Items = bobReq.Items[1:]
	bobReq.StoreId = f.StoreOf("bob")
	if _, err := s.Client.CreateOrder(s.User("bob", "key-1"), bobReq); err != nil {
		t.Fatalf("bob with alice's key: %v", err)
	}
	// No key: INVALID_ARGUMENT.
	_, err = s.Client.CreateOrder(s.User("alice", ""), req)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "idempotency-key") {
		t.Fatalf("missing key: %v, want INVALID_ARGUMENT naming idempotency-key", err)
	}
}

func hasReason(st *status.Status, reason string) bool {
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.Reason == reason {
			return true
		}
	}
	return false
}

func TestIdempotencyKeyExpiresAndIsSwept(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	if _, err := s.Client.CreateOrder(s.User("alice", "old-key"), f.Request("alice")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, `UPDATE idempotency_keys SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	n, err := s.Store.SweepIdempotencyKeys(ctx)
	if err != nil || n != 1 {
		t.Fatalf("swept %d (%v), want 1", n, err)
	}
	// After expiry the key places a new order.
	if _, err := s.Client.CreateOrder(s.User("alice", "old-key"), f.Request("alice")); err != nil {
		t.Fatal(err)
	}
	if got := testenv.Count(t, s.Pool, "orders", ""); got != 2 {
		t.Fatalf("%d orders, want 2", got)
	}
}

func TestTotalsComeFromTheQuote(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	req := f.Request("alice")
	req.CouponCode = "TENOFF"
	// The request has no total field at all; whatever a client thinks the
	// total is, only the quote counts. Unknown fields are dropped too.
	req.ProtoReflect().SetUnknown([]byte{0xf8, 0x3f, 0x01}) // field 1023 varint 1
	o, err := s.Client.CreateOrder(s.User("alice", "k"), req)
	if err != nil {
		t.Fatal(err)
	}
	// 2 × (1500+300) + 1 × 1500 = 5100; 10% off = 510; shipping 499.
	want := int64(5100 + 499 - 510)
	if o.GetTotal().GetAmountMinor() != want || o.GetSubtotal().GetAmountMinor() != 5100 || o.GetDiscount().GetAmountMinor() != 510 {
		t.Fatalf("totals %v/%v/%v, want subtotal 5100 discount 510 total %d", o.GetSubtotal(), o.GetDiscount(), o.GetTotal(), want)
	}
	var stored int64
	if err := s.Pool.QueryRow(context.Background(), `SELECT total_minor FROM orders WHERE id = $1`, o.GetId()).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != want {
		t.Fatalf("stored total %d, want the quote's %d", stored, want)
	}
	if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING || o.GetItems()[0].GetUnitPrice().GetAmountMinor() != 1800 {
		t.Fatalf("order %v", o)
	}
}

func TestOtherUsersSeeNotFound(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "mallory")
	rdb, prefix := testenv.Redis(t)
	s := testenv.Serve(t, f, testenv.Options{Redis: rdb, RedisPrefix: prefix})
	o, err := s.Client.CreateOrder(s.User("alice", "k"), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	// Warm the cache as the owner, so the check must hold on a cache hit too.
	if _, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id}); err != nil {
		t.Fatal(err)
	}
	m := s.User("mallory", "")
	calls := map[string]func() error{
		"get": func() error {
			_, err := s.Client.GetOrder(m, &ordersv1.GetOrderRequest{OrderId: o.Id})
			return err
		},
		"list": func() error {
			_, err := s.Client.ListOrders(m, &ordersv1.ListOrdersRequest{UserId: "alice"})
			return err
		},
		"cancel": func() error {
			_, err := s.Client.CancelOrder(m, &ordersv1.CancelOrderRequest{OrderId: o.Id})
			return err
		},
		"events": func() error {
			_, err := s.Client.ListOrderEvents(m, &ordersv1.ListOrderEventsRequest{OrderId: o.Id})
			return err
		},
		"ship": func() error {
			_, err := s.Client.CreateShipment(m, &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "ups", TrackingNumber: "1Z999"})
			return err
		},
		"missing": func() error {
			_, err := s.Client.GetOrder(m, &ordersv1.GetOrderRequest{OrderId: uuid.NewString()})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); status.Code(err) != codes.NotFound {
			t.Errorf("%s as another user: %v, want NOT_FOUND", name, err)
		}
	}
	// Mallory's own list is empty, not alice's.
	res, err := s.Client.ListOrders(m, &ordersv1.ListOrdersRequest{})
	if err != nil || len(res.Orders) != 0 {
		t.Fatalf("mallory's list: %v %v", res, err)
	}
	// The order is untouched and the owner and an admin see it.
	for _, ctx := range []context.Context{s.User("alice", ""), s.As("root", []string{principal.RoleAdmin}, "")} {
		got, err := s.Client.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: o.Id})
		if err != nil || got.Status != ordersv1.OrderStatus_ORDER_STATUS_PENDING {
			t.Fatalf("owner/admin get: %v %v", got, err)
		}
	}
	adminList, err := s.Client.ListOrders(s.As("root", []string{principal.RoleAdmin}, ""), &ordersv1.ListOrdersRequest{UserId: "alice"})
	if err != nil || len(adminList.Orders) != 1 {
		t.Fatalf("admin list of alice: %v %v", adminList, err)
	}
	// The owner without the fulfillment role may not ship.
	_, err = s.Client.CreateShipment(s.User("alice", ""), &ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "ups", TrackingNumber: "1Z999"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("owner ships: %v, want PERMISSION_DENIED", err)
	}
}

func TestBadInputIsRefusedWithFieldsAndWritesNothing(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	many := f.Request("alice")
	many.Items = nil
	for range 10_000 {
		many.Items = append(many.Items, &ordersv1.CreateOrderItem{VariantId: f.VariantB, Quantity: 1})
	}
	cases := []struct {
		name  string
		edit  func(r *ordersv1.CreateOrderRequest)
		field string
	}{
		{"zero quantity", func(r *ordersv1.CreateOrderRequest) { r.Items[1].Quantity = 0 }, "items[1].quantity"},
		{"negative quantity", func(r *ordersv1.CreateOrderRequest) { r.Items[0].Quantity = -3 }, "items[0].quantity"},
		{"huge quantity", func(r *ordersv1.CreateOrderRequest) { r.Items[0].Quantity = 1_000_000 }, "items[0].quantity"},
		{"10,000 items", func(r *ordersv1.CreateOrderRequest) { r.Items = many.Items }, "items"},
		{"no items", func(r *ordersv1.CreateOrderRequest) { r.Items = nil }, "items"},
		{"unknown variant", func(r *ordersv1.CreateOrderRequest) { r.Items[1].VariantId = uuid.NewString() }, "items[1].variant_id"},
		{"inactive variant", func(r *ordersv1.CreateOrderRequest) { r.Items[1].VariantId = f.InactiveVariant }, "items[1].variant_id"},
		{"malformed variant id", func(r *ordersv1.CreateOrderRequest) { r.Items[0].VariantId = "v1; DROP TABLE orders" }, "items[0].variant_id"},
		{"malformed design id", func(r *ordersv1.CreateOrderRequest) { r.Items[0].DesignId = "not-a-uuid" }, "items[0].design_id"},
		{"design without placement", func(r *ordersv1.CreateOrderRequest) { r.Items[0].PlacementId = "" }, "items[0].placement_id"},
		{"someone else's design", func(r *ordersv1.CreateOrderRequest) { r.Items[0].DesignId = uuid.NewString() }, "items[0].design_id"},
		{"design not ready", func(r *ordersv1.CreateOrderRequest) { r.Items[0].DesignId = f.PendingDesign }, "items[0].design_id"},
		{"dpi rejected", func(r *ordersv1.CreateOrderRequest) { r.Items[0].PlacementId = f.PlacementBack }, "items[0].design_id"},
		{"foreign placement", func(r *ordersv1.CreateOrderRequest) { r.Items[0].PlacementId = uuid.NewString() }, "items[0].placement_id"},
		{"oversized name", func(r *ordersv1.CreateOrderRequest) { r.ShippingAddress.Name = strings.Repeat("x", 201) }, "shipping_address.name"},
		{"oversized line1", func(r *ordersv1.CreateOrderRequest) { r.ShippingAddress.Line1 = strings.Repeat("y", 5000) }, "shipping_address.line1"},
		{"bad country", func(r *ordersv1.CreateOrderRequest) { r.ShippingAddress.CountryCode = "gbr" }, "shipping_address.country_code"},
		{"no address", func(r *ordersv1.CreateOrderRequest) { r.ShippingAddress = nil }, "shipping_address"},
		{"bad currency", func(r *ordersv1.CreateOrderRequest) { r.Currency = "usd" }, "currency"},
		{"no payment method", func(r *ordersv1.CreateOrderRequest) { r.PaymentMethod = 0 }, "payment_method"},
		{"unknown coupon", func(r *ordersv1.CreateOrderRequest) { r.CouponCode = "FREE" }, "coupon"},
		{"unknown store", func(r *ordersv1.CreateOrderRequest) { r.StoreId = uuid.NewString() }, "store_id"},
		{"someone else's store", func(r *ordersv1.CreateOrderRequest) { r.StoreId = f.StoreOf("mallory") }, "store_id"},
		{"malformed external item id", func(r *ordersv1.CreateOrderRequest) { r.Items[0].ExternalItemId = "a b" }, "items[0].external_item_id"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := f.Request("alice")
			tc.edit(req)
			_, err := s.Client.CreateOrder(s.User("alice", fmt.Sprintf("bad-%d", i)), req)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("%v, want INVALID_ARGUMENT", err)
			}
			t.Logf("%s: %s", tc.name, st.Message())
			if !strings.Contains(st.Message(), tc.field) && !detailNames(st, tc.field) {
				t.Fatalf("message %q (details %v) does not name %s", st.Message(), st.Details(), tc.field)
			}
		})
	}
	for _, table := range []string{"orders", "order_items", "order_events", "outbox", "idempotency_keys"} {
		if n := testenv.Count(t, s.Pool, table, ""); n != 0 {
			t.Errorf("%s has %d rows after refused requests, want 0", table, n)
		}
	}
}

func detailNames(st *status.Status, field string) bool {
	for _, d := range st.Details() {
		if strings.Contains(fmt.Sprint(d), field) {
			return true
		}
	}
	return false
}

func TestListOrdersPagesNewestFirst(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "bob")
	s := testenv.Serve(t, f, testenv.Options{})
	var ids []string
	for i := range 7 {
		o, err := s.Client.CreateOrder(s.User("alice", fmt.Sprint("k", i)), f.Request("alice"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.Id)
	}
	if _, err := s.Client.CreateOrder(s.User("bob", "k"), f.Request("bob")); err != nil {
		t.Fatal(err)
	}
	// Cancel one so the status filter has something to select.
	if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: ids[3]}); err != nil {
		t.Fatal(err)
	}
	var got []string
	token := ""
	pages := 0
	for {
		res, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range res.Orders {
			got = append(got, o.Id)
		}
		if token = res.NextPageToken; token == "" {
			break
		}
	}
	if pages != 3 || len(got) != 7 {
		t.Fatalf("%d pages, %d orders; want 3 pages of alice's 7", pages, len(got))
	}
	for i := range got {
		if got[i] != ids[len(ids)-1-i] {
			t.Fatalf("order %d is %s, want newest first (%s)", i, got[i], ids[len(ids)-1-i])
		}
	}
	res, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{Status: ordersv1.OrderStatus_ORDER_STATUS_CANCELLED})
	if err != nil || len(res.Orders) != 1 || res.Orders[0].Id != ids[3] {
		t.Fatalf("status filter: %v %v", res, err)
	}
	// Page size is capped, not refused, above the default.
	first, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{
		"AAAA",
		first.NextPageToken[:len(first.NextPageToken)-2] + "AA",
		strings.ToUpper(first.NextPageToken[:6]) + first.NextPageToken[6:],
		"!!not base64!!",
	}
	for _, tok := range bad {
		if tok == first.NextPageToken {
			continue
		}
		_, err := s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{PageSize: 2, PageToken: tok})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("tampered token %q: %v, want INVALID_ARGUMENT", tok, err)
		}
	}
	// A token is bound to its query: not reusable with another filter.
	_, err = s.Client.ListOrders(s.User("alice", ""), &ordersv1.ListOrdersRequest{PageToken: first.NextPageToken, Status: ordersv1.OrderStatus_ORDER_STATUS_PENDING})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("token with another filter: %v, want INVALID_ARGUMENT", err)
	}
}

func TestListOrdersUsesTheIndex(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`EXPLAIN SELECT id FROM orders o WHERE o.user_id = 'a' AND (o.created_at, o.id) < (now(), gen_random_uuid()) ORDER BY o.created_at DESC, o.id DESC LIMIT 21`,
		`EXPLAIN SELECT id FROM orders o WHERE o.user_id = 'a' AND o.status = 3 ORDER BY o.created_at DESC, o.id DESC LIMIT 21`,
	} {
		rows, err := s.Pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		for rows.Next() {
			var line string
			_ = rows.Scan(&line)
			plan.WriteString(line + "\n")
		}
		rows.Close()
		if !strings.Contains(plan.String(), "Index") || strings.Contains(plan.String(), "Sort") {
			t.Errorf("plan needs a sort or no index:\n%s", plan.String())
		}
	}
}

func TestCancelAndShipLifecycle(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	o := inProduction(t, s, f)
	_, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: o.Id})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("cancel in production: %v, want FAILED_PRECONDITION", err)
	}
	sh, err := s.Client.CreateShipment(s.As("warehouse-1", []string{principal.RoleFulfillment}, ""),
		&ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "UPS", TrackingNumber: "1Z999AA1", TrackingUrl: "https://ups.example/track/1Z999AA1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != ordersv1.OrderStatus_ORDER_STATUS_SHIPPED || len(got.Shipments) != 1 || got.Shipments[0].Id != sh.Id ||
		got.Items[0].PrintFileKey != "renders/x.png" || got.Version != 4 {
		t.Fatalf("after shipping: %v", got)
	}
	// Shipping twice is refused.
	_, err = s.Client.CreateShipment(s.As("root", []string{principal.RoleAdmin}, ""),
		&ordersv1.CreateShipmentRequest{OrderId: o.Id, Carrier: "UPS", TrackingNumber: "1Z999AA2"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second shipment: %v, want FAILED_PRECONDITION", err)
	}
	var shipped []byte
	if err := s.Pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE type = $1`, eventsv1.KeyOrderShipped).Scan(&shipped); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(shipped, []byte(o.ExternalOrderId)) || !bytes.Contains(shipped, []byte(f.Request("alice").StoreId)) {
		t.Fatal("OrderShipped lacks store_id / external_order_id")
	}
	ev, err := s.Client.ListOrderEvents(s.User("alice", ""), &ordersv1.ListOrderEventsRequest{OrderId: o.Id, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for {
		for _, e := range ev.Events {
			types = append(types, e.Type)
		}
		if ev.NextPageToken == "" {
			break
		}
		if ev, err = s.Client.ListOrderEvents(s.User("alice", ""), &ordersv1.ListOrderEventsRequest{OrderId: o.Id, PageSize: 2, PageToken: ev.NextPageToken}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{domain.EventPlaced, domain.EventConfirmed, domain.EventPaymentCaptured, domain.EventInProduction, domain.EventShipmentCreated, domain.EventShipped}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("timeline %v, want %v", types, want)
	}
	// Every transition of this store order wrote an OrderStatusChanged
	// (confirmed and paid in one transaction, in production, shipped).
	if n := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderStatusChanged); n != 4 {
		t.Fatalf("%d status changes, want 4", n)
	}
}

func TestCancelPendingOrder(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	o, err := s.Client.CreateOrder(s.User("alice", "k1"), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: o.Id, Reason: "changed my mind"})
	if err != nil || c.Status != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED || c.FailureReason != "changed my mind" {
		t.Fatalf("cancel: %v %v", c, err)
	}
	if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: o.Id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second cancel: %v, want FAILED_PRECONDITION", err)
	}
	if n := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderCancelled); n != 1 {
		t.Fatalf("%d OrderCancelled, want 1", n)
	}
}

func TestGetOrderSurvivesRedisOutage(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	proxy := testenv.NewProxy(t, testenv.RedisAddr())
	rdb, prefix := testenv.RedisVia(t, proxy.Addr())
	s := testenv.Serve(t, f, testenv.Options{Redis: rdb, RedisPrefix: prefix})
	o, err := s.Client.CreateOrder(s.User("alice", "k"), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id}); err != nil {
		t.Fatal(err)
	}
	proxy.Close() // Redis is gone for this client mid-test
	for i := range 20 {
		ctx, cancel := context.WithTimeout(s.User("alice", ""), 2*time.Second)
		got, err := s.Client.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: o.Id})
		cancel()
		if err != nil || got.Id != o.Id {
			t.Fatalf("get %d with Redis down: %v", i, err)
		}
	}
	// Writes still work and reads see them.
	if _, err := s.Client.CancelOrder(s.User("alice", ""), &ordersv1.CancelOrderRequest{OrderId: o.Id}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: o.Id})
	if err != nil || got.Status != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Fatalf("after cancel with Redis down: %v %v", got, err)
	}
	_ = net.ErrClosed
}
