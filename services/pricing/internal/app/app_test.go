package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/demo"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// fakeStore keeps price data in memory and counts loads. Its Listen fails
// the first failListens times, then delivers versions sent on notify.
type fakeStore struct {
	app.AdminData // not used by these tests (the store's tests cover it)

	mu          sync.Mutex
	data        domain.Data
	loads       atomic.Int64
	failListens atomic.Int64
	listening   chan struct{}
	notify      chan int64
}

var _ app.Store = (*fakeStore)(nil)

func newFake() *fakeStore {
	return &fakeStore{listening: make(chan struct{}, 16), notify: make(chan int64, 16)}
}

func (f *fakeStore) Load(context.Context) (domain.Data, error) {
	f.loads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data, nil
}

func (f *fakeStore) Version(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data.Version, nil
}

func (f *fakeStore) Listen(ctx context.Context, onListening func(), onChange func(int64)) error {
	if f.failListens.Add(-1) >= 0 {
		return errors.New("connection refused")
	}
	onListening()
	f.listening <- struct{}{}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case v := <-f.notify:
			onChange(v)
		}
	}
}

// change applies mut to the data and bumps the version, as a store write does.
func (f *fakeStore) change(mut func(d *domain.Data)) app.WriteResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	mut(&f.data)
	f.data.Version++
	return app.WriteResult{Changed: 1, Version: f.data.Version}
}

func (f *fakeStore) UpsertVariantPrices(_ context.Context, ps []domain.VariantPrice) (app.WriteResult, error) {
	return f.change(func(d *domain.Data) { d.Prices = append(d.Prices, ps...) }), nil
}

func (f *fakeStore) UpsertSurcharges(_ context.Context, xs []domain.Surcharge) (app.WriteResult, error) {
	return f.change(func(d *domain.Data) { d.Surcharges = append(d.Surcharges, xs...) }), nil
}

func (f *fakeStore) UpsertShippingRates(_ context.Context, rs []domain.ShippingRate) (app.WriteResult, error) {
	return f.change(func(d *domain.Data) { d.Shipping = append(d.Shipping, rs...) }), nil
}

func (f *fakeStore) UpsertFxRates(_ context.Context, rs []domain.FxRate) (app.WriteResult, error) {
	return f.change(func(d *domain.Data) { d.Fx = append(d.Fx, rs...) }), nil
}

func (f *fakeStore) UpsertPlacementTechniques(_ context.Context, ps []domain.PlacementTechnique) (app.WriteResult, error) {
	return f.change(func(d *domain.Data) { d.Placements = append(d.Placements, ps...) }), nil
}

func (f *fakeStore) UpsertTaxRates(_ context.Context, rs []domain.TaxRate) (app.WriteResult, error) {
	return f.change(func(d *domain.Data) { d.Tax = append(d.Tax, rs...) }), nil
}

func (f *fakeStore) ListShippingRates(context.Context) ([]domain.ShippingRate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.data.Shipping), nil
}

func (f *fakeStore) DeleteShippingRate(context.Context, string, string) (app.WriteResult, error) {
	return app.WriteResult{}, errors.New("not used here")
}

func (f *fakeStore) ListTaxRates(context.Context) ([]domain.TaxRate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.data.Tax), nil
}

func (f *fakeStore) DeleteTaxRate(context.Context, string, string) (app.WriteResult, error) {
	return app.WriteResult{}, errors.New("not used here")
}

func (f *fakeStore) CreateCoupon(_ context.Context, c domain.Coupon, _ bool) (domain.Coupon, app.WriteResult, error) {
	return c, f.change(func(d *domain.Data) { d.Coupons = append(d.Coupons, c) }), nil
}

func (f *fakeStore) ListCoupons(context.Context) ([]domain.Coupon, error) { return f.data.Coupons, nil }

func (f *fakeStore) RedeemCoupon(context.Context, domain.Redemption, time.Time) (domain.Coupon, app.WriteResult, error) {
	return domain.Coupon{}, app.WriteResult{}, errors.New("not used here")
}

func (f *fakeStore) ConfirmCoupon(context.Context, string, string, string, time.Time) (bool, app.WriteResult, error) {
	return false, app.WriteResult{}, errors.New("not used here")
}

func (f *fakeStore) ReleaseCoupon(context.Context, string) (bool, app.WriteResult, error) {
	return false, app.WriteResult{}, errors.New("not used here")
}

func (f *fakeStore) ExpireReservations(context.Context, time.Time) (int, error) {
	return 0, errors.New("not used here")
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var admin = principal.Principal{Subject: "root", Roles: []string{principal.RoleAdmin}}

func demoRequest() domain.QuoteRequest {
	return domain.QuoteRequest{
		Items: []domain.QuoteItem{
			{VariantID: demo.VariantID("TEE-UNI-WHT-M").String(), Quantity: 2, PlacementIDs: []string{
				demo.PlacementID("tee-unisex", "front").String(), demo.PlacementID("tee-unisex", "back").String()}},
			{VariantID: demo.VariantID("PIL-18-WHT-OS").String(), Quantity: 1, PlacementIDs: []string{
				demo.PlacementID("pillow-18", "front").String(), demo.PlacementID("pillow-18", "back").String()}},
			{VariantID: demo.VariantID("MUG-11-WHT-OS").String(), Quantity: 3},
		},
		Country: "DE", Currency: "EUR", CouponCode: "WELCOME10",
	}
}

func TestQuoteBeforeLoadIsUnavailable(t *testing.T) {
	t.Parallel()
	svc := app.New(newFake(), app.Options{Log: quiet()})
	if _, err := svc.Quote(context.Background(), demoRequest()); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("err = %v", err)
	}
	if err := svc.Ready(context.Background()); err == nil {
		t.Fatal("ready without data")
	}
}

