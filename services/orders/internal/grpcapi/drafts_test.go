package grpcapi_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

func draftRequest(f *testenv.Fixture, user string) *ordersv1.CreateOrderRequest {
	req := f.Request(user)
	req.StoreId, req.ExternalOrderId = "", ""
	req.Confirm = proto.Bool(false)
	req.ShippingAddress.Region = "ca"
	return req
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), contains) {
		t.Fatalf("got %v, want %s containing %q", err, code, contains)
	}
}

func timelineTypes(t *testing.T, s *testenv.Server, ctx context.Context, id string) []string {
	t.Helper()
	res, err := s.Client.ListOrderEvents(ctx, &ordersv1.ListOrderEventsRequest{OrderId: id})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range res.GetEvents() {
		out = append(out, e.GetType())
	}
	return out
}

// A draft is priced (with the quote's method, estimate and tax) but holds
// nothing: no coupon use is asked for, no event or notice is written, and
// its Idempotency-Key replays it as a direct create's would.
func TestCreateDraft(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	f.Pricing.Tax = 250
	s := testenv.Serve(t, f, testenv.Options{})
	req := draftRequest(f, "alice")
	req.CouponCode = "TENOFF"
	ctx := s.User("alice", "draft-1")
	o, err := s.Client.CreateOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_DRAFT || o.GetVersion() != 1 {
		t.Fatalf("draft: %s v%d", o.GetStatus(), o.GetVersion())
	}
	ttl := o.GetExpiresAt().AsTime().Sub(o.GetCreatedAt().AsTime())
	if ttl != app.DefaultDraftTTL {
		t.Fatalf("expires %s after creation, want %s", ttl, app.DefaultDraftTTL)
	}
	if o.GetShippingMethod() != "standard" || o.GetDeliveryEstimate().GetMaxDays() != 5 || o.GetTax().GetAmountMinor() != 250 || o.GetTaxIncluded() {
		t.Fatalf("pricing not kept: method %q estimate %v tax %v", o.GetShippingMethod(), o.GetDeliveryEstimate(), o.GetTax())
	}
	sum := o.GetSubtotal().GetAmountMinor() + o.GetShipping().GetAmountMinor() - o.GetDiscount().GetAmountMinor() + o.GetTax().GetAmountMinor()
	if o.GetTotal().GetAmountMinor() != sum {
		t.Fatalf("total %d, want %d", o.GetTotal().GetAmountMinor(), sum)
	}
	last := f.Pricing.Last.Load()
	if last.OrderKey != "" || last.OrderID != "" || last.Region != "CA" {
		t.Fatalf("draft quote asked with order key %q, order id %q, region %q", last.OrderKey, last.OrderID, last.Region)
	}
	if n := testenv.Count(t, s.Pool, "outbox", ""); n != 0 {
		t.Fatalf("%d outbox rows for a draft", n)
	}
	if got := timelineTypes(t, s, ctx, o.GetId()); len(got) != 1 || got[0] != domain.EventDrafted {
		t.Fatalf("timeline %v", got)
	}
	again, err := s.Client.CreateOrder(ctx, req)
	if err != nil || !bytes.Equal(mustMarshal(t, again), mustMarshal(t, o)) {
		t.Fatalf("replay: %v", err)
	}
	if n := testenv.Count(t, s.Pool, "orders", ""); n != 1 {
		t.Fatalf("%d orders", n)
	}
	got, err := s.Client.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: o.GetId()})
	if err != nil || !proto.Equal(got, o) {
		t.Fatalf("read back differs: %v\n%v\n%v", err, got, o)
	}
	// Without confirm (or confirm: true) the order is placed.
	req2 := draftRequest(f, "alice")
	req2.Confirm = nil
	placed, err := s.Client.CreateOrder(s.User("alice", "placed-1"), req2)
	if err != nil || placed.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING || placed.GetExpiresAt() != nil {
		t.Fatalf("direct create: %v %v", placed.GetStatus(), err)
	}
	if n := testenv.Count(t, s.Pool, "order_events", "order_id = $1 AND type = $2 AND attributes->>'shipping_method' = 'standard' AND attributes->>'tax' = '250'",
		placed.GetId(), domain.EventPlaced); n != 1 {
		t.Fatal("order.placed does not name the shipping method and tax")
	}
}

