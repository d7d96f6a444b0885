package worker

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
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/config"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/sandbox/marketplace"

	"github.com/printfleet/printfleet/workers/marketplace/internal/adapters"
)

// direct is the worker with its real adapters, the sandbox marketplaces over
// HTTP and the fake catalog over gRPC, but receipts and events in memory and
// deliveries handed to Handle by the test (no broker, no S3).
type direct struct {
	w           *Worker
	pub         *memPub
	rec         *memReceipts
	sb          *marketplace.Server
	catalog     *fakeCatalog
	stopCatalog func()
}

func newDirect(t *testing.T, limits marketplace.Limits, opt Options) *direct {
	return newDirectWithSecret(t, limits, opt, internalSecret)
}

func newDirectWithSecret(t *testing.T, limits marketplace.Limits, opt Options, secret string) *direct {
	t.Helper()
	d := &direct{pub: &memPub{}, rec: &memReceipts{}, sb: marketplace.New(marketplace.Options{Limits: limits, Seed: 3}),
		catalog: &fakeCatalog{stores: map[string]*catalogv1.GetStoreCredentialsResponse{}, calls: map[string]int{}}}
	srv := httptest.NewServer(d.sb)
	t.Cleanup(srv.Close)
	cc, stop := startCatalog(t, d.catalog, secret)
	d.stopCatalog = stop
	if opt.RetryMaxAttempts == 0 {
		opt.RetryMaxAttempts, opt.RetryBaseDelay, opt.RetryMaxDelay = 3, 10*time.Millisecond, 50*time.Millisecond
	}
	if opt.PushTimeout == 0 {
		opt.PushTimeout = 20 * time.Second
	}
	router, tokens := NewRouter(opt, discard)
	w, err := New(opt, Endpoints{ShopifyURL: srv.URL + "/shopify", EtsyURL: srv.URL + "/etsy", AmazonURL: srv.URL + "/amazon"},
		Deps{Stores: NewCatalog(cc, 2*time.Second), Pusher: router, Receipts: d.rec, Publisher: d.pub, Tokens: tokens, Log: discard})
	if err != nil {
		t.Fatal(err)
	}
	d.w = w
	return d
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var sellers = []struct {
	name string
	add  func(*fakeCatalog) seller
}{{"shopify", addShopify}, {"etsy", addEtsy}, {"amazon", addAmazon}}

// A redelivered OrderShipped, one after the other or several at once, is one
// effective push; every resend rewrites the same receipt and republishes the
// same event id.
func TestRedeliveryIsOneEffectivePush(t *testing.T) {
	t.Parallel()
	for _, tc := range sellers {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDirect(t, marketplace.Limits{}, Options{})
			s := tc.add(d.catalog)
			ev := shipped(s, 1)
			del := delivery(t, TypeOrderShipped, ev)
			// Deliveries at once first: nothing is at the marketplace yet, so
			// each would find the shipment missing if they were not serialised.
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					if err := d.w.Handle(ctxT(t), del); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			for range 2 {
				if err := d.w.Handle(ctxT(t), del); err != nil {
					t.Fatal(err)
				}
			}

			rep := d.sb.Received(s.m)
			if n := rep.PushesByOrder[marketOrder(s, ev)]; n != 1 || rep.Counters.Duplicates != 0 || rep.Counters.OverBudget != 0 {
				t.Fatalf("effective pushes %d, counters %+v", n, rep.Counters)
			}
			msgs := d.pub.all()
			if len(msgs) != 6 {
				t.Fatalf("%d events for 6 deliveries", len(msgs))
			}
			for i, m := range msgs {
				ev := pushed(t, m)
				if m.ID != msgs[0].ID || ev.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED || ev.GetReceiptKey() != ReceiptKey(s.id, ev.GetShipmentId()) {
					t.Fatalf("event %d: id %s, %v", i, m.ID, ev)
				}
			}
			var last Receipt
			if err := json.Unmarshal(d.rec.get(ReceiptKey(s.id, ev.GetShipmentId())), &last); err != nil {
				t.Fatal(err)
			}
			// Shopify finds the fulfillment order closed and Etsy the tracking
			// on the receipt; Amazon edits the package with the same reference.
			if wantDup := s.m != marketplace.Amazon; last.Duplicate != wantDup || d.rec.puts != 6 || len(d.rec.m) != 1 {
				t.Fatalf("last receipt duplicate=%v (want %v), %d puts, %d keys", last.Duplicate, wantDup, d.rec.puts, len(d.rec.m))
			}
			if d.w.locks.held() != 0 {
				t.Fatal("shipment locks leaked")
			}
		})
	}
}