func TestWritesRefreshTheSnapshotAndQuotesGetIDs(t *testing.T) {
	t.Parallel()
	f := newFake()
	svc := app.New(f, app.Options{Log: quiet()})
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Seed(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	if v := svc.Snapshot().Version(); v != f.data.Version {
		t.Fatalf("snapshot at %d, store at %d", v, f.data.Version)
	}
	q1, err := svc.Quote(context.Background(), demoRequest())
	if err != nil {
		t.Fatal(err)
	}
	q2, _ := svc.Quote(context.Background(), demoRequest())
	if q1.ID == q2.ID || q1.ID.Version() != 7 || q1.Total != q2.Total {
		t.Fatalf("ids %s %s (v%d), totals %d %d", q1.ID, q2.ID, q1.ID.Version(), q1.Total, q2.Total)
	}
	if d := time.Until(q1.ExpiresAt); d < domain.QuoteTTL-time.Minute || d > domain.QuoteTTL {
		t.Fatalf("expires in %v", d)
	}
}

func TestNotificationsReloadOnlyNewerVersionsAndListenReconnects(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.failListens.Store(2) // the first two subscriptions fail
	svc := app.New(f, app.Options{Log: quiet()})
	if err := svc.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Watch(ctx, app.WatchOptions{Listen: true}); close(done) }()
	defer func() { cancel(); <-done }()

	// A write made elsewhere while we were not yet listening is caught up on
	// (re)subscription.
	f.change(func(d *domain.Data) {})
	select {
	case <-f.listening:
	case <-time.After(5 * time.Second):
		t.Fatal("never subscribed after failures")
	}
	eventually(t, func() bool { return svc.Snapshot().Version() == 1 })

	loads := f.loads.Load()
	f.notify <- 1 // not newer: no reload
	f.change(func(d *domain.Data) {})
	f.notify <- 2 // newer: reload
	eventually(t, func() bool { return svc.Snapshot().Version() == 2 })
	if got := f.loads.Load() - loads; got != 1 {
		t.Fatalf("%d loads for one new version", got)
	}
}

func TestPollCatchesUp(t *testing.T) {
	t.Parallel()
	f := newFake()
	svc := app.New(f, app.Options{Log: quiet()})
	_ = svc.Refresh(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Watch(ctx, app.WatchOptions{Poll: 10 * time.Millisecond}); close(done) }()
	defer func() { cancel(); <-done }()
	f.change(func(d *domain.Data) {})
	eventually(t, func() bool { return svc.Snapshot().Version() == 1 })
}

// A service that never loaded a snapshot (the worker, the jobs) serves no
// quotes: its writes do not load the whole price data after them.
func TestWritesWithoutSnapshotDoNotLoad(t *testing.T) {
	t.Parallel()
	f := newFake()
	svc := app.New(f, app.Options{Log: quiet()})
	res, err := svc.SetPlacementSurcharges(context.Background(), admin, demo.Surcharges())
	if err != nil || res.Version != 1 {
		t.Fatalf("write: %+v %v", res, err)
	}
	if n := f.loads.Load(); n != 0 || svc.Snapshot() != nil {
		t.Fatalf("%d loads after a write without a snapshot", n)
	}
}

func TestAdminRoles(t *testing.T) {
	t.Parallel()
	svc := app.New(newFake(), app.Options{Log: quiet()})
	in := demo.Surcharges()
	ctx := context.Background()
	user := principal.Principal{Subject: "u", Roles: []string{principal.RoleUser}}
	if _, err := svc.SetPlacementSurcharges(ctx, user, in); errs.KindOf(err) != errs.PermissionDenied {
		t.Fatalf("user: %v", err)
	}
	if _, err := svc.SetPlacementSurcharges(ctx, principal.Principal{}, in); errs.KindOf(err) != errs.Unauthenticated {
		t.Fatalf("anonymous: %v", err)
	}
	if _, err := svc.SetPlacementSurcharges(ctx, admin, in); err != nil {
		t.Fatalf("admin: %v", err)
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func benchService(b *testing.B) *app.Service {
	b.Helper()
	svc := app.New(newFake(), app.Options{Log: quiet()})
	if err := svc.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	if _, err := demo.Seed(context.Background(), svc); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Quote(context.Background(), demoRequest()); err != nil {
		b.Fatal(err)
	}
	return svc
}

// BenchmarkQuote measures the in-memory hot path: atomic snapshot load, the
// quote over the demo price lists (3 lines, 2 extra placements, USD→EUR
// conversion of every price, a percent coupon with a minimum) and a UUIDv7.
func BenchmarkQuote(b *testing.B) {
	svc, req, ctx := benchService(b), demoRequest(), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Quote(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuoteSameCurrency is the cheapest case: everything in USD, no
// conversion, no coupon.
func BenchmarkQuoteSameCurrency(b *testing.B) {
	svc, req, ctx := benchService(b), demoRequest(), context.Background()
	req.Country, req.Currency, req.CouponCode = "US", "USD", ""
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Quote(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuoteParallel is BenchmarkQuote from every core at once (quotes
// share only the atomic snapshot pointer).
func BenchmarkQuoteParallel(b *testing.B) {
	svc, req, ctx := benchService(b), demoRequest(), context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Quote(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
