package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/amqp"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"

	"github.com/printfleet/printfleet/workers/marketplace/internal/amqpapi"
	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"github.com/printfleet/printfleet/workers/marketplace/internal/testenv"
)

// direct is the worker with its real adapters, the sandbox marketplaces over
// HTTP and the fake catalog over gRPC, but receipts and events in memory and
// deliveries handed to its handler by the test (no broker, no S3).
type direct struct {
	svc         *app.Service
	handle      amqp.Handler
	pub         *testenv.Publisher
	rec         *testenv.Receipts
	sb          *marketplace.Server
	catalog     *testenv.Catalog
	stopCatalog func()
}

func newDirect(t *testing.T, limits marketplace.Limits, opt Options, edit ...func(*app.Deps)) *direct {
	return newDirectWithSecret(t, limits, opt, testenv.Secret, edit...)
}

func newDirectWithSecret(t *testing.T, limits marketplace.Limits, opt Options, secret string, edit ...func(*app.Deps)) *direct {
	t.Helper()
	d := &direct{pub: &testenv.Publisher{}, rec: &testenv.Receipts{}, sb: marketplace.New(marketplace.Options{Limits: limits, Seed: 3}),
		catalog: testenv.NewCatalog()}
	d.catalog.Marketplaces = d.sb
	srv := httptest.NewServer(d.sb)
	t.Cleanup(srv.Close)
	cc, stop := testenv.StartCatalog(t, d.catalog, secret)
	d.stopCatalog = stop
	if opt.RetryMaxAttempts == 0 {
		opt.RetryMaxAttempts, opt.RetryBaseDelay, opt.RetryMaxDelay = 3, 10*time.Millisecond, 50*time.Millisecond
	}
	if opt.PushTimeout == 0 {
		opt.PushTimeout = 20 * time.Second
	}
	d.svc = newTestService(t, testOptions(t, opt), srv.URL, cc, 2*time.Second, d.rec, d.pub, edit...)
	d.handle = amqpapi.Handler(d.svc)
	return d
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A redelivered OrderShipped, one after the other or several at once, is one
// effective push; every resend rewrites the same receipt and republishes the
// same event id.
func TestRedeliveryIsOneEffectivePush(t *testing.T) {
	t.Parallel()
	for _, tc := range testenv.Sellers {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			d := newDirect(t, marketplace.Limits{}, Options{})
			s := tc.Add(d.catalog)
			ev := testenv.Shipped(s, 1)
			del := testenv.Delivery(t, eventsv1.KeyOrderShipped, ev)
			// Deliveries at once first: nothing is at the marketplace yet, so
			// each would find the shipment missing if they were not serialised.
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					if err := d.handle(ctxT(t), del); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			for range 2 {
				if err := d.handle(ctxT(t), del); err != nil {
					t.Fatal(err)
				}
			}

			rep := d.sb.Received(s.Market)
			if n := rep.PushesByOrder[testenv.MarketOrder(s, ev)]; n != 1 || rep.Counters.Duplicates != 0 || rep.Counters.OverBudget != 0 {
				t.Fatalf("effective pushes %d, counters %+v", n, rep.Counters)
			}
			msgs := d.pub.All()
			if len(msgs) != 6 {
				t.Fatalf("%d events for 6 deliveries", len(msgs))
			}
			for i, m := range msgs {
				ev := testenv.Pushed(t, m)
				if m.ID != msgs[0].ID || ev.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED || ev.GetReceiptKey() != domain.ReceiptKey(s.ID, ev.GetShipmentId()) {
					t.Fatalf("event %d: id %s, %v", i, m.ID, ev)
				}
			}
			var last domain.Receipt
			if err := json.Unmarshal(d.rec.Get(domain.ReceiptKey(s.ID, ev.GetShipmentId())), &last); err != nil {
				t.Fatal(err)
			}
			// Shopify finds the fulfillment order closed and Etsy the tracking
			// on the receipt; Amazon edits the package with the same reference.
			if wantDup := s.Market != marketplace.Amazon; last.Duplicate != wantDup || d.rec.Puts() != 6 || d.rec.Keys() != 1 {
				t.Fatalf("last receipt duplicate=%v (want %v), %d puts, %d keys", last.Duplicate, wantDup, d.rec.Puts(), d.rec.Keys())
			}
			if d.svc.Pending() != 0 {
				t.Fatal("shipment locks leaked")
			}
		})
	}
}