// Throttling that outlasts the adapter's own retries gives the delivery back
// (a retryable error, no receipt, no event); the next delivery pushes it.
func TestThrottleBeyondAdapterRetriesIsRequeued(t *testing.T) {
	t.Parallel()
	for _, tc := range sellers {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDirect(t, marketplace.Limits{ShopifyRestoreRate: 500}, Options{RetryMaxAttempts: 2})
			s := tc.add(d.catalog)
			_ = d.sb.SetFaults(s.m, marketplace.Faults{ThrottleNext: 3})
			del := delivery(t, TypeOrderShipped, shipped(s, 2))
			before := testutil.ToFloat64(budgetExhausted.WithLabelValues(tc.name, "throttled"))

			err := d.w.Handle(ctxT(t), del)
			if err == nil || amqp.IsPermanent(err) || adapters.ReasonOf(err) != adapters.ReasonThrottled {
				t.Fatalf("first delivery: %v; want a retryable throttle", err)
			}
			if len(d.pub.all()) != 0 || d.rec.puts != 0 {
				t.Fatal("a retried push published an event or wrote a receipt")
			}
			if testutil.ToFloat64(budgetExhausted.WithLabelValues(tc.name, "throttled")) <= before {
				t.Error("budget exhaustion not counted")
			}
			del.Attempt = 2
			if err := d.w.Handle(ctxT(t), del); err != nil {
				t.Fatal(err)
			}
			c := d.sb.Received(s.m).Counters
			if c.ThrottledForced != 3 || c.OverBudget != 0 || c.Accepted != 1 {
				t.Fatalf("counters %+v", c)
			}
			if ev := pushed(t, d.pub.all()[0]); ev.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_SUCCEEDED {
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
		break_ func(*direct, seller)
		heal   func(*direct, seller)
		// pushedFirst: the marketplace got the push before the failure.
		pushedFirst bool
	}{
		{"marketplace 5xx", func(d *direct, s seller) { _ = d.sb.SetFaults(s.m, marketplace.Faults{ErrorRate: 1}) },
			func(d *direct, s seller) { _ = d.sb.SetFaults(s.m, marketplace.Faults{}) }, false},
		{"receipt write", func(d *direct, _ seller) { d.rec.err = errBoom }, func(d *direct, _ seller) { d.rec.err = nil }, true},
		{"publish", func(d *direct, _ seller) { d.pub.err = errBoom }, func(d *direct, _ seller) { d.pub.err = nil }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDirect(t, marketplace.Limits{}, Options{})
			s := addAmazon(d.catalog)
			ev := shipped(s, 3)
			del := delivery(t, TypeOrderShipped, ev)
			tc.break_(d, s)
			err := d.w.Handle(ctxT(t), del)
			if err == nil || amqp.IsPermanent(err) {
				t.Fatalf("err = %v; want a retryable error", err)
			}
			if len(d.pub.all()) != 0 {
				t.Fatal("an event was published for a delivery that will be retried")
			}
			if got := d.sb.Received(s.m).PushesByOrder[ev.GetExternalOrderId()]; (got == 1) != tc.pushedFirst {
				t.Fatalf("pushes before the retry: %d", got)
			}
			tc.heal(d, s)
			if err := d.w.Handle(ctxT(t), del); err != nil {
				t.Fatal(err)
			}
			if got := d.sb.Received(s.m).PushesByOrder[ev.GetExternalOrderId()]; got != 1 {
				t.Fatalf("effective pushes %d, want 1", got)
			}
			if len(d.pub.all()) != 1 || d.rec.get(ReceiptKey(s.id, ev.GetShipmentId())) == nil {
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
		s := addEtsy(d.catalog)
		d.stopCatalog()
		err := d.w.Handle(ctxT(t), delivery(t, TypeOrderShipped, shipped(s, 4)))
		if err == nil || amqp.IsPermanent(err) || errors.Is(err, ErrStoreUnusable) {
			t.Fatalf("err = %v; want a retryable error", err)
		}
		if len(d.pub.all()) != 0 || d.rec.puts != 0 {
			t.Fatal("published or wrote a receipt without a store")
		}
	})
	t.Run("our principal refused", func(t *testing.T) {
		t.Parallel()
		d := newDirectWithSecret(t, marketplace.Limits{}, Options{}, "another-secret-entirely-0123")
		s := addEtsy(d.catalog)
		err := d.w.Handle(ctxT(t), delivery(t, TypeOrderShipped, shipped(s, 5)))
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
	unspecified := d.catalog.add(catalogv1.Marketplace_MARKETPLACE_UNSPECIFIED, "x", &catalogv1.StoreCredentials{})
	badShop := d.catalog.add(catalogv1.Marketplace_MARKETPLACE_SHOPIFY, "evil.example.com/", &catalogv1.StoreCredentials{AccessToken: "shpat_x"})
	someoneElses := d.catalog.add(catalogv1.Marketplace_MARKETPLACE_SHOPIFY, "victim-shop", &catalogv1.StoreCredentials{AccessToken: "shpat_victim"})
	for _, tc := range []struct {
		name, storeID, user, want string
	}{
		{"unknown store", uuid.NewString(), "", "not found"},
		{"no marketplace", unspecified, "", "MARKETPLACE_UNSPECIFIED"},
		{"not a shop name", badShop, "", "not a Shopify shop name"},
		{"another seller's store", someoneElses, "mallory", "does not belong to the order's user"},
	} {
		ev := shipped(seller{id: tc.storeID, m: marketplace.Shopify}, 6)
		if tc.user != "" {
			ev.UserId = tc.user
		}
		if err := d.w.Handle(ctxT(t), delivery(t, TypeOrderShipped, ev)); err != nil {
			t.Fatalf("%s: %v; want an ack", tc.name, err)
		}
		msgs := d.pub.all()
		got := pushed(t, msgs[len(msgs)-1])
		if got.GetOutcome() != eventsv1.PushOutcome_PUSH_OUTCOME_FAILED_PERMANENT || !strings.Contains(got.GetMessage(), tc.want) ||
			got.GetHttpStatus() != 0 || got.GetAttempts() != 0 || d.rec.get(got.GetReceiptKey()) == nil {
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
	s := addShopify(d.catalog)
	noStore := shipped(s, 7)
	noStore.StoreId = ""
	badID := shipped(s, 8)
	badID.ShipmentId = "../../etc"
	tests := []struct {
		name      string
		del       amqp.Delivery
		permanent bool
	}{
		{"no store", delivery(t, TypeOrderShipped, noStore), false},
		{"status changed", delivery(t, TypeOrderStatusChanged, &eventsv1.OrderStatusChanged{OrderId: "o1", FromStatus: "ORDER_STATUS_IN_PRODUCTION",
			ToStatus: "ORDER_STATUS_SHIPPED", StoreId: s.id, ExternalOrderId: "5001"}), false},
		{"cancelled", delivery(t, TypeOrderStatusChanged, &eventsv1.OrderStatusChanged{OrderId: "o1", ToStatus: "ORDER_STATUS_CANCELLED", StoreId: s.id}), false},
		{"unreadable", amqp.Delivery{ID: "m1", Type: TypeOrderShipped, Body: []byte{0xff, 0xff, 0xff}}, true},
		{"unreadable status", amqp.Delivery{ID: "m2", Type: TypeOrderStatusChanged, Body: []byte{0xff, 0xff, 0xff}}, true},
		{"unsafe id", delivery(t, TypeOrderShipped, badID), true},
		{"unexpected type", amqp.Delivery{ID: "m3", Type: "orders.order_paid.v1"}, true},
	}
	for _, tc := range tests {
		err := d.w.Handle(ctxT(t), tc.del)
		if tc.permanent != amqp.IsPermanent(err) || (!tc.permanent && err != nil) {
			t.Errorf("%s: err = %v, want permanent=%v", tc.name, err, tc.permanent)
		}
	}
	if len(d.pub.all()) != 0 || d.rec.puts != 0 || d.catalog.lookups(s.id) != 0 || d.sb.Received(marketplace.Shopify).Counters.Requests != 0 {
		t.Fatal("something was looked up, pushed, written or published")
	}
}

// Secrets that a marketplace echoes back never reach the receipt or the event.
func TestEchoedSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	d := newDirect(t, marketplace.Limits{}, Options{})
	s := addEtsy(d.catalog)
	api, refresh := s.secrets[0], s.secrets[3]
	d.w.d.Pusher = pusherFunc(func(_ context.Context, st adapters.Store, _ adapters.Shipment) (adapters.Result, error) {
		body := `{"error":"invalid_grant","echo":"` + st.Credentials.RefreshToken + `","key":"` + st.Credentials.APIKey + `"}`
		return adapters.Result{Status: 400, Attempts: 1, Response: adapters.ResponseSummary{Status: 400, Body: body},
				Calls: []adapters.Call{{Request: adapters.RequestSummary{Method: "POST", URL: "https://x/y", Body: "k=" + st.Credentials.AccessToken},
					Response: adapters.ResponseSummary{Status: 400, Body: body}}}},
			&adapters.Error{Kind: adapters.KindPermanent, Reason: adapters.ReasonInvalid, Marketplace: adapters.Etsy, Op: "createReceiptShipment",
				Status: 400, Message: "refused " + st.Credentials.RefreshToken + " for " + api}
	})
	ev := shipped(s, 9)
	if err := d.w.Handle(ctxT(t), delivery(t, TypeOrderShipped, ev)); err != nil {
		t.Fatal(err)
	}
	got := pushed(t, d.pub.all()[0])
	raw := d.rec.get(got.GetReceiptKey())
	assertNoSecrets(t, "receipt", raw, s)
	assertNoSecrets(t, "event message", []byte(got.GetMessage()), s)
	if !strings.Contains(string(raw), "[redacted]") || !strings.Contains(got.GetMessage(), "[redacted]") || strings.Contains(got.GetMessage(), refresh) {
		t.Fatalf("nothing was redacted: %s / %s", raw, got.GetMessage())
	}
}

type pusherFunc func(context.Context, adapters.Store, adapters.Shipment) (adapters.Result, error)

func (f pusherFunc) PushShipment(ctx context.Context, st adapters.Store, s adapters.Shipment) (adapters.Result, error) {
	return f(ctx, st, s)
}

func TestToShipment(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	got := toShipment(&eventsv1.OrderShipped{OrderId: "o", ShipmentId: "sh", ExternalOrderId: "902-1", Carrier: "UPS",
		TrackingNumber: "1Z", TrackingUrl: "https://t", ShippedAt: timestamppb.New(at),
		Items: []*eventsv1.OrderPlacedItem{{ItemId: "11", Sku: "A", Quantity: 2}, {ItemId: "12", Sku: "B", Quantity: 1}}})
	want := adapters.Shipment{ShipmentID: "sh", OrderID: "o", ExternalOrderID: "902-1", Carrier: "UPS", TrackingNumber: "1Z",
		TrackingURL: "https://t", ShippedAt: at, Items: []adapters.Item{{ExternalID: "11", SKU: "A", Quantity: 2}, {ExternalID: "12", SKU: "B", Quantity: 1}}}
	if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
		t.Fatalf("got %s\nwant %s", g, w)
	}
	if s := toShipment(&eventsv1.OrderShipped{}); !s.ShippedAt.IsZero() {
		t.Fatal("no shipped_at must stay zero (the adapter uses now)")
	}
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	def := Endpoints{ShopifyURL: "http://127.0.0.1:9302/shopify", EtsyURL: "http://127.0.0.1:9302/etsy", AmazonURL: "http://127.0.0.1:9302/amazon"}
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]Endpoints{
		"missing":      {EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL},
		"relative":     {ShopifyURL: "/shopify", EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL},
		"user info":    {ShopifyURL: def.ShopifyURL, EtsyURL: "https://u:p@api.etsy.com", AmazonURL: def.AmazonURL},
		"query":        {ShopifyURL: def.ShopifyURL, EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL, AmazonTokenURL: "https://api.amazon.com/auth?x=1"},
		"scheme":       {ShopifyURL: "file:///etc", EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL},
		"shop twice":   {ShopifyURL: "https://{shop}.myshopify.com/{shop}", EtsyURL: def.EtsyURL, AmazonURL: def.AmazonURL},
		"token scheme": {ShopifyURL: def.ShopifyURL, EtsyURL: def.EtsyURL, EtsyTokenURL: "ftp://x", AmazonURL: def.AmazonURL},
	} {
		if err := e.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	prod := Endpoints{ShopifyURL: "https://{shop}.myshopify.com", EtsyURL: "https://api.etsy.com",
		AmazonURL: "https://sellingpartnerapi-na.amazon.com", AmazonTokenURL: "https://api.amazon.com/auth/o2/token"}
	tests := []struct {
		e         Endpoints
		in        adapters.Store
		base, tok string
		bad       bool
	}{
		{def, adapters.Store{Marketplace: adapters.Shopify, ShopID: "Acme-Tees"}, "http://127.0.0.1:9302/shopify/acme-tees", "", false},
		{prod, adapters.Store{Marketplace: adapters.Shopify, ShopID: "acme.myshopify.com"}, "https://acme.myshopify.com", "", false},
		{prod, adapters.Store{Marketplace: adapters.Shopify, ShopID: "evil.com#"}, "", "", true},
		{prod, adapters.Store{Marketplace: adapters.Shopify, ShopID: "a.b"}, "", "", true},
		{prod, adapters.Store{Marketplace: adapters.Etsy, ShopID: "555"}, "https://api.etsy.com", "", false},
		{prod, adapters.Store{Marketplace: adapters.Amazon, ShopID: "ATVPDKIKX0DER"}, prod.AmazonURL, prod.AmazonTokenURL, false},
		{prod, adapters.Store{Marketplace: "ebay"}, "", "", true},
	}
	for _, tc := range tests {
		got, err := tc.e.apply(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrStoreUnusable) {
				t.Errorf("%+v: err = %v, want ErrStoreUnusable", tc.in, err)
			}
			continue
		}
		if err != nil || got.BaseURL != tc.base || got.TokenURL != tc.tok {
			t.Errorf("%+v: %q %q %v; want %q %q", tc.in, got.BaseURL, got.TokenURL, err, tc.base, tc.tok)
		}
	}
}

// The environment variable names and defaults operators rely on.
func TestConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	var cfg Config
	env := envconfig.MapLookuper(map[string]string{
		"PRINTFLEET_INTERNAL_SECRET":         "0123456789abcdef0123",
		"PRINTFLEET_MARKETPLACE_AMAZON_URL":  "https://sellingpartnerapi-eu.amazon.com",
		"PRINTFLEET_MARKETPLACE_CONCURRENCY": "8",
	})
	if err := config.LoadFrom(context.Background(), &cfg, env); err != nil {
		t.Fatal(err)
	}
	if cfg.CatalogAddr != "127.0.0.1:9102" || cfg.ReceiptsBucket != "printfleet-receipts" || cfg.Options.Queue != "marketplace.push" ||
		cfg.Endpoints.ShopifyURL != "http://127.0.0.1:9302/shopify" || cfg.Endpoints.EtsyURL != "http://127.0.0.1:9302/etsy" ||
		cfg.Endpoints.AmazonURL != "https://sellingpartnerapi-eu.amazon.com" || cfg.Options.Concurrency != 8 ||
		cfg.Options.PushTimeout != 2*time.Minute || cfg.S3.Endpoint != "http://127.0.0.1:7070" {
		t.Fatalf("config: %s", config.Masked(cfg))
	}
	if strings.Contains(config.Masked(cfg), "0123456789abcdef0123") {
		t.Fatal("the internal secret is logged")
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	r := newRedactor("keystring1:sharedsecret1", `tok"en|with"quotes`, "", "short")
	in := `a keystring1:sharedsecret1 b sharedsecret1 c keystring1 d {"t":"tok\"en|with\"quotes"} e short`
	got := r.String(in)
	for _, s := range []string{"sharedsecret1", "keystring1", `tok\"en`} {
		if strings.Contains(got, s) {
			t.Errorf("%q left in %q", s, got)
		}
	}
	if !strings.Contains(got, "short") {
		t.Error("values under the minimum length are not treated as secrets")
	}
	if string(r.Bytes([]byte(in))) != got {
		t.Error("Bytes and String disagree")
	}
}

func TestKeyLocks(t *testing.T) {
	t.Parallel()
	var l keyLocks
	ctx := context.Background()
	release, err := l.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.lock(ctx, "b") // another key is not blocked
	if err != nil {
		t.Fatal(err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := l.lock(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of a held key: %v", err)
	}
	got := make(chan struct{})
	go func() {
		r, err := l.lock(ctx, "a")
		if err == nil {
			r()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("took a held lock")
	case <-time.After(30 * time.Millisecond):
	}
	release()
	<-got
	if n := l.held(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
}
