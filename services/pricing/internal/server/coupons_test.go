package server

import (
	"context"
	"strings"
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
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/amqpapi"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

func TestUsedUpCouponIsRefused(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
	seed(t, in)
	now := time.Now()
	created, err := c.CreateCoupon(as(t, principal.RoleAdmin), &pricingv1.CreateCouponRequest{Coupon: &pricingv1.Coupon{
		Code: "once", Kind: pricingv1.CouponKind_COUPON_KIND_FIXED, AmountOff: usd(300), UsageLimit: 1,
		ValidFrom: timestamppb.New(now.Add(-time.Minute)), ValidUntil: timestamppb.New(now.Add(time.Hour)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetCode() != "ONCE" || created.GetUsed() != 0 || created.GetUsageLimit() != 1 {
		t.Fatalf("created %v", created)
	}
	req := &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)}, CountryCode: "US", Currency: "USD", CouponCode: "ONCE"}
	if q, err := c.CreateQuote(anon(t), req); err != nil || q.GetDiscount().GetAmountMinor() != 300 {
		t.Fatalf("before redemption: %v %v", q, err)
	}
	svc := principal.Principal{Subject: "service:orders", Roles: []string{principal.RoleService}}
	if _, err := in.App.RedeemCoupon(context.Background(), svc, "once", "order-1"); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateQuote(anon(t), req)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), `coupon "ONCE" has reached its usage limit of 1`) {
		t.Fatalf("after redemption: %v", err)
	}
	user := principal.Principal{Subject: "bob", Roles: []string{principal.RoleUser}}
	if _, err := in.App.RedeemCoupon(context.Background(), user, "once", "order-2"); errs.KindOf(err) != errs.PermissionDenied {
		t.Fatalf("user redemption: %v", err)
	}
}

// TestPlacedOrdersRedeemTheirCouponOnce publishes OrderPlaced events through
// the real broker to a pricing worker, wired as cmd/pricing-worker wires it:
// each order counts one use, a redelivered or republished event for the same
// order counts nothing more, an order over the limit is acked without
// counting, and a poison message is dead-lettered. The API process, which
// shares only the database with the worker, hears of the redemptions by
// NOTIFY (its poll is off) and refuses the used-up coupon.
func TestPlacedOrdersRedeemTheirCouponOnce(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, true, 0)
	seed(t, in) // prices to quote with
	now := time.Now()
	if _, err := c.CreateCoupon(as(t, principal.RoleAdmin), &pricingv1.CreateCouponRequest{Coupon: &pricingv1.Coupon{
		Code: "TWICE", Kind: pricingv1.CouponKind_COUPON_KIND_FIXED, AmountOff: usd(100), UsageLimit: 2,
		ValidFrom: timestamppb.New(now.Add(-time.Minute)), ValidUntil: timestamppb.New(now.Add(time.Hour)),
	}}); err != nil {
		t.Fatal(err)
	}

	env := amqptest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := amqp.Dial(ctx, env.Config, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := env.Queue(eventsv1.QueuePricingCoupons)
	// Declared before publishing, so that nothing is published unroutable
	// while the worker is still starting.
	if err := conn.DeclareQueue(ctx, q, amqpapi.CouponRoutingKeys...); err != nil {
		t.Fatal(err)
	}
	startWorker(t, url, env.Config, q)

	req := &pricingv1.CreateQuoteRequest{Items: []*pricingv1.QuoteItem{demoItem("MUG-11-WHT-OS", 1)}, CountryCode: "US", Currency: "USD", CouponCode: "TWICE"}
	if q, err := c.CreateQuote(anon(t), req); err != nil || q.GetDiscount().GetAmountMinor() != 100 {
		t.Fatalf("before the orders: %v %v", q, err)
	}

	pub := amqp.NewPublisher(conn)
	placed := func(order, coupon string) amqp.Message {
		body, _ := proto.Marshal(&eventsv1.OrderPlaced{OrderId: order, UserId: "alice", CouponCode: coupon})
		return amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyOrderPlacedCoupon, Body: body}
	}
	o1, o2, o3 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	msgs := []amqp.Message{
		placed(o1, "twice"), placed(o1, "TWICE"), // the same order twice
		placed(o2, "TWICE"),
		placed(o3, "TWICE"),          // over the limit: acked, not counted
		placed(uuid.NewString(), ""), // no coupon (orders never routes one here): acked
		{ID: uuid.NewString(), Type: eventsv1.KeyOrderPlacedCoupon, Body: []byte{0xff, 0x01}}, // poison: DLQ
	}
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	// Every event but the poison one is handled without error (acked).
	deadline := time.Now().Add(20 * time.Second)
	for handled(t, q, "ack") < len(msgs)-1 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events handled", handled(t, q, "ack"), len(msgs)-1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var used int
	if err := in.DB.Primary.QueryRow(ctx, `SELECT used FROM coupons WHERE code = 'TWICE'`).Scan(&used); err != nil {
		t.Fatal(err)
	}
	if used != 2 {
		t.Fatalf("coupon used %d times, want 2 (two distinct orders within the limit)", used)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		n, err := conn.QueueDepth(ctx, amqp.DLQName(q))
		if err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("poison message not in the DLQ (depth %d, %v)", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The API process refuses the used-up coupon once the NOTIFY of the
	// worker's last redemption has reloaded its snapshot.
	deadline = time.Now().Add(5 * time.Second)
	for {
		_, err := c.CreateQuote(anon(t), req)
		if status.Code(err) == codes.FailedPrecondition && strings.Contains(status.Convert(err).Message(), `coupon "TWICE" has reached its usage limit of 2`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API still quotes the used-up coupon: %v", err)
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
