package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/orders/internal/app"
	"github.com/printfleet/printfleet/services/orders/internal/domain"
	"github.com/printfleet/printfleet/services/orders/internal/testenv"
)

// fakeStore records the creates; the rest is not used by these tests.
type fakeStore struct {
	app.Store
	creates  int
	replay   []byte
	keyErr   error
	created  *domain.Order
	change   app.Change
	idem     app.IdempotencyRecord
	inCreate func()
}

func (s *fakeStore) CreateOrder(_ context.Context, o *domain.Order, c app.Change, idem app.IdempotencyRecord) ([]byte, error) {
	s.creates++
	if s.inCreate != nil {
		s.inCreate()
	}
	if s.replay != nil || s.keyErr != nil {
		return s.replay, s.keyErr
	}
	s.created, s.change, s.idem = o, c, idem
	return nil, nil
}

var user = principal.Principal{Subject: "alice", Roles: []string{principal.RoleUser}}

func input(f *testenv.Fixture) app.CreateOrderInput {
	return app.CreateOrderInput{
		Items: []app.RequestedItem{
			{VariantID: f.VariantA, Quantity: 2, DesignID: f.Designs["alice"], PlacementID: f.PlacementFront},
			{VariantID: f.VariantB, Quantity: 1},
		},
		Address:  domain.AddressFields{Name: "Ada", Line1: "1 Main St", City: "Springfield", PostalCode: "12345", CountryCode: "US"},
		Currency: "USD", PaymentMethod: domain.PaymentMethodCard,
	}
}

func encode(o *domain.Order) ([]byte, error) { return []byte(o.ID()), nil }

func service(f *testenv.Fixture, st app.Store) *app.Service {
	return app.NewService(app.Deps{Store: st, Catalog: f.Catalog, Pricing: f.Pricing, Log: testenv.Log()})
}

// The domain validates again whatever the transport let through: nothing
// reaches the catalog, pricing or the store.
func TestCreateOrderValidatesBeforeAnything(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		edit  func(in *app.CreateOrderInput)
		key   string
		field string
	}{
		"no key":            {func(*app.CreateOrderInput) {}, "", "idempotency-key"},
		"key too long":      {func(*app.CreateOrderInput) {}, strings.Repeat("k", 300), "idempotency-key"},
		"key not printable": {func(*app.CreateOrderInput) {}, "k\x00y", "idempotency-key"},
		"zero quantity":     {func(in *app.CreateOrderInput) { in.Items[0].Quantity = 0 }, "k", "items[0].quantity"},
		"negative quantity": {func(in *app.CreateOrderInput) { in.Items[1].Quantity = -5 }, "k", "items[1].quantity"},
		"10,000 items": {func(in *app.CreateOrderInput) {
			for range 10_000 {
				in.Items = append(in.Items, in.Items[1])
			}
		}, "k", "items"},
		"malformed id":      {func(in *app.CreateOrderInput) { in.Items[1].VariantID = "1 OR 1=1" }, "k", "items[1].variant_id"},
		"oversized address": {func(in *app.CreateOrderInput) { in.Address.Name = strings.Repeat("n", 1000) }, "k", "shipping_address.name"},
		"bad store id":      {func(in *app.CreateOrderInput) { in.StoreID = "store-1" }, "k", "store_id"},
	}
	for name, tc := range cases {
		f := testenv.NewFixture("alice")
		st := &fakeStore{}
		in := input(f)
		tc.edit(&in)
		_, err := service(f, st).CreateOrder(context.Background(), user, tc.key, []byte("h"), in, encode)
		if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want INVALID naming %s", name, err, tc.field)
		}
		if st.creates > 0 || f.Catalog.Calls.Load()+f.Pricing.Calls.Load() > 0 {
			t.Errorf("%s: reached the store or a dependency", name)
		}
	}
}

