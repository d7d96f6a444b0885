package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

func TestShippingRatesWithDays(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	rs := []domain.ShippingRate{
		{Method: "standard", Country: "*", Currency: mustCur("USD"), FirstItem: 500, AdditionalItem: 100, MinDays: 3, MaxDays: 7},
		{Method: "express", Country: "CA", Currency: mustCur("USD"), FirstItem: 1500, AdditionalItem: 300, MinDays: 1, MaxDays: 2},
	}
	res, err := s.UpsertShippingRates(ctx, rs)
	if err != nil || res.Changed != 2 {
		t.Fatalf("upsert: %+v %v", res, err)
	}
	// Only the days change: the row counts as changed.
	rs[1].MaxDays = 3
	if res, err = s.UpsertShippingRates(ctx, rs); err != nil || res.Changed != 1 {
		t.Fatalf("upsert of new days: %+v %v", res, err)
	}
	if res, err = s.UpsertShippingRates(ctx, rs); err != nil || res.Changed != 0 || res.Version != 0 {
		t.Fatalf("identical upsert: %+v %v", res, err)
	}
	got, err := s.ListShippingRates(ctx)
	if err != nil || len(got) != 2 || got[0] != rs[1] || got[1] != rs[0] {
		t.Fatalf("list: %+v %v", got, err)
	}
	d, err := s.Load(ctx)
	if err != nil || len(d.Shipping) != 2 {
		t.Fatalf("load: %+v %v", d.Shipping, err)
	}
	if res, err = s.DeleteShippingRate(ctx, "express", "CA"); err != nil || res.Changed != 1 || res.Version == 0 {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if res, err = s.DeleteShippingRate(ctx, "express", "CA"); err != nil || res.Changed != 0 {
		t.Fatalf("second delete: %+v %v", res, err)
	}
}

func TestTaxRates(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	rs := []domain.TaxRate{
		{Country: "CA", RateBP: 500},
		{Country: "CA", Region: "QC", RateBP: 1498},
		{Country: "NL", RateBP: 2100, Included: true},
	}
	if res, err := s.UpsertTaxRates(ctx, rs); err != nil || res.Changed != 3 || res.Version == 0 {
		t.Fatalf("upsert: %+v %v", res, err)
	}
	rs[0].Included = true
	if res, err := s.UpsertTaxRates(ctx, rs); err != nil || res.Changed != 1 {
		t.Fatalf("upsert of one change: %+v %v", res, err)
	}
	got, err := s.ListTaxRates(ctx)
	if err != nil || len(got) != 3 || got[0] != rs[0] || got[1] != rs[1] || got[2] != rs[2] {
		t.Fatalf("list: %+v %v", got, err)
	}
	d, err := s.Load(ctx)
	if err != nil || len(d.Tax) != 3 {
		t.Fatalf("load: %+v %v", d.Tax, err)
	}
	if res, err := s.DeleteTaxRate(ctx, "CA", "QC"); err != nil || res.Changed != 1 {
		t.Fatalf("delete region: %+v %v", res, err)
	}
	if got, _ := s.ListTaxRates(ctx); len(got) != 2 || got[0].Region != "" || got[0].Country != "CA" {
		t.Fatalf("the country's rate must stay: %+v", got)
	}
	if res, err := s.DeleteTaxRate(ctx, "CA", "QC"); err != nil || res.Changed != 0 {
		t.Fatalf("second delete: %+v %v", res, err)
	}
}

// TestRatesThroughTheService: the service over the real store checks the
// admin role (nothing written for a user), and a write is in the next quote.
func TestRatesThroughTheService(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	svc := app.New(s, app.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := svc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	admin := principal.Principal{Subject: "root", Roles: []string{principal.RoleAdmin}}
	user := principal.Principal{Subject: "u", Roles: []string{principal.RoleUser}}
	tee := uuid.New()
	if _, err := svc.SetVariantPrices(ctx, admin, []domain.VariantPriceInput{{VariantID: tee.String(), Region: "*",
		Price: domain.MoneyInput{Set: true, Currency: "USD", Amount: 1000}}}); err != nil {
		t.Fatal(err)
	}
	money := func(a int64) domain.MoneyInput { return domain.MoneyInput{Set: true, Currency: "USD", Amount: a} }
	rates := []domain.ShippingRateInput{
		{Method: "standard", Country: "*", FirstItem: money(500), AdditionalItem: money(100), MinDays: 3, MaxDays: 7},
		{Method: "express", Country: "*", FirstItem: money(1500), AdditionalItem: money(100), MinDays: 1, MaxDays: 2},
		{Method: "express", Country: "CA", FirstItem: money(900), AdditionalItem: money(100), MinDays: 1, MaxDays: 3},
	}
	taxes := []domain.TaxRateInput{{Country: "CA", RateBP: 500}}
	if _, err := svc.SetShippingRates(ctx, user, rates); errs.KindOf(err) != errs.PermissionDenied {
		t.Fatalf("user's shipping write: %v", err)
	}
	if _, err := svc.SetTaxRates(ctx, user, taxes); errs.KindOf(err) != errs.PermissionDenied {
		t.Fatalf("user's tax write: %v", err)
	}
	if _, err := svc.DeleteShippingRate(ctx, user, "standard", "*"); errs.KindOf(err) != errs.PermissionDenied {
		t.Fatalf("user's shipping delete: %v", err)
	}
	if _, err := svc.DeleteTaxRate(ctx, user, "CA", ""); errs.KindOf(err) != errs.PermissionDenied {
		t.Fatalf("user's tax delete: %v", err)
	}
	if rs, _ := s.ListShippingRates(ctx); len(rs) != 0 {
		t.Fatalf("a user's write was stored: %+v", rs)
	}
	if rs, _ := s.ListTaxRates(ctx); len(rs) != 0 {
		t.Fatalf("a user's write was stored: %+v", rs)
	}

	if _, err := svc.SetShippingRates(ctx, admin, rates); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetTaxRates(ctx, admin, taxes); err != nil {
		t.Fatal(err)
	}
	req := domain.QuoteRequest{Items: []domain.QuoteItem{{VariantID: tee.String(), Quantity: 1}}, Country: "CA", Currency: "USD"}
	q, err := svc.Quote(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if q.ShippingMethod != "standard" || len(q.ShippingOptions) != 2 || q.ShippingOptions[1].Price != 900 ||
		q.Tax != 75 || q.Total != 1575 {
		t.Fatalf("quote after the writes: %+v", q)
	}
	if got, err := svc.ListShippingRates(ctx, "CA"); err != nil || len(got) != 2 || got[1].Country != "CA" {
		t.Fatalf("rates for CA: %+v %v", got, err)
	}

	// Deletes reach the next quote too; a second delete is NOT_FOUND.
	if _, err := svc.DeleteShippingRate(ctx, admin, "standard", "*"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteShippingRate(ctx, admin, "standard", "*"); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := svc.DeleteTaxRate(ctx, admin, "CA", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteTaxRate(ctx, admin, "CA", ""); errs.KindOf(err) != errs.NotFound {
		t.Fatalf("second tax delete: %v", err)
	}
	if q, err = svc.Quote(ctx, req); err != nil {
		t.Fatal(err)
	}
	if q.ShippingMethod != "express" || q.Shipping != 900 || len(q.ShippingOptions) != 1 || q.Tax != 0 || q.Total != 1900 {
		t.Fatalf("quote after the deletes: %+v", q)
	}
	req.ShippingMethod = "standard"
	if _, err := svc.Quote(ctx, req); errs.KindOf(err) != errs.Invalid {
		t.Fatalf("deleted method: %v", err)
	}
}
