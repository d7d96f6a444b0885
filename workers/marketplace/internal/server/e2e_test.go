package server

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/amqp"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

// One test per marketplace through the whole worker: OrderShipped published
// on RabbitMQ → store from the catalog over gRPC → tracking at the sandbox
// marketplace over HTTP → receipt in S3 → MarketplacePushed on RabbitMQ.
func TestPushEachMarketplaceEndToEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		add    func(*testenv.Catalog) testenv.Seller
		status int32
		// expire makes the store's access token stale, so the push must
		// refresh it first.
		expire bool
	}{
		{"shopify", testenv.AddShopify, 200, false},
		{"etsy", testenv.AddEtsy, 200, true},
		{"amazon", testenv.AddAmazon, 204, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			s := tc.add(h.catalog)
			if tc.expire {
				if err := h.sb.SetFaults(s.Market, marketplace.Faults{ExpireTokens: true}); err != nil {
					t.Fatal(err)
				}
			}
			ev := testenv.Shipped(s, 1)
			h.publish("", ev, eventsv1.KeyOrderShipped)

			got := h.eventFor(ev.GetShipmentId(), 20*time.Second)
			if got.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED || got.GetOrderId() != ev.GetOrderId() ||
				got.GetStoreId() != s.ID || got.GetMarketplace() != tc.name || got.GetHttpStatus() != tc.status ||
				got.GetAttempts() < 1 || got.GetReceiptKey() != domain.ReceiptKey(s.ID, ev.GetShipmentId()) {
				t.Fatalf("event: %v", got)
			}

			rep := h.sb.Received(s.Market)
			if len(rep.Pushes) != 1 || rep.Pushes[0].TrackingNumber != ev.GetTrackingNumber() || rep.Pushes[0].Order != testenv.MarketOrder(s, ev) ||
				rep.Counters.OverBudget != 0 {
				t.Fatalf("the marketplace saw %+v, counters %+v", rep.Pushes, rep.Counters)
			}
			if tc.expire && rep.Counters.TokenRefreshes != 1 {
				t.Fatalf("token refreshes = %d, want 1", rep.Counters.TokenRefreshes)
			}

			r, raw := h.s3.Receipt(t, got.GetReceiptKey())
			if r.Outcome != "SUCCEEDED" || r.ShipmentID != ev.GetShipmentId() || r.StoreID != s.ID || r.Marketplace != tc.name ||
				r.HTTPStatus != int(tc.status) || r.Attempts != int(got.GetAttempts()) || len(r.Calls) < 1 || r.Reference == "" ||
				r.Request.Method != "POST" || r.Response.Status != int(tc.status) || r.Error != nil {
				t.Fatalf("receipt: %s", raw)
			}
			testenv.AssertNoSecrets(t, "receipt", raw, s)
			testenv.AssertNoSecrets(t, "event message", []byte(got.GetMessage()), s)
			if tc.expire {
				var exchanged bool
				for _, c := range r.Calls {
					if c.Token {
						exchanged = true
						if c.Request.Body != "[redacted]" || c.Response.Body != "[redacted]" {
							t.Fatalf("token exchange bodies in the receipt: %+v", c)
						}
					}
				}
				if !exchanged {
					t.Fatalf("the receipt does not show the token exchange: %s", raw)
				}
			}
			h.stop()
			if n := h.depth(h.queue); n != 0 {
				t.Fatalf("%d deliveries left in the queue", n)
			}
		})
	}
}

