package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/services/catalog/internal/app"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
	"github.com/printfleet/printfleet/services/catalog/internal/testenv"
)

// A listing round-trips (no design: NULLs read back as empty ids), is
// unique per store by external variant id, by SKU and by a product named
// alone, is matched by variant id before SKU before product, and is changed
// or deleted only through its own store.
func TestListingsRoundTripUniquePerStoreAndMatchInOrder(t *testing.T) {
	t.Parallel()
	_, s := testenv.DB(t)
	ctx := context.Background()
	p := testenv.Product(3)
	insert(t, s, &p)
	d := design("alice")
	d.Status = domain.DesignReady
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertDesign(ctx, d) })
	st, other := shop("alice", "a-1"), shop("bob", "b-1")
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, st, []byte{1}) })
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertStore(ctx, other, []byte{1}) })

	now := time.Now().UTC().Truncate(time.Microsecond)
	mk := func(storeID, prod, variant, sku string) domain.Listing {
		return domain.Listing{ID: testenv.ID(), StoreID: storeID, ExternalProductID: prod, ExternalVariantID: variant, SKU: sku,
			VariantID: p.Variants[0].ID, CreatedAt: now, UpdatedAt: now}
	}
	byVariant := mk(st.ID, "prod-1", "var-1", "")
	bySKU := mk(st.ID, "prod-1", "", "TEE-RED-M")
	byProduct := mk(st.ID, "prod-1", "", "")
	byProduct.DesignID, byProduct.PlacementID = d.ID, p.Placements[0].ID
	for _, l := range []domain.Listing{byVariant, bySKU, byProduct} {
		inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.InsertListing(ctx, l) })
	}
	got, err := s.Listing(ctx, st.ID, byProduct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(now) {
		t.Fatalf("created_at %v, want %v", got.CreatedAt, now)
	}
	got.CreatedAt, got.UpdatedAt = now, now
	if got != byProduct {
		t.Fatalf("listing = %+v, want %+v", got, byProduct)
	}
	if got, err := s.Listing(ctx, st.ID, byVariant.ID); err != nil || got.DesignID != "" || got.PlacementID != "" {
		t.Fatalf("listing without design = %+v, %v", got, err)
	}
	for what, l := range map[string]domain.Listing{
		"same variant id":    mk(st.ID, "prod-2", "var-1", ""),
		"same sku":           mk(st.ID, "", "var-9", "TEE-RED-M"),
		"same product alone": mk(st.ID, "prod-1", "", ""),
	} {
		wantKind(t, what, txErr(s, func(ctx context.Context, tx app.Tx) error { return tx.InsertListing(ctx, l) }), errs.AlreadyExists)
	}
	// Another store may map the same external ids.
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		return tx.InsertListing(ctx, mk(other.ID, "prod-1", "var-1", "TEE-RED-M"))
	})

	for _, c := range []struct {
		line domain.ExternalLine
		want string
	}{
		{domain.ExternalLine{ProductID: "prod-1", VariantID: "var-1", SKU: "TEE-RED-M"}, byVariant.ID},
		{domain.ExternalLine{ProductID: "prod-1", VariantID: "var-unknown", SKU: "TEE-RED-M"}, bySKU.ID},
		{domain.ExternalLine{ProductID: "prod-1", VariantID: "var-unknown", SKU: "unknown"}, byProduct.ID},
		{domain.ExternalLine{SKU: "TEE-RED-M"}, bySKU.ID},
	} {
		got, err := s.MatchListing(ctx, st.ID, c.line)
		if err != nil || got.ID != c.want {
			t.Fatalf("match %+v = %s, %v; want %s", c.line, got.ID, err, c.want)
		}
	}
	for _, line := range []domain.ExternalLine{{ProductID: "prod-2"}, {VariantID: "var-2"}, {}} {
		_, err := s.MatchListing(ctx, st.ID, line)
		wantKind(t, "match of an unmapped line", err, errs.NotFound)
	}

	// Pages by id.
	first, err := s.Listings(ctx, st.ID, "", 2)
	if err != nil || len(first) != 2 {
		t.Fatalf("first page = %v, %v", first, err)
	}
	rest, err := s.Listings(ctx, st.ID, first[1].ID, 2)
	if err != nil || len(rest) != 1 {
		t.Fatalf("second page = %v, %v", rest, err)
	}

	// Through another store, a listing is not found.
	moved := byVariant
	moved.StoreID = other.ID
	wantKind(t, "update through another store", txErr(s, func(ctx context.Context, tx app.Tx) error {
		_, err := tx.UpdateListing(ctx, moved)
		return err
	}), errs.NotFound)
	wantKind(t, "delete through another store", txErr(s, func(ctx context.Context, tx app.Tx) error {
		return tx.DeleteListing(ctx, other.ID, byVariant.ID)
	}), errs.NotFound)
	_, err = s.Listing(ctx, other.ID, byVariant.ID)
	wantKind(t, "read through another store", err, errs.NotFound)

	upd := byVariant
	upd.ExternalVariantID, upd.SKU = "var-2", ""
	wantKind(t, "update onto a taken sku", txErr(s, func(ctx context.Context, tx app.Tx) error {
		u := upd
		u.SKU = "TEE-RED-M"
		_, err := tx.UpdateListing(ctx, u)
		return err
	}), errs.AlreadyExists)
	var out domain.Listing
	inTx(t, s, func(ctx context.Context, tx app.Tx) error {
		var err error
		out, err = tx.UpdateListing(ctx, upd)
		return err
	})
	if out.ExternalVariantID != "var-2" || !out.UpdatedAt.After(out.CreatedAt) {
		t.Fatalf("updated = %+v", out)
	}
	inTx(t, s, func(ctx context.Context, tx app.Tx) error { return tx.DeleteListing(ctx, st.ID, byVariant.ID) })
	_, err = s.Listing(ctx, st.ID, byVariant.ID)
	wantKind(t, "read after delete", err, errs.NotFound)
	wantKind(t, "delete twice", txErr(s, func(ctx context.Context, tx app.Tx) error {
		return tx.DeleteListing(ctx, st.ID, byVariant.ID)
	}), errs.NotFound)
}
