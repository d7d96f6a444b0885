package server

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/platform/postgres/pgtest"
	"github.com/printfleet/printfleet/services/pricing/internal/demo"
	store "github.com/printfleet/printfleet/services/pricing/internal/store/postgres"
)

func TestSeedDemoIsIdempotent(t *testing.T) {
	t.Parallel()
	pool, url := pgtest.NewDB(t, store.Migrations)
	in, _ := start(t, url, false, 0)
	first, err := demo.Seed(context.Background(), in.App)
	if err != nil {
		t.Fatal(err)
	}
	if first.Prices != 100+15 || first.Surcharges != 6 || first.Shipping != 6 || first.Fx != 5 || first.CouponsCreated != 3 || first.Placements != 34 {
		t.Fatalf("first seed: %+v", first)
	}
	state := dbState(t, pool)
	second, err := demo.Seed(context.Background(), in.App)
	if err != nil {
		t.Fatal(err)
	}
	if second != (demo.Summary{}) {
		t.Fatalf("second seed changed %+v", second)
	}
	if after := dbState(t, pool); after != state {
		t.Fatalf("second seed wrote:\nbefore %s\nafter  %s", state, after)
	}
	var out bytes.Buffer
	if err := PrintCoupons(context.Background(), in.App, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"WELCOME10", "SUMMER5", "FIRST100", "unlimited", "2024-09-01T00:00:00Z"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("coupon table lacks %q:\n%s", want, out.String())
		}
	}
}