// Throttling that outlasts the adapter's own retries gives the delivery back
// (a retryable error, no receipt, no event); the next delivery pushes it.
func TestThrottleBeyondAdapterRetriesIsRequeued(t *testing.T) {
	t.Parallel()
	for _, tc := range testenv.Sellers {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			d := newDirect(t, marketplace.Limits{ShopifyRestoreRate: 500}, Options{RetryMaxAttempts: 2})
			s := tc.Add(d.catalog)
			_ = d.sb.SetFaults(s.Market, marketplace.Faults{ThrottleNext: 3})
			del := testenv.Delivery(t, eventsv1.KeyOrderShipped, testenv.Shipped(s, 2))
			before := testenv.Counter(t, "printfleet_marketplace_budget_exhausted_total", "marketplace", tc.Name, "reason", "throttled")

			err := d.handle(ctxT(t), del)
			if err == nil || amqp.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonThrottled {
				t.Fatalf("first delivery: %v; want a retryable throttle", err)
			}
			if len(d.pub.All()) != 0 || d.rec.Puts() != 0 {
				t.Fatal("a retried push published an event or wrote a receipt")
			}
			if testenv.Counter(t, "printfleet_marketplace_budget_exhausted_total", "marketplace", tc.Name, "reason", "throttled") <= before {
				t.Error("budget exhaustion not counted")
			}
			del.Attempt = 2
			if err := d.handle(ctxT(t), del); err != nil {
				t.Fatal(err)
			}
			c := d.sb.Received(s.Market).Counters
			if c.ThrottledForced != 3 || c.OverBudget != 0 || c.Accepted != 1 {
				t.Fatalf("counters %+v", c)
			}
			if ev := testenv.Pushed(t, d.pub.All()[0]); ev.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED {
				t.Fatalf("event %v", ev)
			}
		})
	}
}

// Failures of the marketplace, the store, the bus or the catalog that may
// pass are retried (an error, not amqp.Permanent); once healed, the resend
// leaves one push.
func TestTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(*direct, testenv.Seller)
		heal   func(*direct, testenv.Seller)
		// pushedFirst: the marketplace got the push before the failure.
		pushedFirst bool
	}{
		{"marketplace 5xx", func(d *direct, s testenv.Seller) { _ = d.sb.SetFaults(s.Market, marketplace.Faults{ErrorRate: 1}) },
			func(d *direct, s testenv.Seller) { _ = d.sb.SetFaults(s.Market, marketplace.Faults{}) }, false},
		{"receipt write", func(d *direct, _ testenv.Seller) { d.rec.Fail(testenv.ErrBoom) }, func(d *direct, _ testenv.Seller) { d.rec.Fail(nil) }, true},
		{"publish", func(d *direct, _ testenv.Seller) { d.pub.Fail(testenv.ErrBoom) }, func(d *direct, _ testenv.Seller) { d.pub.Fail(nil) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDirect(t, marketplace.Limits{}, Options{})
			s := testenv.AddAmazon(d.catalog)
			ev := testenv.Shipped(s, 3)
			del := testenv.Delivery(t, eventsv1.KeyOrderShipped, ev)
			tc.break_(d, s)
			err := d.handle(ctxT(t), del)
			if err == nil || amqp.IsPermanent(err) {
				t.Fatalf("err = %v; want a retryable error", err)
			}
			if len(d.pub.All()) != 0 {
				t.Fatal("an event was published for a delivery that will be retried")
			}
			if got := d.sb.Received(s.Market).PushesByOrder[ev.GetExternalOrderId()]; (got == 1) != tc.pushedFirst {
				t.Fatalf("pushes before the retry: %d", got)
			}
			tc.heal(d, s)
			if err := d.handle(ctxT(t), del); err != nil {
				t.Fatal(err)
			}
			if got := d.sb.Received(s.Market).PushesByOrder[ev.GetExternalOrderId()]; got != 1 {
				t.Fatalf("effective pushes %d, want 1", got)
			}
			if len(d.pub.All()) != 1 || d.rec.Get(domain.ReceiptKey(s.ID, ev.GetShipmentId())) == nil {
				t.Fatal("no event or receipt after the retry")
			}
		})
	}
}

