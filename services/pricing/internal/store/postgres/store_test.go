package postgres_test

import (
	"context"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	pool, _ := pgtest.NewDB(t, store.Migrations)
	return store.New(pool)
}

func usd(amount int64) domain.Price {
	c, _ := domain.LookupCurrency("USD")
	return domain.Price{Currency: c, Amount: amount}
}

func mustCur(code string) domain.Currency {
	c, ok := domain.LookupCurrency(code)
	if !ok {
		panic(code)
	}
	return c
}

func TestUpsertsLoadAndVersion(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	v := uuid.New()
	res, err := s.UpsertVariantPrices(ctx, []domain.VariantPrice{{VariantID: v, Region: "*", Price: usd(1250)}, {VariantID: v, Region: "US", Price: usd(1199)}})
	if err != nil || res.Changed != 2 || res.Version != 1 {
		t.Fatalf("first upsert: %+v %v", res, err)
	}
	// The same values again change nothing and do not bump the version.
	res, err = s.UpsertVariantPrices(ctx, []domain.VariantPrice{{VariantID: v, Region: "*", Price: usd(1250)}})
	if err != nil || res.Changed != 0 || res.Version != 0 {
		t.Fatalf("identical upsert: %+v %v", res, err)
	}
	res, err = s.UpsertVariantPrices(ctx, []domain.VariantPrice{{VariantID: v, Region: "*", Price: usd(1300)}})
	if err != nil || res.Changed != 1 || res.Version != 2 {
		t.Fatalf("changing upsert: %+v %v", res, err)
	}
	if _, err := s.UpsertSurcharges(ctx, []domain.Surcharge{{Technique: "dtg", Price: usd(500)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertShippingRates(ctx, []domain.ShippingRate{{Method: "standard", Country: "*", Currency: mustCur("USD"), FirstItem: 499, AdditionalItem: 199}}); err != nil {
		t.Fatal(err)
	}
	pl := uuid.New()
	if _, err := s.UpsertPlacementTechniques(ctx, []domain.PlacementTechnique{{PlacementID: pl, Technique: "embroidery"}}); err != nil {
		t.Fatal(err)
	}
	rate, _ := domain.ParseRate("1.0850000001")
	if _, err := s.UpsertFxRates(ctx, []domain.FxRate{{Base: mustCur("EUR"), Quote: mustCur("USD"), Rate: rate}}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != 6 || len(d.Prices) != 2 || len(d.Surcharges) != 1 || len(d.Shipping) != 1 || len(d.Fx) != 1 || len(d.Placements) != 1 {
		t.Fatalf("loaded %+v", d)
	}
	// The rate survives storage exactly (numeric, not float).
	if d.Fx[0].Rate.Cmp(rate) != 0 || domain.FormatRate(d.Fx[0].Rate) != "1.0850000001" {
		t.Fatalf("rate came back as %s", d.Fx[0].Rate.FloatString(12))
	}
	if d.Placements[0].PlacementID != pl || d.Placements[0].Technique != "embroidery" {
		t.Fatalf("placement %+v", d.Placements[0])
	}
	for _, p := range d.Prices {
		if p.VariantID != v {
			t.Fatalf("variant id %s", p.VariantID)
		}
		if p.Region == "*" && p.Price.Amount != 1300 {
			t.Fatalf("price %+v", p)
		}
	}
	if got, err := s.Version(ctx); err != nil || got != 6 {
		t.Fatalf("version %d %v", got, err)
	}
}

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

func TestListenAnnouncesVersions(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listening := make(chan struct{})
	got := make(chan int64, 4)
	done := make(chan error, 1)
	go func() {
		done <- s.Listen(ctx, func() { close(listening) }, func(v int64) { got <- v })
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("not listening")
	}
	if _, err := s.UpsertSurcharges(ctx, []domain.Surcharge{{Technique: "dtg", Price: usd(500)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != 1 {
			t.Fatalf("announced %d, want 1", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Listen returned nil after cancel")
	}
}

func TestRatesKeepTenDecimals(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	in := []string{"0.0000000001", "999999999.9999999999", "151.25", "0.92"}
	var rates []domain.FxRate
	pairs := [][2]string{{"USD", "JPY"}, {"USD", "KRW"}, {"EUR", "JPY"}, {"USD", "EUR"}}
	for i, r := range in {
		x, err := domain.ParseRate(r)
		if err != nil {
			t.Fatal(err)
		}
		rates = append(rates, domain.FxRate{Base: mustCur(pairs[i][0]), Quote: mustCur(pairs[i][1]), Rate: x})
	}
	if _, err := s.UpsertFxRates(ctx, rates); err != nil {
		t.Fatal(err)
	}
	d, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*big.Rat{}
	for _, r := range d.Fx {
		got[r.Base.Code+r.Quote.Code] = r.Rate
	}
	for i, want := range in {
		r := got[pairs[i][0]+pairs[i][1]]
		if r == nil || domain.FormatRate(r) != want {
			t.Errorf("%v: stored %v, want %s", pairs[i], r, want)
		}
	}
}
