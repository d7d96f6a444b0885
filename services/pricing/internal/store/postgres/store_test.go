package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

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
