package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// poison is the malformed body: field 1 with wire type 7, which no protobuf
// decoder accepts, followed by bytes that are not UTF-8 either.
var poison = []byte("\x0f\xff\xfe\xfd not a protobuf \xc3\x28")

func testPoisonMessage(t *testing.T, fx *faultFleet) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	targets := []struct{ queue, key string }{
		// An order with a coupon reaches both queues under one key (one poison
		// for both).
		{eventsv1.QueueCatalogStock, eventsv1.KeyOrderPlacedCoupon},
		{eventsv1.QueuePricingCoupons, eventsv1.KeyOrderPlacedCoupon},
		{eventsv1.QueueCatalogProjector, eventsv1.KeyProductChanged},
		{eventsv1.QueueCatalogDesigns, eventsv1.KeyDesignProcessed},
		{eventsv1.QueueOrdersWorker, eventsv1.KeyStockReserved},
		{eventsv1.QueueImagesDesigns, eventsv1.KeyDesignUploaded},
		{eventsv1.QueueImagesRenders, eventsv1.KeyOrderPaid},
		{eventsv1.QueueMarketplacePush, eventsv1.KeyOrderShipped},
	}
	conn, err := amqp091.Dial(fx.mq.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	returns := ch.NotifyReturn(make(chan amqp091.Return, len(targets)))
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}

	// Dead letters already there were left by the scenarios before (which
	// report them): start from empty queues.
	earlier, err := fx.deadLetters()
	if err != nil {
		t.Fatal(err)
	}

	sent := map[string]string{} // routing key → message id
	publishedAt := time.Now()
	for _, tg := range targets {
		if _, ok := sent[tg.key]; ok {
			continue
		}
		id := uuid.NewString()
		sent[tg.key] = id
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "printfleet.events", tg.key, true, false, amqp091.Publishing{
			MessageId: id, Type: tg.key, Timestamp: time.Now(), DeliveryMode: amqp091.Persistent,
			ContentType: "application/x-protobuf", Body: poison,
		})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("poison for %s not confirmed: %v", tg.key, err)
		}
	}
	select {
	case r := <-returns:
		t.Fatalf("poison for %s was unroutable (no queue bound)", r.RoutingKey)
	default:
	}

	type landed struct {
		after   time.Duration
		reason  string
		count   int64
		headers string
	}
	got := map[string]landed{}
	var stray []string
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < len(targets) && time.Now().Before(deadline) {
		for _, tg := range targets {
			if _, ok := got[tg.queue]; ok {
				continue
			}
			d, ok, err := ch.Get(tg.queue+".dlq", false)
			if err != nil {
				t.Fatalf("get %s.dlq: %v", tg.queue, err)
			}
			if !ok {
				continue
			}
			_ = d.Ack(false)
			if d.MessageId != sent[tg.key] {
				stray = append(stray, fmt.Sprintf("%s.dlq: %s %s", tg.queue, d.Type, d.MessageId))
				continue
			}
			l := landed{after: time.Since(publishedAt)}
			// The consumer dead-letters a copy carrying its error and its
			// attempts; the broker's x-death appears only when that copy
			// could not be published (it rejected instead).
			l.reason, _ = d.Headers["x-printfleet-error"].(string)
			if a, ok := d.Headers["x-printfleet-attempts"].(int32); ok {
				l.count = int64(a)
			}
			if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 && l.reason == "" {
				if death, ok := deaths[0].(amqp091.Table); ok {
					l.reason, _ = death["reason"].(string)
					l.count, _ = death["count"].(int64)
				}
			}
			if c, ok := d.Headers["x-delivery-count"]; ok {
				l.headers = fmt.Sprintf("x-delivery-count=%v", c)
			}
			got[tg.queue] = l
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The consumers keep going: an order placed now is paid.
	st := &loadStats{}
	user, body, p := fx.orderSpec(0, false)
	o, ok := fx.create(ctx, st, user, body, p, 30*time.Second)
	if !ok {
		t.Fatalf("order after the poison not acknowledged: %s %v", st, st.rejected)
	}
	placedAt := time.Now()
	waitStatus(t, fx.environment, user, o.ID, "ORDER_STATUS_PAID", 60*time.Second)
	paidIn := time.Since(placedAt)

	t.Logf("POISON MESSAGE — one malformed message (%d bytes) per routing key, %d consumer queues", len(poison), len(targets))
	if len(earlier) > 0 {
		t.Logf("  dead letters left by earlier scenarios, taken off first: %d %v", len(earlier), head(earlier, 3))
	}
	for _, tg := range targets {
		if l, ok := got[tg.queue]; ok {
			t.Logf("  %-18s ← %-28s in %s.dlq after %v (reason %q, attempts/count %d %s)",
				tg.queue, tg.key, tg.queue, l.after.Round(time.Millisecond), l.reason, l.count, l.headers)
		} else {
			t.Logf("  %-18s ← %-28s NOT in %s.dlq after 60s", tg.queue, tg.key, tg.queue)
		}
	}
	t.Logf("  an order placed afterwards reached PAID in %v", paidIn.Round(time.Millisecond))
	for _, tg := range targets {
		if _, ok := got[tg.queue]; !ok {
			t.Errorf("the poison message for %s (%s) did not reach %s.dlq within 60 s", tg.queue, tg.key, tg.queue)
		}
	}
	if len(stray) > 0 {
		t.Errorf("other dead letters appeared meanwhile: %v", head(stray, 5))
	}
}