// A create that fails before the store writes nothing, so a retry runs
// again; the catalog and pricing are asked at the same time, once each.
func TestCreateOrderThatFailsTakesNoKey(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	f.Pricing.Err = errs.E(errs.Unavailable, "pricing down")
	st := &fakeStore{}
	svc := service(f, st)
	_, err := svc.CreateOrder(context.Background(), user, "k", []byte("h"), input(f), encode)
	if !errs.Is(err, errs.Unavailable) || st.creates != 0 {
		t.Fatalf("err %v, creates %d", err, st.creates)
	}
	if f.Catalog.Calls.Load() != 1 {
		t.Fatalf("catalog asked %d times, want one batch call", f.Catalog.Calls.Load())
	}
	f.Pricing.Err = nil
	if _, err := svc.CreateOrder(context.Background(), user, "k", []byte("h"), input(f), encode); err != nil || st.creates != 1 {
		t.Fatalf("retry: %v, creates %d", err, st.creates)
	}
	if st.idem.Key != "k" || st.idem.UserID != "alice" || string(st.idem.Response) != st.created.ID() || st.idem.TTL != svc.IdempotencyTTL {
		t.Fatalf("idempotency record %+v", st.idem)
	}
}

// The quote of a create redeems the order's coupon under a key that is the
// same on every retry of the create (one use per placement) and names the
// order it would commit; it is asked only once the catalog accepted the
// order; a coupon over its limits refuses the order with CONFLICT naming
// the coupon, and nothing is written.
func TestCreateOrderRedeemsTheCouponOncePerKey(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	st := &fakeStore{}
	svc := service(f, st)
	in := input(f)
	in.CouponCode = "TENOFF"
	if _, err := svc.CreateOrder(context.Background(), user, "k", []byte("h"), in, encode); err != nil {
		t.Fatal(err)
	}
	first := *f.Pricing.Last.Load()
	if len(first.OrderKey) != 64 || first.OrderID != st.created.ID() || first.CouponCode != "TENOFF" {
		t.Fatalf("first quote request %+v, order %s", first, st.created.ID())
	}
	if _, err := svc.CreateOrder(context.Background(), user, "k", []byte("h"), in, encode); err != nil {
		t.Fatal(err)
	}
	retry := *f.Pricing.Last.Load()
	if retry.OrderKey != first.OrderKey || retry.OrderID == first.OrderID {
		t.Fatalf("retry: key %s order %s, first key %s order %s", retry.OrderKey, retry.OrderID, first.OrderKey, first.OrderID)
	}
	if _, err := svc.CreateOrder(context.Background(), user, "other", []byte("h"), in, encode); err != nil {
		t.Fatal(err)
	}
	if other := f.Pricing.Last.Load(); other.OrderKey == first.OrderKey {
		t.Fatalf("another Idempotency-Key shares the order key %s", other.OrderKey)
	}

	// An order the catalog refuses never reaches pricing: it holds no use.
	calls := f.Pricing.Calls.Load()
	unknown := in
	unknown.Items = append([]app.RequestedItem(nil), in.Items...)
	unknown.Items[0].VariantID = uuid.NewString()
	if _, err := svc.CreateOrder(context.Background(), user, "unknown", []byte("h"), unknown, encode); !errs.Is(err, errs.Invalid) || f.Pricing.Calls.Load() != calls {
		t.Fatalf("unknown variant: %v, pricing asked %d times", err, f.Pricing.Calls.Load()-calls)
	}

	creates := st.creates
	f.Pricing.Err = errs.E(errs.Conflict, `coupon "TENOFF" has reached its usage limit of 100`)
	_, err := svc.CreateOrder(context.Background(), user, "late", []byte("h"), in, encode)
	if !errs.Is(err, errs.Conflict) || !strings.Contains(errs.Status(err).Message(), `coupon "TENOFF" has reached its usage limit of 100`) || st.creates != creates {
		t.Fatalf("over the limit: %v (%s), creates %d", err, errs.Status(err).Message(), st.creates-creates)
	}
}

