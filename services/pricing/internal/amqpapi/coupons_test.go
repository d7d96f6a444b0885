package amqpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

type fakeRedemptions struct {
	err      error
	caller   principal.Principal
	code     string
	order    string
	customer string
	placed   time.Time
	confirms int
	releases int
}

func (f *fakeRedemptions) ConfirmCoupon(_ context.Context, caller principal.Principal, code, orderID, customerID string, placedAt time.Time) error {
	f.confirms++
	f.caller, f.code, f.order, f.customer, f.placed = caller, code, orderID, customerID, placedAt
	return f.err
}

func (f *fakeRedemptions) ReleaseCoupon(_ context.Context, caller principal.Principal, orderID string) error {
	f.releases++
	f.caller, f.order = caller, orderID
	return f.err
}

var placedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func delivery(t *testing.T, key string, m proto.Message) amqp.Delivery {
	t.Helper()
	body, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return amqp.Delivery{ID: "m-1", Type: key, Body: body}
}

func placed(t *testing.T, coupon string) amqp.Delivery {
	return delivery(t, eventsv1.KeyOrderPlacedCoupon, &eventsv1.OrderPlaced{OrderId: "o-1", UserId: "alice", CouponCode: coupon, PlacedAt: timestamppb.New(placedAt)})
}

// The handler confirms placed orders' uses and releases those of orders
// cancelled, rejected or unpaid, as the service role; acks what retrying
// would not change, retries the rest and dead-letters what it cannot decode.
func TestCouponHandler(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	r := &fakeRedemptions{}
	if err := CouponHandler(r, log)(ctx, placed(t, "WELCOME10")); err != nil {
		t.Fatal(err)
	}
	if r.confirms != 1 || r.code != "WELCOME10" || r.order != "o-1" || r.customer != "alice" || !r.placed.Equal(placedAt) || r.caller.Require(principal.RoleService) != nil {
		t.Fatalf("confirmed %+v", r)
	}

	r = &fakeRedemptions{}
	if err := CouponHandler(r, log)(ctx, placed(t, "")); err != nil || r.confirms != 0 {
		t.Fatalf("no coupon: %v, %d calls", err, r.confirms)
	}

	for key, m := range map[string]proto.Message{
		eventsv1.KeyOrderCancelled: &eventsv1.OrderCancelled{OrderId: "o-2"},
		eventsv1.KeyStockRejected:  &eventsv1.StockRejected{OrderId: "o-2"},
		eventsv1.KeyPaymentFailed:  &eventsv1.PaymentFailed{OrderId: "o-2"},
	} {
		r = &fakeRedemptions{}
		if err := CouponHandler(r, log)(ctx, delivery(t, key, m)); err != nil || r.releases != 1 || r.order != "o-2" || r.caller.Require(principal.RoleService) != nil {
			t.Fatalf("%s: %v, released %+v", key, err, r)
		}
	}

	for _, kind := range []errs.Kind{errs.FailedPrecondition, errs.Invalid, errs.NotFound} {
		r = &fakeRedemptions{err: errs.E(kind, "no")}
		if err := CouponHandler(r, log)(ctx, placed(t, "X")); err != nil {
			t.Errorf("%v: %v, want ack", kind, err)
		}
	}

	r = &fakeRedemptions{err: errors.New("connection refused")}
	if err := CouponHandler(r, log)(ctx, placed(t, "X")); err == nil || amqp.IsPermanent(err) {
		t.Fatalf("transient failure: %v, want a retry", err)
	}
	r = &fakeRedemptions{err: errors.New("connection refused")}
	if err := CouponHandler(r, log)(ctx, delivery(t, eventsv1.KeyOrderCancelled, &eventsv1.OrderCancelled{OrderId: "o-2"})); err == nil || amqp.IsPermanent(err) {
		t.Fatalf("transient release failure: %v, want a retry", err)
	}

	poison := amqp.Delivery{ID: "m-2", Type: eventsv1.KeyOrderPlacedCoupon, Body: []byte{0xff, 0x01}}
	if err := CouponHandler(&fakeRedemptions{}, log)(ctx, poison); !amqp.IsPermanent(err) {
		t.Fatalf("poison: %v, want permanent", err)
	}
	other := amqp.Delivery{ID: "m-3", Type: eventsv1.KeyOrderPaid}
	if err := CouponHandler(&fakeRedemptions{}, log)(ctx, other); !amqp.IsPermanent(err) {
		t.Fatalf("unexpected type: %v, want permanent", err)
	}
}
