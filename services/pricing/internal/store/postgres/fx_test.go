package postgres_test

import (
	"context"
	"math/big"
	"testing"

	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

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
