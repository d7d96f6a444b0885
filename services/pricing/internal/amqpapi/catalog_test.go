package amqpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/printfleet/printfleet/platform/amqp"
	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

type fakeCatalogPrices struct {
	err    error
	caller principal.Principal
	in     domain.CatalogPricesInput
}

func (f *fakeCatalogPrices) ApplyCatalogPrices(_ context.Context, caller principal.Principal, in domain.CatalogPricesInput) (app.WriteResult, error) {
	f.caller, f.in = caller, in
	return app.WriteResult{}, f.err
}

func TestCatalogHandler(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ev := &eventsv1.VariantPricesChanged{ProductId: "p-1", Version: 3, Variants: []*eventsv1.VariantPrice{
		{VariantId: "v-1", Sku: "S", Price: &typesv1.Money{Currency: "USD", AmountMinor: 1299}}, {VariantId: "v-2"}}}

	f := &fakeCatalogPrices{}
	if err := CatalogHandler(f, log)(context.Background(), delivery(t, eventsv1.KeyVariantPricesChanged, ev)); err != nil {
		t.Fatal(err)
	}
	if f.caller.Subject != Consumer.Subject || f.in.ProductID != "p-1" || f.in.Version != 3 || len(f.in.Variants) != 2 ||
		f.in.Variants[0] != (domain.CatalogVariantInput{VariantID: "v-1", Price: domain.MoneyInput{Set: true, Currency: "USD", Amount: 1299}}) ||
		f.in.Variants[1].Price.Set {
		t.Fatalf("applied %+v as %v", f.in, f.caller)
	}

	for _, c := range []struct {
		name      string
		err       error
		d         amqp.Delivery
		permanent bool
	}{
		{"invalid", errs.Field("variants[0].variant_id", "bad"), delivery(t, eventsv1.KeyVariantPricesChanged, ev), true},
		{"store down", errors.New("connection refused"), delivery(t, eventsv1.KeyVariantPricesChanged, ev), false},
		{"wrong type", nil, delivery(t, eventsv1.KeyProductChanged, ev), true},
		{"undecodable", nil, amqp.Delivery{ID: "m-2", Type: eventsv1.KeyVariantPricesChanged, Body: []byte{0xff, 0xff}}, true},
	} {
		err := CatalogHandler(&fakeCatalogPrices{err: c.err}, log)(context.Background(), c.d)
		if err == nil || amqp.IsPermanent(err) != c.permanent {
			t.Errorf("%s: %v (permanent %v, want %v)", c.name, err, amqp.IsPermanent(err), c.permanent)
		}
	}
}
