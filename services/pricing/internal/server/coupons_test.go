package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/amqpapi"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

// user is the call context of a user placing an order, as orders forwards it.
func user(t testing.TB, subject string) context.Context {
	return principal.With(anon(t), principal.Principal{Subject: subject, Roles: []string{principal.RoleUser}})
}

func createCoupon(t *testing.T, c pricingv1.PricingServiceClient, code string, limit, perCustomer int32) {
	t.Helper()
	now := time.Now()
	if _, err := c.CreateCoupon(as(t, principal.RoleAdmin), &pricingv1.CreateCouponRequest{Coupon: &pricingv1.Coupon{
		Code: code, Kind: pricingv1.CouponKind_COUPON_KIND_FIXED, AmountOff: usd(100), UsageLimit: limit, PerCustomerLimit: perCustomer,
		ValidFrom: timestamppb.New(now.Add(-time.Minute)), ValidUntil: timestamppb.New(now.Add(time.Hour)),
	}}); err != nil {
		t.Fatal(err)
	}
}

func orderQuote(coupon, key string) *pricingv1.CreateOrderQuoteRequest {
	return &pricingv1.CreateOrderQuoteRequest{
		Quote:    &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)}, CountryCode: "US", Currency: "USD", CouponCode: coupon},
		OrderKey: key, OrderId: "order-" + key,
	}
}

// refusedAtLimit reports whether err is the refusal of an order over a
// coupon's limit: ABORTED (HTTP 409), naming the coupon.
func refusedAtLimit(err error, coupon, limit string) bool {
	return status.Code(err) == codes.Aborted &&
		strings.Contains(status.Convert(err).Message(), fmt.Sprintf("coupon %q has reached its %s", coupon, limit))
}

// An order quote redeems the coupon for the user placing it; once the
// coupon is used up, orders are refused (ABORTED naming the coupon) and
// plain quotes too (FAILED_PRECONDITION). Only a signed-in caller redeems.
func TestUsedUpCouponIsRefused(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
	seed(t, in)
	createCoupon(t, c, "once", 1, 0)
	req := &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)}, CountryCode: "US", Currency: "USD", CouponCode: "ONCE"}
	if q, err := c.CreateQuote(anon(t), req); err != nil || q.GetDiscount().GetAmountMinor() != 100 {
		t.Fatalf("before redemption: %v %v", q, err)
	}
	if _, err := c.CreateOrderQuote(anon(t), orderQuote("ONCE", "k1")); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous order quote: %v", err)
	}
	q, err := c.CreateOrderQuote(user(t, "alice"), orderQuote("once", "k1"))
	if err != nil || q.GetDiscount().GetAmountMinor() != 100 || q.GetCouponCode() != "ONCE" {
		t.Fatalf("order quote: %v %v", q, err)
	}
	if _, err := c.CreateOrderQuote(user(t, "bob"), orderQuote("ONCE", "k2")); !refusedAtLimit(err, "ONCE", "usage limit of 1") {
		t.Fatalf("order over the limit: %v", err)
	}
	// The retry of alice's create is the same placement: no second use.
	if q, err := c.CreateOrderQuote(user(t, "alice"), orderQuote("ONCE", "k1")); err != nil || q.GetDiscount().GetAmountMinor() != 100 {
		t.Fatalf("retry: %v %v", q, err)
	}
	_, err = c.CreateQuote(anon(t), req)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), `coupon "ONCE" has reached its usage limit of 1`) {
		t.Fatalf("quote after redemption: %v", err)
	}
	// An order without a coupon needs no redemption.
	if q, err := c.CreateOrderQuote(user(t, "bob"), orderQuote("", "k3")); err != nil || q.GetDiscount().GetAmountMinor() != 0 {
		t.Fatalf("order without a coupon: %v %v", q, err)
	}
}