// The store's answer for a taken key is the answer: the stored response,
// or its error.
func TestCreateOrderReplaysTheStoredResponse(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	st := &fakeStore{replay: []byte("first response")}
	got, err := service(f, st).CreateOrder(context.Background(), user, "k", []byte("h"), input(f), encode)
	if err != nil || string(got) != "first response" {
		t.Fatalf("replay: %q %v", got, err)
	}
	st = &fakeStore{keyErr: errs.E(errs.IdempotencyMismatch, "other body")}
	if _, err := service(f, st).CreateOrder(context.Background(), user, "k", []byte("h"), input(f), encode); !errs.Is(err, errs.IdempotencyMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
}

// A repeat of a request still running in the process is answered at once:
// Conflict with the same body, IdempotencyMismatch with another; nothing
// is asked of the catalog, pricing or the store.
func TestCreateOrderInFlightIsAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	st := &fakeStore{}
	svc := service(f, st)
	var inFlight, otherBody error
	st.inCreate = func() {
		st.inCreate = nil
		_, inFlight = svc.CreateOrder(context.Background(), user, "k", []byte("h"), input(f), encode)
		_, otherBody = svc.CreateOrder(context.Background(), user, "k", []byte("other"), input(f), encode)
	}
	if _, err := svc.CreateOrder(context.Background(), user, "k", []byte("h"), input(f), encode); err != nil {
		t.Fatal(err)
	}
	if !errs.Is(inFlight, errs.Conflict) || !errs.Is(otherBody, errs.IdempotencyMismatch) {
		t.Fatalf("in flight: %v; other body: %v", inFlight, otherBody)
	}
	if st.creates != 1 || f.Pricing.Calls.Load() != 1 || f.Catalog.Calls.Load() != 1 {
		t.Fatalf("creates %d, pricing %d, catalog %d; want 1 each", st.creates, f.Pricing.Calls.Load(), f.Catalog.Calls.Load())
	}
	// Once done, the key is no longer held here (the store decides).
	if _, err := svc.CreateOrder(context.Background(), user, "k", []byte("h"), input(f), encode); err != nil {
		t.Fatal(err)
	}
}

func TestCreateOrderBuildsFromCatalogAndQuote(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	st := &fakeStore{}
	if _, err := service(f, st).CreateOrder(context.Background(), user, "k", []byte("h"), input(f), encode); err != nil {
		t.Fatal(err)
	}
	o := st.created.Fields()
	if o.Total.Amount() != 2*1800+1500+499 || o.Items[0].DesignKey == "" || o.Items[0].Placement.Name != "front" ||
		o.Items[0].SKU != "TEE-S" || o.Items[1].Placement != nil {
		t.Fatalf("order %+v", o)
	}
	// OrderPlaced, then the order.created notice, gated on the owner's
	// webhook subscription.
	ev := st.change.Events
	if len(ev) != 2 || ev[0].Type != eventsv1.KeyOrderPlaced || ev[0].ID == "" || ev[0].Gate != nil ||
		ev[1].Type != eventsv1.KeyOrderNotice || ev[1].ID == "" || ev[1].Gate == nil || ev[1].Gate.Value != "alice" ||
		len(st.change.Timeline) != 1 || st.change.Timeline[0].Type != domain.EventPlaced {
		t.Fatalf("change %+v", st.change)
	}
}

func TestOnlyUsersPlaceOrders(t *testing.T) {
	t.Parallel()
	f := testenv.NewFixture("alice")
	for _, p := range []principal.Principal{{}, {Subject: "svc", Roles: []string{principal.RoleService}}} {
		_, err := service(f, &fakeStore{}).CreateOrder(context.Background(), p, "k", []byte("h"), input(f), encode)
		if !errs.Is(err, errs.Unauthenticated) && !errs.Is(err, errs.PermissionDenied) {
			t.Errorf("%v: %v", p, err)
		}
	}
}

func TestPageTokensRefuseTampering(t *testing.T) {
	t.Parallel()
	tokens := app.NewPageTokens([]byte("k1-0123456789abcdef"))
	id := uuid.NewString()
	at := time.Date(2026, 1, 1, 0, 0, 0, 123000, time.UTC)
	tok := tokens.OrderPosition("scope", at, id)
	gotAt, gotID, err := tokens.ParseOrderPosition("scope", tok)
	if err != nil || !gotAt.Equal(at) || gotID != id {
		t.Fatalf("round trip: %v %v %v", gotAt, gotID, err)
	}
	flipped := []byte(tok)
	flipped[5] ^= 1
	for _, bad := range []string{string(flipped), tok + "A", tok[:len(tok)-1], ""} {
		if _, _, err := tokens.ParseOrderPosition("scope", bad); !errs.Is(err, errs.Invalid) {
			t.Errorf("token %q accepted", bad)
		}
	}
	if _, _, err := tokens.ParseOrderPosition("other scope", tok); !errs.Is(err, errs.Invalid) {
		t.Error("token accepted for another scope")
	}
	if _, _, err := app.NewPageTokens([]byte("another-key-0123456")).ParseOrderPosition("scope", tok); !errors.Is(err, err) || err == nil {
		t.Error("token accepted under another key")
	}
}