func TestCatalogTroubleIsRetried(t *testing.T) {
	t.Parallel()
	t.Run("catalog down", func(t *testing.T) {
		t.Parallel()
		d := newDirect(t, marketplace.Limits{}, Options{})
		s := testenv.AddEtsy(d.catalog)
		d.stopCatalog()
		err := d.handle(ctxT(t), testenv.Delivery(t, eventsv1.KeyOrderShipped, testenv.Shipped(s, 4)))
		if err == nil || amqp.IsPermanent(err) || errors.Is(err, domain.ErrStoreUnusable) {
			t.Fatalf("err = %v; want a retryable error", err)
		}
		if len(d.pub.All()) != 0 || d.rec.Puts() != 0 {
			t.Fatal("published or wrote a receipt without a store")
		}
	})
	t.Run("our principal refused", func(t *testing.T) {
		t.Parallel()
		d := newDirectWithSecret(t, marketplace.Limits{}, Options{}, "another-secret-entirely-0123")
		s := testenv.AddEtsy(d.catalog)
		err := d.handle(ctxT(t), testenv.Delivery(t, eventsv1.KeyOrderShipped, testenv.Shipped(s, 5)))
		if err == nil || amqp.IsPermanent(err) || !strings.Contains(err.Error(), "Unauthenticated") {
			t.Fatalf("err = %v; want a retryable Unauthenticated", err)
		}
	})
}

// A store that can never be pushed to is a FAILED_PERMANENT event with a
// receipt, and the delivery is acked; nothing reaches a marketplace.
func TestUnusableStoreIsPermanent(t *testing.T) {
	t.Parallel()
	d := newDirect(t, marketplace.Limits{}, Options{})
	unspecified := d.catalog.Add(catalogv1.Marketplace_MARKETPLACE_UNSPECIFIED, "x", &catalogv1.StoreCredentials{})
	badShop := d.catalog.Add(catalogv1.Marketplace_MARKETPLACE_SHOPIFY, "evil.example.com/", &catalogv1.StoreCredentials{AccessToken: "shpat_x"})
	someoneElses := d.catalog.Add(catalogv1.Marketplace_MARKETPLACE_SHOPIFY, "victim-shop", &catalogv1.StoreCredentials{AccessToken: "shpat_victim"})
	for _, tc := range []struct {
		name, storeID, user, want string
	}{
		{"unknown store", uuid.NewString(), "", "not found"},
		{"no marketplace", unspecified, "", "MARKETPLACE_UNSPECIFIED"},
		{"not a shop name", badShop, "", "not a Shopify shop name"},
		{"another seller's store", someoneElses, "mallory", "does not belong to the order's user"},
	} {
		ev := testenv.Shipped(testenv.Seller{ID: tc.storeID, Market: marketplace.Shopify}, 6)
		if tc.user != "" {
			ev.UserId = tc.user
		}
		if err := d.handle(ctxT(t), testenv.Delivery(t, eventsv1.KeyOrderShipped, ev)); err != nil {
			t.Fatalf("%s: %v; want an ack", tc.name, err)
		}
		msgs := d.pub.All()
		got := testenv.Pushed(t, msgs[len(msgs)-1])
		if got.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_FAILED_PERMANENT || !strings.Contains(got.GetMessage(), tc.want) ||
			got.GetHttpStatus() != 0 || got.GetAttempts() != 0 || d.rec.Get(got.GetReceiptKey()) == nil {
			t.Fatalf("%s: event %v", tc.name, got)
		}
	}
	for _, m := range marketplace.Names {
		if n := d.sb.Received(m).Counters.Requests; n != 0 {
			t.Fatalf("%s got %d requests", m, n)
		}
	}
}

