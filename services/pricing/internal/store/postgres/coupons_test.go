package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

func TestCouponWindowsPerCode(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := domain.Coupon{Code: "SPRING", Kind: domain.CouponPercent, PercentBP: 1000, ValidFrom: t0, ValidUntil: t0.Add(30 * 24 * time.Hour)}
	first, res, err := s.CreateCoupon(ctx, c, false)
	if err != nil || res.Changed != 1 || first.ID == uuid.Nil {
		t.Fatalf("create: %+v %+v %v", first, res, err)
	}
	// Overlapping window, same code: refused, naming the field.
	o := c
	o.ValidFrom = t0.Add(29 * 24 * time.Hour)
	o.ValidUntil = t0.Add(60 * 24 * time.Hour)
	_, _, err = s.CreateCoupon(ctx, o, false)
	if errs.KindOf(err) != errs.Invalid || !strings.Contains(err.Error(), "coupon.valid_from") || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("overlap: %v", err)
	}
	// Adjacent window (half-open): accepted.
	o.ValidFrom = c.ValidUntil
	if _, _, err := s.CreateCoupon(ctx, o, false); err != nil {
		t.Fatalf("adjacent: %v", err)
	}
	// Ensure with identical terms returns the existing coupon, writes nothing.
	again, res, err := s.CreateCoupon(ctx, c, true)
	if err != nil || res.Changed != 0 || again.ID != first.ID {
		t.Fatalf("ensure: %+v %+v %v", again, res, err)
	}
	all, err := s.ListCoupons(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("list: %d %v", len(all), err)
	}
}

func TestConcurrentOverlappingCouponsOneWins(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := domain.Coupon{Code: "RACE", Kind: domain.CouponPercent, PercentBP: 100,
				ValidFrom: t0.Add(time.Duration(i) * time.Hour), ValidUntil: t0.Add(48 * time.Hour)}
			_, _, err := s.CreateCoupon(ctx, c, false)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		if err == nil {
			ok++
		} else if errs.KindOf(err) != errs.Invalid {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d overlapping coupons created, want exactly 1", ok)
	}
}

func redemption(key, customer string, now time.Time) domain.Redemption {
	return domain.Redemption{Code: "LIMITED", OrderKey: key, OrderID: "order-" + key, CustomerID: customer, ExpiresAt: now.Add(time.Minute)}
}

func used(t *testing.T, s interface {
	ListCoupons(context.Context) ([]domain.Coupon, error)
}) int32 {
	t.Helper()
	cs, err := s.ListCoupons(context.Background())
	if err != nil || len(cs) != 1 {
		t.Fatalf("list: %v %v", cs, err)
	}
	return cs[0].Used
}

// Redemptions take one use each, atomically against the limit; the same
// key takes no second use; a release gives one back, once; a reservation
// that no placement confirms expires; a confirmed one does not.
func TestRedeemCouponReservesAtomicallyAndIdempotently(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	c := domain.Coupon{Code: "LIMITED", Kind: domain.CouponFixed, AmountOff: usd(500), ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(time.Hour), UsageLimit: 3}
	if _, _, err := s.CreateCoupon(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.RedeemCoupon(ctx, redemption(string(rune('a'+i)), "alice", now), now)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	var keys []string
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), `coupon "LIMITED" has reached its usage limit of 3`):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 3 || used(t, s) != 3 {
		t.Fatalf("%d redemptions succeeded, used %d, want 3", ok, used(t, s))
	}
	for i := range 10 {
		k := string(rune('a' + i))
		if _, res, err := s.RedeemCoupon(ctx, redemption(k, "alice", now), now); err == nil && res.Changed == 0 {
			keys = append(keys, k)
		}
	}
	// A retry under a reserved key succeeds without a second use (the 3 keys
	// that hold a use), the others are still refused.
	if len(keys) != 3 || used(t, s) != 3 {
		t.Fatalf("retries succeeded for %v, used %d", keys, used(t, s))
	}
	// A retry of the create with another order id: that order may commit
	// too, and confirming it confirms the same use.
	retry := redemption(keys[0], "alice", now)
	retry.OrderID = "order-retry"
	if _, _, err := s.RedeemCoupon(ctx, retry, now); err != nil || used(t, s) != 3 {
		t.Fatalf("retry with a new order id: %v, used %d", err, used(t, s))
	}
	if late, _, err := s.ConfirmCoupon(ctx, "LIMITED", "order-retry", "alice", now); err != nil || late {
		t.Fatalf("confirm: late %v, %v", late, err)
	}
	// Releasing gives one use back, once.
	for range 2 {
		if _, _, err := s.ReleaseCoupon(ctx, "order-"+keys[1]); err != nil {
			t.Fatal(err)
		}
		if used(t, s) != 2 {
			t.Fatalf("after release: used %d, want 2", used(t, s))
		}
	}
	// A placement whose release overtook it confirms nothing.
	if late, _, err := s.ConfirmCoupon(ctx, "LIMITED", "order-"+keys[1], "alice", now); err != nil || late || used(t, s) != 2 {
		t.Fatalf("confirm after release: late %v, %v, used %d", late, err, used(t, s))
	}
	// The pending reservation of keys[2] expires; the confirmed one of keys[0] does not.
	n, err := s.ExpireReservations(ctx, now.Add(2*time.Minute))
	if err != nil || n != 1 || used(t, s) != 1 {
		t.Fatalf("expire: %d %v, used %d, want 1 expired, 1 used", n, err, used(t, s))
	}
	// Its order did commit after all (its event came late): counted again.
	if late, _, err := s.ConfirmCoupon(ctx, "LIMITED", "order-"+keys[2], "alice", now); err != nil || !late || used(t, s) != 2 {
		t.Fatalf("late confirm: late %v, %v, used %d", late, err, used(t, s))
	}
	// Expired coupons cannot be redeemed.
	_, _, err = s.RedeemCoupon(ctx, redemption("late", "alice", now), now.Add(2*time.Hour))
	if errs.KindOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("late redemption: %v", err)
	}
}