// TestCouponLimitUnderConcurrentOrders places 500 orders at once, over real
// gRPC, against a coupon limited to 100 uses: exactly 100 are discounted
// and the other 400 refused naming the coupon (an order is refused rather
// than placed at full price: the customer asked for the discount). Retries
// of the 100 take no more uses. The worker then confirms the placed orders
// from their OrderPlaced through the real broker; cancelling one frees one
// use, which the next order takes; a customer over the per-customer limit
// is refused.
func TestCouponLimitUnderConcurrentOrders(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
	seed(t, in)
	createCoupon(t, c, "HUNDRED", 100, 0)
	createCoupon(t, c, "ONEEACH", 0, 1)

	env := amqptest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := amqp.Dial(ctx, env.Config, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := env.Queue(eventsv1.QueuePricingCoupons)
	if err := conn.DeclareQueue(ctx, q, amqpapi.CouponRoutingKeys...); err != nil {
		t.Fatal(err)
	}
	startWorker(t, url, env.Config, q)

	const orders = 500
	type result struct {
		key string
		err error
	}
	results := make(chan result, orders)
	started := time.Now()
	var wg sync.WaitGroup
	for i := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("k%03d", i)
			q, err := c.CreateOrderQuote(user(t, fmt.Sprintf("customer-%03d", i)), orderQuote("HUNDRED", key))
			if err == nil && q.GetDiscount().GetAmountMinor() != 100 {
				err = fmt.Errorf("discount %d", q.GetDiscount().GetAmountMinor())
			}
			results <- result{key, err}
		}()
	}
	wg.Wait()
	close(results)
	elapsed := time.Since(started)
	var discounted []string
	refused := 0
	for r := range results {
		switch {
		case r.err == nil:
			discounted = append(discounted, r.key)
		case refusedAtLimit(r.err, "HUNDRED", "usage limit of 100"):
			refused++
		default:
			t.Fatalf("order %s: %v", r.key, r.err)
		}
	}
	t.Logf("%d concurrent orders against a limit of 100 in %v: %d discounted, %d refused, used %d",
		orders, elapsed.Round(time.Millisecond), len(discounted), refused, couponUsed(t, in, "HUNDRED"))
	if len(discounted) != 100 || refused != 400 || couponUsed(t, in, "HUNDRED") != 100 {
		t.Fatalf("%d discounted, %d refused, used %d; want 100, 400, 100", len(discounted), refused, couponUsed(t, in, "HUNDRED"))
	}
	// Retries of the placed orders' creates take no further use.
	for _, key := range discounted[:10] {
		i := key[1:]
		if _, err := c.CreateOrderQuote(user(t, "customer-"+i), orderQuote("HUNDRED", key)); err != nil {
			t.Fatalf("retry of %s: %v", key, err)
		}
	}

	// The orders are placed: the worker confirms their uses, so none expires.
	pub := amqp.NewPublisher(conn)
	event := func(key string, m proto.Message) amqp.Message {
		body, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return amqp.Message{ID: uuid.NewString(), Type: key, Body: body}
	}
	var msgs []amqp.Message
	for _, key := range discounted {
		msgs = append(msgs, event(eventsv1.KeyOrderPlacedCoupon, &eventsv1.OrderPlaced{
			OrderId: "order-" + key, UserId: "customer-" + key[1:], CouponCode: "HUNDRED", PlacedAt: timestamppb.Now()}))
	}
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	waitHandled(t, q, len(msgs))
	var pending int
	if err := in.DB.Primary.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'pending') FROM coupon_reservations`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d reservations still pending after placement (%v)", pending, err)
	}

	// Cancelling one order frees one use: the next order takes it, the one
	// after is refused.
	if err := pub.Publish(ctx, event(eventsv1.KeyOrderCancelled, &eventsv1.OrderCancelled{OrderId: "order-" + discounted[0]})); err != nil {
		t.Fatal(err)
	}
	waitHandled(t, q, len(msgs)+1)
	t.Logf("after cancelling one order: used %d", couponUsed(t, in, "HUNDRED"))
	if n := couponUsed(t, in, "HUNDRED"); n != 99 {
		t.Fatalf("used %d after a cancellation, want 99", n)
	}
	if _, err := c.CreateOrderQuote(user(t, "late-1"), orderQuote("HUNDRED", "late-1")); err != nil {
		t.Fatalf("order after a cancellation: %v", err)
	}
	if _, err := c.CreateOrderQuote(user(t, "late-2"), orderQuote("HUNDRED", "late-2")); !refusedAtLimit(err, "HUNDRED", "usage limit of 100") {
		t.Fatalf("order over the limit again: %v", err)
	}

	// One use per customer: alice's second order is refused, bob's is not.
	if _, err := c.CreateOrderQuote(user(t, "alice"), orderQuote("ONEEACH", "a1")); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateOrderQuote(user(t, "alice"), orderQuote("ONEEACH", "a2"))
	if !refusedAtLimit(err, "ONEEACH", "limit of 1 per customer") {
		t.Fatalf("alice's second order: %v", err)
	}
	t.Logf("per-customer limit: %v", status.Convert(err).Message())
	if _, err := c.CreateOrderQuote(user(t, "bob"), orderQuote("ONEEACH", "b1")); err != nil {
		t.Fatalf("bob: %v", err)
	}
}

// A use reserved by a create whose order never committed is given back by
// the worker's sweep once the reservation expires; the coupon can be used
// again.
func TestWorkerExpiresUnconfirmedReservations(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
	seed(t, in)
	createCoupon(t, c, "ONE", 1, 0)
	now := time.Now()
	if _, _, err := store.New(in.DB.Primary).RedeemCoupon(context.Background(), domain.Redemption{
		Code: "ONE", OrderKey: "never-committed", OrderID: "order-x", CustomerID: "alice", ExpiresAt: now.Add(300 * time.Millisecond),
	}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateOrderQuote(user(t, "bob"), orderQuote("ONE", "k1")); !refusedAtLimit(err, "ONE", "usage limit of 1") {
		t.Fatalf("while reserved: %v", err)
	}
	env := amqptest.New(t)
	startWorker(t, url, env.Config, env.Queue(eventsv1.QueuePricingCoupons), func(c *WorkerConfig) { c.ExpireInterval = 100 * time.Millisecond })
	deadline := time.Now().Add(10 * time.Second)
	for couponUsed(t, in, "ONE") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the reservation was not expired: used %d", couponUsed(t, in, "ONE"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("unconfirmed reservation given back %v after it was taken", time.Since(now).Round(10*time.Millisecond))
	if _, err := c.CreateOrderQuote(user(t, "bob"), orderQuote("ONE", "k1")); err != nil {
		t.Fatalf("after the expiry: %v", err)
	}
}

func couponUsed(t *testing.T, in *API, code string) int {
	t.Helper()
	var used int
	if err := in.DB.Primary.QueryRow(context.Background(), `SELECT used FROM coupons WHERE code = $1`, code).Scan(&used); err != nil {
		t.Fatal(err)
	}
	return used
}

// waitHandled waits until the consumer of queue has acked n deliveries.
func waitHandled(t *testing.T, queue string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for handled(t, queue, "ack") < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events handled", handled(t, queue, "ack"), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// handled is the consumer's count of deliveries of queue settled with
// outcome (printfleet_amqp_consumer_handled_total).
func handled(t *testing.T, queue, outcome string) int {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "printfleet_amqp_consumer_handled_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["queue"] == queue && labels["outcome"] == outcome {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}