// A throttle storm on all three marketplaces, with every OrderShipped
// delivered twice: nothing reaches a marketplace beyond its budget, every
// push eventually succeeds (the storm outlasts the adapters' own retries, so
// deliveries go back to the queue), and each shipment is pushed once.
func TestThrottleStormStaysWithinBudgetAndPushesOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{
		limits: marketplace.Limits{ShopifyBucketSize: 200, ShopifyRestoreRate: 100, EtsyPerSecond: 5,
			AmazonRate: 4, AmazonBurst: 4},
		options: Options{Concurrency: 16, RetryMaxAttempts: 2, RetryBaseDelay: 20 * time.Millisecond,
			RetryMaxDelay: 100 * time.Millisecond},
		deliveryLimit: 40, retryMin: 100 * time.Millisecond, retryMax: 400 * time.Millisecond,
	})
	sellers := []testenv.Seller{testenv.AddShopify(h.catalog), testenv.AddEtsy(h.catalog), testenv.AddAmazon(h.catalog)}
	for _, s := range sellers {
		if err := h.sb.SetFaults(s.Market, marketplace.Faults{Throttle: true}); err != nil {
			t.Fatal(err)
		}
	}
	const per = 5
	type sent struct {
		s  testenv.Seller
		ev *eventsv1.OrderShipped
	}
	var all []sent
	for i := range per {
		for _, s := range sellers {
			ev := testenv.Shipped(s, 100+i)
			all = append(all, sent{s, ev})
		}
	}
	// Each event twice, under one message id, as a redelivery would bring it.
	for _, x := range all {
		id := h.publish("", x.ev, eventsv1.KeyOrderShipped)
		h.publish(id, x.ev, eventsv1.KeyOrderShipped)
	}
	time.Sleep(1500 * time.Millisecond)
	for _, s := range sellers {
		if err := h.sb.SetFaults(s.Market, marketplace.Faults{}); err != nil {
			t.Fatal(err)
		}
	}

	// Every delivery ends with an event: two per shipment.
	h.waitEvents(60*time.Second, func(evs []*eventsv1.MarketplacePushed) bool { return len(evs) >= 2*len(all) })
	h.mu.Lock()
	idsByShipment := map[string]map[string]bool{}
	for i, ev := range h.events {
		if ev.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED {
			t.Errorf("shipment %s: %v %s", ev.GetShipmentId(), ev.GetOutcome(), ev.GetMessage())
		}
		if idsByShipment[ev.GetShipmentId()] == nil {
			idsByShipment[ev.GetShipmentId()] = map[string]bool{}
		}
		idsByShipment[ev.GetShipmentId()][h.ids[i]] = true
	}
	h.mu.Unlock()
	for _, x := range all {
		if n := len(idsByShipment[x.ev.GetShipmentId()]); n != 1 {
			t.Errorf("shipment %s: %d distinct event ids, want 1 (the orders inbox dedupes on it)", x.ev.GetShipmentId(), n)
		}
	}

	handled := 0
	for _, s := range sellers {
		rep := h.sb.Received(s.Market)
		c := rep.Counters
		t.Logf("%s: %+v", s.Market, c)
		if c.OverBudget != 0 || c.RejectedBudget != 0 {
			t.Errorf("%s: requests beyond the budget: over_budget %d, rejected_budget %d", s.Market, c.OverBudget, c.RejectedBudget)
		}
		if c.ThrottledForced == 0 {
			t.Errorf("%s: the storm throttled nothing", s.Market)
		}
		if len(rep.Pushes) != per || c.Duplicates != 0 {
			t.Errorf("%s: %d pushes, %d duplicates; want %d and 0", s.Market, len(rep.Pushes), c.Duplicates, per)
		}
		handled += h.catalog.Lookups(s.ID)
	}
	// Handled more than twice per shipment: the storm outlasted the adapters'
	// own retries and the consumer requeued deliveries.
	if handled <= 2*len(all) {
		t.Errorf("%d deliveries handled for %d sent: no consumer retries", handled, 2*len(all))
	}
	for _, x := range all {
		if n := h.sb.Received(x.s.Market).PushesByOrder[testenv.MarketOrder(x.s, x.ev)]; n != 1 {
			t.Errorf("%s order %s: %d effective pushes, want 1", x.s.Market, testenv.MarketOrder(x.s, x.ev), n)
		}
	}
	h.stop()
	if n, d := h.depth(h.queue), h.depth(amqp.DLQName(h.queue)); n != 0 || d != 0 {
		t.Fatalf("queue %d, dead letters %d; want 0 and 0", n, d)
	}
}