// A coupon with a limit per customer refuses the customer's next use, names
// the coupon, and takes other customers' uses; a release frees the
// customer's use.
func TestRedeemCouponPerCustomerLimit(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	c := domain.Coupon{Code: "LIMITED", Kind: domain.CouponFixed, AmountOff: usd(500), ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(time.Hour), PerCustomerLimit: 2}
	if _, _, err := s.CreateCoupon(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a1", "a2"} {
		if _, _, err := s.RedeemCoupon(ctx, redemption(k, "alice", now), now); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := s.RedeemCoupon(ctx, redemption("a3", "alice", now), now)
	if errs.KindOf(err) != errs.Conflict || !strings.Contains(err.Error(), `coupon "LIMITED" has reached its limit of 2 per customer`) {
		t.Fatalf("third use by alice: %v", err)
	}
	if _, _, err := s.RedeemCoupon(ctx, redemption("b1", "bob", now), now); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if _, _, err := s.ReleaseCoupon(ctx, "order-a1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RedeemCoupon(ctx, redemption("a3", "alice", now), now); err != nil {
		t.Fatalf("alice after a release: %v", err)
	}
	if used(t, s) != 3 {
		t.Fatalf("used %d, want 3", used(t, s))
	}
}

// A second order committed under a key whose use another order confirmed
// (the key reused once orders stopped replaying it) has its own use
// counted, and each order gives back its own.
func TestConfirmCouponCountsAReusedKey(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	c := domain.Coupon{Code: "LIMITED", Kind: domain.CouponFixed, AmountOff: usd(500), ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(time.Hour), UsageLimit: 5}
	if _, _, err := s.CreateCoupon(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	first := redemption("k", "alice", now)
	if _, _, err := s.RedeemCoupon(ctx, first, now); err != nil {
		t.Fatal(err)
	}
	if late, _, err := s.ConfirmCoupon(ctx, "LIMITED", first.OrderID, "alice", now); err != nil || late {
		t.Fatalf("confirm: late %v, %v", late, err)
	}
	second := first
	second.OrderID = "order-second"
	if _, _, err := s.RedeemCoupon(ctx, second, now); err != nil || used(t, s) != 1 {
		t.Fatalf("reused key: %v, used %d", err, used(t, s))
	}
	for range 2 {
		if _, _, err := s.ConfirmCoupon(ctx, "LIMITED", second.OrderID, "alice", now); err != nil || used(t, s) != 2 {
			t.Fatalf("second order placed: %v, used %d, want 2", err, used(t, s))
		}
	}
	if _, _, err := s.ReleaseCoupon(ctx, second.OrderID); err != nil || used(t, s) != 1 {
		t.Fatalf("release second: %v, used %d", err, used(t, s))
	}
	if _, _, err := s.ReleaseCoupon(ctx, first.OrderID); err != nil || used(t, s) != 0 {
		t.Fatalf("release first: %v, used %d", err, used(t, s))
	}
}

// An order's OrderPlaced published again (the orders reconciler places a
// PENDING order again under a new message id) confirms nothing more: the
// order's use is counted once, whether its reservation was pending or it
// had none (counted late).
func TestConfirmCouponTwiceForOneOrderCountsOneUse(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	c := domain.Coupon{Code: "LIMITED", Kind: domain.CouponFixed, AmountOff: usd(500), ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(time.Hour), UsageLimit: 5}
	if _, _, err := s.CreateCoupon(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	r := redemption("k", "alice", now)
	if _, _, err := s.RedeemCoupon(ctx, r, now); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if late, _, err := s.ConfirmCoupon(ctx, "LIMITED", r.OrderID, "alice", now); err != nil || late || used(t, s) != 1 {
			t.Fatalf("confirm %d of a reserved order: late %v, %v, used %d; want 1", i+1, late, err, used(t, s))
		}
	}
	for i := range 2 {
		if _, _, err := s.ConfirmCoupon(ctx, "LIMITED", "order-unreserved", "bob", now); err != nil || used(t, s) != 2 {
			t.Fatalf("confirm %d of an order without a reservation: %v, used %d; want 2", i+1, err, used(t, s))
		}
	}
}
