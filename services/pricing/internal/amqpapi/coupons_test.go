package amqpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

type fakeRedeemer struct {
	err    error
	caller principal.Principal
	code   string
	order  string
	calls  int
}

func (f *fakeRedeemer) RedeemCoupon(_ context.Context, caller principal.Principal, code, orderID string) (domain.Coupon, error) {
	f.calls++
	f.caller, f.code, f.order = caller, code, orderID
	return domain.Coupon{}, f.err
}

func delivery(t *testing.T, coupon string) amqp.Delivery {
	t.Helper()
	body, err := proto.Marshal(&eventsv1.OrderPlaced{OrderId: "o-1", UserId: "alice", CouponCode: coupon})
	if err != nil {
		t.Fatal(err)
	}
	return amqp.Delivery{ID: "m-1", Type: eventsv1.KeyOrderPlacedCoupon, Body: body}
}

// The handler redeems as the service role (which RedeemCoupon admits), acks
// what retrying would not change, retries the rest and dead-letters what it
// cannot decode.
func TestCouponHandler(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	r := &fakeRedeemer{}
	if err := CouponHandler(r, log)(ctx, delivery(t, "WELCOME10")); err != nil {
		t.Fatal(err)
	}
	if r.calls != 1 || r.code != "WELCOME10" || r.order != "o-1" || r.caller.Require(principal.RoleService) != nil {
		t.Fatalf("redeemed %+v", r)
	}

	r = &fakeRedeemer{}
	if err := CouponHandler(r, log)(ctx, delivery(t, "")); err != nil || r.calls != 0 {
		t.Fatalf("no coupon: %v, %d calls", err, r.calls)
	}

	for _, kind := range []errs.Kind{errs.FailedPrecondition, errs.Invalid, errs.NotFound} {
		r = &fakeRedeemer{err: errs.E(kind, "no")}
		if err := CouponHandler(r, log)(ctx, delivery(t, "X")); err != nil {
			t.Errorf("%v: %v, want ack", kind, err)
		}
	}

	r = &fakeRedeemer{err: errors.New("connection refused")}
	if err := CouponHandler(r, log)(ctx, delivery(t, "X")); err == nil || amqp.IsPermanent(err) {
		t.Fatalf("transient failure: %v, want a retry", err)
	}

	poison := amqp.Delivery{ID: "m-2", Type: eventsv1.KeyOrderPlacedCoupon, Body: []byte{0xff, 0x01}}
	if err := CouponHandler(&fakeRedeemer{}, log)(ctx, poison); !amqp.IsPermanent(err) {
		t.Fatalf("poison: %v, want permanent", err)
	}
}