func TestUpdateDraft(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "bob")
	f.Pricing.ExpressShipping = 1999
	s := testenv.Serve(t, f, testenv.Options{})
	alice := s.User("alice", "")
	d, err := s.Client.CreateOrder(s.User("alice", "d"), draftRequest(f, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	express := "express"
	edit := &ordersv1.UpdateOrderRequest{
		OrderId: d.GetId(), Version: 1, ShippingMethod: &express,
		Items: []*ordersv1.CreateOrderItem{{VariantId: f.VariantB, Quantity: 4}},
	}
	if _, err := s.Client.UpdateOrder(s.User("bob", ""), edit); status.Code(err) != codes.NotFound {
		t.Fatalf("bob edits alice's draft: %v", err)
	}
	o, err := s.Client.UpdateOrder(alice, edit)
	if err != nil {
		t.Fatal(err)
	}
	if o.GetVersion() != 2 || o.GetShippingMethod() != "express" || o.GetShipping().GetAmountMinor() != 1999 ||
		len(o.GetItems()) != 1 || o.GetSubtotal().GetAmountMinor() != 4*1500 || o.GetTotal().GetAmountMinor() != 4*1500+1999 {
		t.Fatalf("edited: v%d %q shipping %d items %d total %d", o.GetVersion(), o.GetShippingMethod(),
			o.GetShipping().GetAmountMinor(), len(o.GetItems()), o.GetTotal().GetAmountMinor())
	}
	if !o.GetExpiresAt().AsTime().After(d.GetExpiresAt().AsTime()) {
		t.Fatal("an edit does not give the draft a new time to live")
	}
	// The same edit at the old version is a conflict; nothing changes.
	_, err = s.Client.UpdateOrder(alice, edit)
	wantCode(t, err, codes.Aborted, "version 2")
	// A coupon pricing refuses is refused as on a create.
	bad := "NOPE"
	_, err = s.Client.UpdateOrder(alice, &ordersv1.UpdateOrderRequest{OrderId: d.GetId(), CouponCode: &bad})
	wantCode(t, err, codes.InvalidArgument, "coupon")
	good := "TENOFF"
	o, err = s.Client.UpdateOrder(alice, &ordersv1.UpdateOrderRequest{OrderId: d.GetId(), CouponCode: &good})
	if err != nil || o.GetDiscount().GetAmountMinor() != 600 || o.GetVersion() != 3 {
		t.Fatalf("coupon: %v %v", o.GetDiscount(), err)
	}
	if n := testenv.Count(t, s.Pool, "order_items", "order_id = $1", d.GetId()); n != 1 {
		t.Fatalf("%d item rows after the edit", n)
	}
	if n := testenv.Count(t, s.Pool, "order_events", "order_id = $1 AND type = $2", d.GetId(), domain.EventDraftUpdated); n != 2 {
		t.Fatalf("%d order.draft_updated entries", n)
	}
	if n := testenv.Count(t, s.Pool, "outbox", ""); n != 0 {
		t.Fatalf("%d outbox rows for draft edits", n)
	}
	// A placed order is not a draft.
	placed, err := s.Client.CreateOrder(s.User("alice", "p"), f.Request("alice"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.UpdateOrder(alice, &ordersv1.UpdateOrderRequest{OrderId: placed.GetId(), ShippingMethod: &express})
	wantCode(t, err, codes.FailedPrecondition, "PENDING")
}

// Two confirms at once place the draft once; a later confirm answers the
// order as it is.
func TestConfirmDraftConcurrently(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice", "bob")
	s := testenv.Serve(t, f, testenv.Options{})
	req := draftRequest(f, "alice")
	req.CouponCode = "TENOFF"
	d, err := s.Client.CreateOrder(s.User("alice", "d"), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.ConfirmOrder(s.User("bob", ""), &ordersv1.ConfirmOrderRequest{OrderId: d.GetId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("bob confirms alice's draft: %v", err)
	}
	const n = 4
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		got  []*ordersv1.Order
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			o, err := s.Client.ConfirmOrder(s.User("alice", ""), &ordersv1.ConfirmOrderRequest{OrderId: d.GetId()})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			got = append(got, o)
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("confirm errors: %v", errs)
	}
	for _, o := range got {
		if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING || o.GetVersion() != 2 || o.GetExpiresAt() != nil {
			t.Fatalf("confirmed: %s v%d expires %v", o.GetStatus(), o.GetVersion(), o.GetExpiresAt())
		}
	}
	if c := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderPlacedCoupon); c != 1 {
		t.Fatalf("%d OrderPlaced events, want 1", c)
	}
	// The coupon was redeemed under one key for the draft, whatever the
	// number of confirms.
	last := f.Pricing.Last.Load()
	if last.OrderKey == "" || last.OrderID != d.GetId() {
		t.Fatalf("confirm quoted with order key %q order id %q", last.OrderKey, last.OrderID)
	}
	again, err := s.Client.ConfirmOrder(s.User("alice", ""), &ordersv1.ConfirmOrderRequest{OrderId: d.GetId()})
	if err != nil || again.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING || again.GetVersion() != 2 {
		t.Fatalf("confirm again: %v %v", again.GetStatus(), err)
	}
	types := timelineTypes(t, s, s.User("alice", ""), d.GetId())
	if strings.Join(types, ",") != domain.EventDrafted+","+domain.EventPlaced {
		t.Fatalf("timeline %v", types)
	}
	express := "express"
	_, err = s.Client.UpdateOrder(s.User("alice", ""), &ordersv1.UpdateOrderRequest{OrderId: d.GetId(), ShippingMethod: &express})
	wantCode(t, err, codes.FailedPrecondition, "PENDING")
}

// A price that changed since the draft was priced is shown, not charged:
// the draft takes the new price and the confirm is refused until the
// customer confirms again.
func TestConfirmDraftPriceChanged(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	d, err := s.Client.CreateOrder(s.User("alice", "d"), draftRequest(f, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	f.Pricing.UnitPrice = 1600
	_, err = s.Client.ConfirmOrder(s.User("alice", ""), &ordersv1.ConfirmOrderRequest{OrderId: d.GetId()})
	wantCode(t, err, codes.FailedPrecondition, "the price changed from 55.99 USD to 58.99 USD; review and confirm again")
	o, err := s.Client.GetOrder(s.User("alice", ""), &ordersv1.GetOrderRequest{OrderId: d.GetId()})
	if err != nil || o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_DRAFT || o.GetTotal().GetAmountMinor() != 5899 || o.GetVersion() != 2 {
		t.Fatalf("after the refused confirm: %s total %d v%d %v", o.GetStatus(), o.GetTotal().GetAmountMinor(), o.GetVersion(), err)
	}
	if n := testenv.Count(t, s.Pool, "outbox", ""); n != 0 {
		t.Fatalf("%d outbox rows: something was placed", n)
	}
	o, err = s.Client.ConfirmOrder(s.User("alice", ""), &ordersv1.ConfirmOrderRequest{OrderId: d.GetId()})
	if err != nil || o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING || o.GetTotal().GetAmountMinor() != 5899 {
		t.Fatalf("confirm at the new price: %v %v", o.GetStatus(), err)
	}
	if n := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderPlaced); n != 1 {
		t.Fatalf("%d OrderPlaced", n)
	}
}

// The worker cancels drafts past their expiry, and only those; an expired
// draft cannot be confirmed; an owner cancels a draft of their own.
func TestDraftExpiry(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	s := testenv.Serve(t, f, testenv.Options{})
	ctx := s.User("alice", "")
	due, err := s.Client.CreateOrder(s.User("alice", "due"), draftRequest(f, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	placed, err := s.Client.CreateOrder(s.User("alice", "placed"), draftRequest(f, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.ConfirmOrder(ctx, &ordersv1.ConfirmOrderRequest{OrderId: placed.GetId()}); err != nil {
		t.Fatal(err)
	}
	s.Svc.DraftTTL = 200 * time.Hour
	later, err := s.Client.CreateOrder(s.User("alice", "later"), draftRequest(f, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := s.Client.CreateOrder(s.User("alice", "cancelled"), draftRequest(f, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Client.CancelOrder(ctx, &ordersv1.CancelOrderRequest{OrderId: cancelled.GetId()})
	if err != nil || c.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED || c.GetExpiresAt() != nil {
		t.Fatalf("cancel a draft: %v %v", c.GetStatus(), err)
	}
	if n := testenv.Count(t, s.Pool, "outbox", "type = $1", eventsv1.KeyOrderNotice); n != 0 {
		t.Fatalf("%d notices", n)
	}

	clock := func() time.Time { return time.Now().Add(app.DefaultDraftTTL + time.Hour) }
	w := app.NewWorker(app.WorkerDeps{Store: s.Store, Payments: &testenv.Payments{}, Inbox: eventsv1.QueueOrdersWorker, Log: testenv.Log(), Now: clock})
	e := app.NewDraftExpirer(s.Store, w, time.Minute, 1)
	n, err := e.Pass(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("pass expired %d: %v", n, err)
	}
	if n, err := e.Pass(context.Background()); err != nil || n != 0 {
		t.Fatalf("second pass expired %d: %v", n, err)
	}
	for id, want := range map[string]ordersv1.OrderStatus{
		due.GetId(): ordersv1.OrderStatus_ORDER_STATUS_CANCELLED, placed.GetId(): ordersv1.OrderStatus_ORDER_STATUS_PENDING,
		later.GetId(): ordersv1.OrderStatus_ORDER_STATUS_DRAFT,
	} {
		o, err := s.Client.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: id})
		if err != nil || o.GetStatus() != want {
			t.Fatalf("order %s: %v, want %s (%v)", id, o.GetStatus(), want, err)
		}
		if want == ordersv1.OrderStatus_ORDER_STATUS_CANCELLED && o.GetFailureReason() != domain.DraftExpiredReason {
			t.Fatalf("expired draft's reason %q", o.GetFailureReason())
		}
	}
	if types := timelineTypes(t, s, ctx, due.GetId()); strings.Join(types, ",") != domain.EventDrafted+","+domain.EventDraftExpired {
		t.Fatalf("timeline %v", types)
	}
	_, err = s.Client.ConfirmOrder(ctx, &ordersv1.ConfirmOrderRequest{OrderId: due.GetId()})
	wantCode(t, err, codes.FailedPrecondition, "expired")
	_, err = s.Client.ConfirmOrder(ctx, &ordersv1.ConfirmOrderRequest{OrderId: cancelled.GetId()})
	wantCode(t, err, codes.FailedPrecondition, "CANCELLED")
}

// The expiry sweep reads the due drafts through the partial index.
func TestDueDraftsUsesTheIndex(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	rows, err := tx.Query(ctx, `EXPLAIN SELECT o.id::text FROM orders o WHERE o.status = 11 AND o.expires_at <= now() ORDER BY o.expires_at LIMIT 100 FOR UPDATE SKIP LOCKED`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if !strings.Contains(plan.String(), "orders_draft_expiry") {
		t.Fatalf("plan does not use orders_draft_expiry:\n%s", plan.String())
	}
}
