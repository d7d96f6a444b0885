package server

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/events"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

// TestPlacedOrdersRedeemTheirCouponOnce publishes OrderPlaced events through
// the real broker: each order counts one use, a redelivered or republished
// event for the same order counts nothing more, and an order over the limit
// is acked without counting.
func TestPlacedOrdersRedeemTheirCouponOnce(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, false, 0)
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
	q := env.Queue(events.Queue)
	if err := conn.DeclareQueue(ctx, q, events.OrderPlacedKey); err != nil {
		t.Fatal(err)
	}
	handled := make(chan string, 16)
	handler := events.CouponHandler(in.App, quietLog())
	go func() {
		_ = amqp.Consume(ctx, conn, amqp.ConsumerConfig{Queue: q, RoutingKeys: []string{events.OrderPlacedKey}, Prefetch: 4,
			Handler: func(ctx context.Context, d amqp.Delivery) error {
				err := handler(ctx, d)
				if err == nil {
					handled <- d.ID
				}
				return err
			}})
	}()
	pub := amqp.NewPublisher(conn)
	placed := func(order, coupon string) amqp.Message {
		body, _ := proto.Marshal(&eventsv1.OrderPlaced{OrderId: order, UserId: "alice", CouponCode: coupon})
		return amqp.Message{ID: uuid.NewString(), Type: events.OrderPlacedKey, Body: body}
	}
	o1, o2, o3 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	msgs := []amqp.Message{
		placed(o1, "twice"), placed(o1, "TWICE"), // the same order twice
		placed(o2, "TWICE"),
		placed(o3, "TWICE"),          // over the limit: acked, not counted
		placed(uuid.NewString(), ""), // no coupon
		{ID: uuid.NewString(), Type: events.OrderPlacedKey, Body: []byte{0xff, 0x01}}, // poison: DLQ
	}
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(msgs)-1; i++ {
		select {
		case <-handled:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d events handled", i, len(msgs)-1)
		}
	}
	var used int
	if err := in.DB.Primary.QueryRow(ctx, `SELECT used FROM coupons WHERE code = 'TWICE'`).Scan(&used); err != nil {
		t.Fatal(err)
	}
	if used != 2 {
		t.Fatalf("coupon used %d times, want 2 (two distinct orders within the limit)", used)
	}
	deadline := time.Now().Add(10 * time.Second)
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
}
