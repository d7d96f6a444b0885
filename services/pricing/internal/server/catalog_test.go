package server

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/amqp/amqptest"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	pricingv1 "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/amqpapi"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

// The catalog's variant prices, through the real broker and the worker,
// become default list prices that another process (the API, told by
// NOTIFY) quotes; stale announcements change nothing, and an admin's price
// is never replaced.
func TestCatalogPricesBecomeDefaultPrices(t *testing.T) {
	t.Parallel()
	_, url := pgtest.NewDB(t, store.Migrations)
	in, c := start(t, url, true, 0)
	seed(t, in)
	admin := as(t, principal.RoleAdmin)

	env := amqptest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := amqp.Dial(ctx, env.Config, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := env.Queue(eventsv1.QueuePricingCatalog)
	if err := conn.DeclareQueue(ctx, q, amqpapi.CatalogRoutingKeys...); err != nil {
		t.Fatal(err)
	}
	startWorker(t, url, env.Config, env.Queue(eventsv1.QueuePricingCoupons), func(w *WorkerConfig) { w.CatalogQueue = q })

	a, b := uuid.NewString(), uuid.NewString()
	pub := amqp.NewPublisher(conn)
	sent := 0
	announce := func(version int64, prices map[string]*typesv1.Money) {
		t.Helper()
		ev := &eventsv1.VariantPricesChanged{ProductId: "p-1", Version: version}
		for _, id := range []string{a, b} {
			if m, ok := prices[id]; ok {
				ev.Variants = append(ev.Variants, &eventsv1.VariantPrice{VariantId: id, Sku: "SKU-" + id[:4], Price: m})
			}
		}
		body, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(ctx, amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyVariantPricesChanged, Body: body}); err != nil {
			t.Fatal(err)
		}
		sent++
		waitHandled(t, q, sent)
	}
	// unit waits until the API quotes want for id (0: no price).
	unit := func(id string, want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		var got int64
		for {
			q, err := quoteVariant(t, c, id, "")
			got = 0
			if err == nil {
				got = q.GetLines()[0].GetUnitPrice().GetAmountMinor()
			}
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("variant %s quotes %d (%v), want %d", id, got, err, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	source := func(id string) pricingv1.VariantPriceSource {
		t.Helper()
		got, err := c.GetVariantPrices(admin, &pricingv1.GetVariantPricesRequest{VariantId: id})
		if err != nil || len(got.GetPrices()) != 1 {
			t.Fatalf("prices of %s: %v %v", id, got, err)
		}
		return got.GetPrices()[0].GetSource()
	}

	announce(2, map[string]*typesv1.Money{a: usd(1500), b: usd(900)})
	unit(a, 1500)
	unit(b, 900)
	if s := source(a); s != pricingv1.VariantPriceSource_VARIANT_PRICE_SOURCE_CATALOG {
		t.Fatalf("source %v", s)
	}

	// An older version arriving late, and a redelivery of the same version
	// with other prices, change nothing.
	announce(1, map[string]*typesv1.Money{a: usd(100), b: usd(100)})
	announce(2, map[string]*typesv1.Money{a: usd(200)})
	unit(a, 1500)
	unit(b, 900)

	// An admin's price is explicit: the catalog's next price does not
	// replace it, but still reaches the variants without one.
	if _, err := c.SetVariantPrices(admin, &pricingv1.SetVariantPricesRequest{Prices: []*pricingv1.VariantPrice{
		{VariantId: a, Region: "*", Price: usd(2000)}}}); err != nil {
		t.Fatal(err)
	}
	announce(3, map[string]*typesv1.Money{a: usd(1700), b: usd(950)})
	unit(a, 2000)
	unit(b, 950)
	if s := source(a); s != pricingv1.VariantPriceSource_VARIANT_PRICE_SOURCE_ADMIN {
		t.Fatalf("source %v", s)
	}

	// Once the admin's price is deleted, the catalog's next price is the
	// default again; a stale one is still stale.
	if _, err := c.DeleteVariantPrices(admin, &pricingv1.DeleteVariantPricesRequest{VariantId: a}); err != nil {
		t.Fatal(err)
	}
	unit(a, 0)
	announce(3, map[string]*typesv1.Money{a: usd(1700)})
	unit(a, 0)
	announce(4, map[string]*typesv1.Money{a: usd(1800)})
	unit(a, 1800)

	// A catalog price in another currency replaces the old one.
	announce(5, map[string]*typesv1.Money{b: money("EUR", 800)})
	got, err := c.GetVariantPrices(admin, &pricingv1.GetVariantPricesRequest{VariantId: b})
	if err != nil || len(got.GetPrices()) != 1 || got.GetPrices()[0].GetPrice().GetCurrency() != "EUR" {
		t.Fatalf("prices of b: %v %v", got, err)
	}

	// An announcement that cannot be applied is dead-lettered, not retried.
	body, _ := proto.Marshal(&eventsv1.VariantPricesChanged{ProductId: "p-1", Version: 9,
		Variants: []*eventsv1.VariantPrice{{VariantId: "not-a-uuid", Price: usd(1)}}})
	if err := pub.Publish(ctx, amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyVariantPricesChanged, Body: body}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for handled(t, q, "dead_letter") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the invalid announcement was not dead-lettered (%d acks, %d retries)", handled(t, q, "ack"), handled(t, q, "retry"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := handled(t, q, "ack"); n != sent {
		t.Fatalf("%d acks, %d valid announcements sent", n, sent)
	}
	if _, err := c.GetVariantPrices(admin, &pricingv1.GetVariantPricesRequest{VariantId: uuid.NewString()}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown variant: %v", err)
	}
}