// Deliveries that push nothing: an order without a store and every status
// change are acked; a message that cannot be read goes to the .dlq.
func TestDeliveriesThatPushNothing(t *testing.T) {
	t.Parallel()
	d := newDirect(t, marketplace.Limits{}, Options{})
	s := testenv.AddShopify(d.catalog)
	noStore := testenv.Shipped(s, 7)
	noStore.StoreId = ""
	badID := testenv.Shipped(s, 8)
	badID.ShipmentId = "../../etc"
	tests := []struct {
		name      string
		del       amqp.Delivery
		permanent bool
	}{
		{"no store", testenv.Delivery(t, eventsv1.KeyOrderShipped, noStore), false},
		{"status changed", testenv.Delivery(t, eventsv1.KeyOrderStatusChanged, &eventsv1.OrderStatusChanged{OrderId: "o1", FromStatus: "ORDER_STATUS_IN_PRODUCTION",
			ToStatus: "ORDER_STATUS_SHIPPED", StoreId: s.ID, ExternalOrderId: "5001"}), false},
		{"cancelled", testenv.Delivery(t, eventsv1.KeyOrderStatusChanged, &eventsv1.OrderStatusChanged{OrderId: "o1", ToStatus: "ORDER_STATUS_CANCELLED", StoreId: s.ID}), false},
		{"unreadable", amqp.Delivery{ID: "m1", Type: eventsv1.KeyOrderShipped, Body: []byte{0xff, 0xff, 0xff}}, true},
		{"unreadable status", amqp.Delivery{ID: "m2", Type: eventsv1.KeyOrderStatusChanged, Body: []byte{0xff, 0xff, 0xff}}, true},
		{"unsafe id", testenv.Delivery(t, eventsv1.KeyOrderShipped, badID), true},
		{"unexpected type", amqp.Delivery{ID: "m3", Type: eventsv1.KeyOrderPaid}, true},
	}
	for _, tc := range tests {
		err := d.handle(ctxT(t), tc.del)
		if tc.permanent != amqp.IsPermanent(err) || (!tc.permanent && err != nil) {
			t.Errorf("%s: err = %v, want permanent=%v", tc.name, err, tc.permanent)
		}
	}
	if len(d.pub.All()) != 0 || d.rec.Puts() != 0 || d.catalog.Lookups(s.ID) != 0 || d.sb.Received(marketplace.Shopify).Counters.Requests != 0 {
		t.Fatal("something was looked up, pushed, written or published")
	}
}

// Secrets that a marketplace echoes back never reach the receipt or the event.
func TestEchoedSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	var api string // the store's API key, known once it is connected
	d := newDirect(t, marketplace.Limits{}, Options{}, func(deps *app.Deps) {
		deps.Marketplaces = pusherFunc(func(_ context.Context, st domain.Store, _ domain.Shipment) (domain.Result, error) {
			body := `{"error":"invalid_grant","echo":"` + st.Credentials.RefreshToken + `","key":"` + st.Credentials.APIKey + `"}`
			return domain.Result{Status: 400, Attempts: 1, Response: domain.ResponseSummary{Status: 400, Body: body},
					Calls: []domain.Call{{Request: domain.RequestSummary{Method: "POST", URL: "https://x/y", Body: "k=" + st.Credentials.AccessToken},
						Response: domain.ResponseSummary{Status: 400, Body: body}}}},
				&domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid, Marketplace: domain.Etsy, Op: "createReceiptShipment",
					Status: 400, Message: "refused " + st.Credentials.RefreshToken + " for " + api}
		})
	})
	s := testenv.AddEtsy(d.catalog)
	api = s.Secrets[0]
	refresh := s.Secrets[3]
	ev := testenv.Shipped(s, 9)
	if err := d.handle(ctxT(t), testenv.Delivery(t, eventsv1.KeyOrderShipped, ev)); err != nil {
		t.Fatal(err)
	}
	got := testenv.Pushed(t, d.pub.All()[0])
	raw := d.rec.Get(got.GetReceiptKey())
	testenv.AssertNoSecrets(t, "receipt", raw, s)
	testenv.AssertNoSecrets(t, "event message", []byte(got.GetMessage()), s)
	if !strings.Contains(string(raw), "[redacted]") || !strings.Contains(got.GetMessage(), "[redacted]") || strings.Contains(got.GetMessage(), refresh) {
		t.Fatalf("nothing was redacted: %s / %s", raw, got.GetMessage())
	}
}

type pusherFunc func(context.Context, domain.Store, domain.Shipment) (domain.Result, error)

func (f pusherFunc) PushShipment(ctx context.Context, st domain.Store, s domain.Shipment) (domain.Result, error) {
	return f(ctx, st, s)
}