// A permanent 4xx from the marketplace, and a store the catalog does not
// know, each land as one FAILED_PERMANENT MarketplacePushed with a receipt,
// and the delivery is acked: handled once, nothing requeued or dead-lettered.
func TestPermanentFailureIsReportedOnceAndAcked(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	s := testenv.AddEtsy(h.catalog)
	bad := testenv.Shipped(s, 7)
	bad.TrackingNumber = "no!" // Etsy answers 400 tracking_code is invalid
	h.publish("", bad, eventsv1.KeyOrderShipped)

	missing := testenv.Shipped(testenv.Seller{ID: uuid.NewString(), Market: marketplace.Etsy}, 8)
	h.publish("", missing, eventsv1.KeyOrderShipped)

	got := h.eventFor(bad.GetShipmentId(), 20*time.Second)
	if got.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_FAILED_PERMANENT || got.GetHttpStatus() != 400 ||
		got.GetMarketplace() != "etsy" || !strings.Contains(got.GetMessage(), "tracking_code") || got.GetReceiptKey() == "" {
		t.Fatalf("event: %v", got)
	}
	r, raw := h.s3.Receipt(t, got.GetReceiptKey())
	if r.Outcome != "FAILED_PERMANENT" || r.Error == nil || r.Error.Reason != "invalid" || r.HTTPStatus != 400 {
		t.Fatalf("receipt: %s", raw)
	}
	testenv.AssertNoSecrets(t, "receipt", raw, s)

	gone := h.eventFor(missing.GetShipmentId(), 20*time.Second)
	if gone.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_FAILED_PERMANENT || gone.GetMarketplace() != domain.UnknownMarketplace ||
		!strings.Contains(gone.GetMessage(), "not found") || gone.GetHttpStatus() != 0 {
		t.Fatalf("event for the unknown store: %v", gone)
	}
	if r, raw := h.s3.Receipt(t, gone.GetReceiptKey()); r.Outcome != "FAILED_PERMANENT" || len(r.Calls) != 0 {
		t.Fatalf("receipt for the unknown store: %s", raw)
	}

	time.Sleep(500 * time.Millisecond) // room for a loop to show itself
	h.stop()
	if n := h.catalog.Lookups(s.ID); n != 1 {
		t.Errorf("the failing delivery was handled %d times, want 1", n)
	}
	if n := h.catalog.Lookups(missing.GetStoreId()); n != 1 {
		t.Errorf("the unknown store's delivery was handled %d times, want 1", n)
	}
	if c := h.sb.Received(marketplace.Etsy).Counters; c.ValidationErrors != 1 || c.Requests != 2 || c.Accepted != 0 {
		t.Errorf("etsy counters: %+v (one read, one refused POST expected)", c)
	}
	h.mu.Lock()
	n := len(h.events)
	h.mu.Unlock()
	if n != 2 {
		t.Errorf("%d events, want 2", n)
	}
	if q, d := h.depth(h.queue), h.depth(amqp.DLQName(h.queue)); q != 0 || d != 0 {
		t.Fatalf("queue %d, dead letters %d; want 0 and 0", q, d)
	}
}

// SIGTERM drains: a push in flight finishes (receipt, event, ack) before Run
// returns; a push still running after DrainTimeout is cut and its delivery
// requeued.
func TestGracefulDrain(t *testing.T) {
	t.Parallel()
	t.Run("in-flight push finishes", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{})
		s := testenv.AddAmazon(h.catalog)
		_ = h.sb.SetFaults(s.Market, marketplace.Faults{LatencyMS: 700})
		ev := testenv.Shipped(s, 1)
		h.publish("", ev, eventsv1.KeyOrderShipped)
		testenv.WaitFor(t, 10*time.Second, func() bool { return h.sb.Received(s.Market).Counters.Requests > 0 })
		began := time.Now()
		h.stop()
		if el := time.Since(began); el < 300*time.Millisecond {
			t.Fatalf("Run returned after %v, before the push in flight could finish", el)
		}
		if got := h.eventFor(ev.GetShipmentId(), 5*time.Second); got.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED {
			t.Fatalf("event: %v", got)
		}
		if n := h.depth(h.queue); n != 0 {
			t.Fatalf("%d deliveries left; the finished one should be acked", n)
		}
	})
	t.Run("a push past the drain timeout is requeued", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{options: Options{DrainTimeout: 200 * time.Millisecond}})
		s := testenv.AddAmazon(h.catalog)
		_ = h.sb.SetFaults(s.Market, marketplace.Faults{LatencyMS: 2500})
		ev := testenv.Shipped(s, 2)
		h.publish("", ev, eventsv1.KeyOrderShipped)
		testenv.WaitFor(t, 10*time.Second, func() bool { return h.sb.Received(s.Market).Counters.Requests > 0 })
		began := time.Now()
		h.stop()
		if el := time.Since(began); el > 3*time.Second {
			t.Fatalf("Run returned after %v; the drain timeout is 200ms", el)
		}
		testenv.WaitFor(t, 5*time.Second, func() bool { return h.depth(h.queue) == 1 })
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.events) != 0 {
			t.Fatalf("events for a cut push: %v", h.events)
		}
	})
}
