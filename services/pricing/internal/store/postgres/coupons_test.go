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

func TestRedeemCouponCountsAtomicallyAndIdempotently(t *testing.T) {
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
			_, _, err := s.RedeemCoupon(ctx, "LIMITED", "order-"+string(rune('a'+i)), now)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errs.KindOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "usage limit of 3"):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 3 {
		t.Fatalf("%d redemptions succeeded, want 3", ok)
	}
	cs, _ := s.ListCoupons(ctx)
	if cs[0].Used != 3 {
		t.Fatalf("used = %d", cs[0].Used)
	}
	// A redelivered redemption for an order that already redeemed is a no-op.
	var redeemed string
	for i := range 10 {
		id := "order-" + string(rune('a'+i))
		if _, res, err := s.RedeemCoupon(ctx, "LIMITED", id, now); err == nil && res.Changed == 0 {
			redeemed = id
			break
		}
	}
	if redeemed == "" {
		t.Fatal("no idempotent replay found")
	}
	if cs, _ := s.ListCoupons(ctx); cs[0].Used != 3 {
		t.Fatalf("replay changed used to %d", cs[0].Used)
	}
	// Expired coupons cannot be redeemed.
	_, _, err := s.RedeemCoupon(ctx, "LIMITED", "order-late", now.Add(2*time.Hour))
	if errs.KindOf(err) != errs.FailedPrecondition || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("late redemption: %v", err)
	}
}
