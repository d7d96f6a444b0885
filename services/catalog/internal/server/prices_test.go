package server

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// pricesEvents are the VariantPricesChanged rows of the outbox, oldest first.
func (e *env) pricesEvents() []*eventsv1.VariantPricesChanged {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE type = $1 ORDER BY seq`, eventsv1.KeyVariantPricesChanged)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []*eventsv1.VariantPricesChanged
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			e.t.Fatal(err)
		}
		var ev eventsv1.VariantPricesChanged
		if err := proto.Unmarshal(b, &ev); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, &ev)
	}
	return out
}

// The catalog announces its variants' prices when a product is created and
// when a variant's price changes or a variant is added, in the transaction
// of the change; other updates announce nothing to pricing.
func TestVariantPricesAreAnnounced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	ctx := e.admin()
	p, err := e.client.CreateProduct(ctx, &catalogv1.CreateProductRequest{Product: newProduct(3, 5)})
	if err != nil {
		t.Fatal(err)
	}
	evs := e.pricesEvents()
	if len(evs) != 1 || evs[0].GetProductId() != p.GetId() || evs[0].GetVersion() != 1 || len(evs[0].GetVariants()) != 2 {
		t.Fatalf("after create: %v", evs)
	}
	for i, v := range evs[0].GetVariants() {
		pv := p.GetVariants()[i]
		if v.GetVariantId() != pv.GetId() || v.GetSku() != pv.GetSku() || !proto.Equal(v.GetPrice(), pv.GetPrice()) {
			t.Errorf("variant %d: %v, product has %v", i, v, pv)
		}
	}

	// A title change: no announcement.
	if _, err := e.client.UpdateProduct(ctx, &catalogv1.UpdateProductRequest{ProductId: p.GetId(),
		Product: &catalogv1.Product{Title: "Renamed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}); err != nil {
		t.Fatal(err)
	}
	// The same variants, prices unchanged: no announcement either.
	if _, err := e.client.UpdateProduct(ctx, &catalogv1.UpdateProductRequest{ProductId: p.GetId(),
		Product: &catalogv1.Product{Title: "x", Variants: p.GetVariants()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"variants"}}}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.pricesEvents()); n != 1 {
		t.Fatalf("%d announcements after updates that change no price, want 1", n)
	}

	// A new price for M: announced at the new version.
	vs := p.GetVariants()
	vs[1].Price = usd(1599)
	up, err := e.client.UpdateProduct(ctx, &catalogv1.UpdateProductRequest{ProductId: p.GetId(),
		Product: &catalogv1.Product{Title: "x", Variants: vs}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"variants"}}})
	if err != nil {
		t.Fatal(err)
	}
	evs = e.pricesEvents()
	if len(evs) != 2 || evs[1].GetVersion() != up.GetVersion() || evs[1].GetVariants()[1].GetPrice().GetAmountMinor() != 1599 {
		t.Fatalf("after the price change (version %d): %v", up.GetVersion(), evs)
	}
}
